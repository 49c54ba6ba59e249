"""A sheet as plain data: what the spreadsheet adapter hands the domain."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    Values are ``str``, ``int``/``float``, ``bool``, ``date``/``datetime`` or ``None``.
    Merged ranges are already filled in: every cell of a merge holds the top-left value.
    """

    source: str
    sheet: str
    rows: list[list[object]]
    #: Number formats of date cells only, by (row, column), zero-based.
    date_formats: dict[tuple[int, int], str] = field(default_factory=dict)
    #: Merged ranges as ((first_row, first_col), (last_row, last_col)), zero-based, inclusive.
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)

    @staticmethod
    def cell_name(row: int, col: int) -> str:
        """The Excel name of a zero-based cell: (2, 4) -> "E3"."""
        return f"{column_letter(col)}{row + 1}"
