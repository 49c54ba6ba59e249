"""A sheet as plain data: what the spreadsheet adapter hands the domain."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The most characters one cell may hold: Excel's own limit, enforced on every file Chaser reads.
MAX_CELL_CHARS = 32_767

#: The values Excel shows for a formula that failed, as they also appear in CSV exports.
EXCEL_ERRORS = frozenset(
    {
        "#N/A",
        "#REF!",
        "#DIV/0!",
        "#VALUE!",
        "#NAME?",
        "#NUM!",
        "#NULL!",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#GETTING_DATA",
    }
)

#: Characters that cannot be stored as text (PostgreSQL refuses NUL) or written back to a
#: workbook (XML forbids the other C0 controls), and halves of UTF-16 pairs that no UTF-8 file
#: can hold. Tabs and line breaks are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def strip_control_characters(text: str) -> str:
    """``text`` without the characters no store or workbook can keep (vertical tabs and form
    feeds, which Word and some exports use as line breaks, become line breaks)."""
    return _CONTROL.sub(lambda m: "\n" if m.group(0) in "\x0b\x0c" else "", text)


def escape_control_characters(text: str) -> str:
    r"""``text`` with each of those characters written as an escape (``\x00``), so the raw cell
    still shows what was there."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def column_letter(col: int) -> str:
    """Excel's letter for a zero-based column: 0 -> "A", 27 -> "AB"."""
    letters = ""
    n = col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass
class Grid:
    """One sheet as a rectangular grid of values (row 0 is the sheet's first row).

    Values are ``str``, ``int``/``float``, ``bool``, ``date``/``datetime``, ``time`` (a cell
    formatted as a time of day), ``timedelta`` (a duration, ``[h]:mm``) or ``None``.
    Merged ranges are already filled in: every cell of a merge holds the top-left value.
    Trailing empty rows and columns are trimmed.
    """

    source: str
    sheet: str
    rows: list[list[object]]
    #: Number formats of date cells only, by (row, column), zero-based.
    date_formats: dict[tuple[int, int], str] = field(default_factory=dict)
    #: Merged ranges as ((first_row, first_col), (last_row, last_col)), zero-based, inclusive.
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    #: Cells holding an Excel error ("#N/A", "#REF!"…), by (row, column); ``None`` in ``rows``.
    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    #: Cells holding a formula with no saved result ("SUM(A1:A3)"), by (row, column): the file
    #: was written by a program that does not calculate. ``None`` in ``rows``.
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)

    @staticmethod
    def cell_name(row: int, col: int) -> str:
        """The Excel name of a zero-based cell: (2, 4) -> "E3"."""
        return f"{column_letter(col)}{row + 1}"
