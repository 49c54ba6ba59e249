"""Reading a plan out of a sheet, through a council's mapping (pure: no store, no files).

:func:`read_plan` turns a :class:`~workflows.plan.sheet.Grid` into a :class:`ParsedPlan`: areas,
actions with resolved leads, dates kept at their precision, milestones for multi-part dates, and
a validation report. Problems that make the file unusable as a plan (no header row, a mapped column
missing, no actions) raise :class:`PlanReadError`; everything else is a warning naming the sheet,
row, column, value and what was expected, and the action is still imported with what could be read.

Warnings come once per cause, not once per row: forty actions whose lead is the same unknown
``Virtual School lead`` make one warning listing their rows. Areas are read from the mapping's
``area`` column, from heading rows above their actions (``1. To identify need early…``), or from
the number the refs start with; a plan none of whose actions has an area says so once, with the
fix, because an action in no area is in no meeting's scope and nobody would be chased.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from workflows.plan.dates import FuzzyDate, ParsedDate, parse_date_cell, show_duration
from workflows.plan.leads import DEFAULT_NON_PERSON_PATTERNS, DirectoryEntry, LeadResolver
from workflows.plan.mapping import ColumnRef, Mapping, ScaleValue, normalise_header
from workflows.plan.sheet import (
    Grid,
    column_letter,
    escape_control_characters,
    has_control_characters,
    strip_control_characters,
)
from workflows.store.models import Action, StatusMeaning

#: The longest ref the store keeps (``Action.ref``); a longer one is an error, on every database.
MAX_REF_CHARS: int = Action.__table__.columns["ref"].type.length  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Problem:
    """One thing the import could not understand, located precisely.

    A warning that several rows share (the same unknown lead, the same unreadable date) is one
    problem: ``rows`` and ``refs`` list them all, ``row`` is the first, and ``ref`` is set only
    when one action is concerned.
    """

    kind: str
    message: str
    sheet: str = ""
    row: int | None = None  # 1-based, as Excel shows it
    column: str = ""  # letter, as Excel shows it
    header: str = ""
    value: str = ""
    expected: str = ""
    ref: str = ""
    rows: tuple[int, ...] = ()
    refs: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def place(self) -> str:
        """Where it is, as a person says it ("Row 12, column C"), to show before the message;
        "" when it concerns several rows or its message begins with its row already."""
        if not self.row or len(self.rows) > 1 or self._names_its_row:
            return ""
        return f"Row {self.row}, column {self.column}" if self.column else f"Row {self.row}"

    @property
    def _names_its_row(self) -> bool:
        return self.message.lower().startswith((f"row {self.row} ", f"row {self.row},"))

    def __str__(self) -> str:
        if self.row and len(self.rows) > 1:
            where = f"{self.sheet}, column {self.column}" if self.column else self.sheet
        elif self.row and not self._names_its_row:
            where = (
                f"{self.sheet}!{self.column}{self.row}"
                if self.column
                else (f"{self.sheet}, row {self.row}" if self.sheet else f"row {self.row}")
            )
        else:
            where = self.sheet
        return f"{where}: {self.message}" if where else self.message


class PlanReadError(Exception):
    """The file is not a plan in this mapping's layout; nothing may be imported."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class AreaRow:
    number: int
    kind: str
    label: str
    title: str
    sro_raw: str
    sro_codes: tuple[str, ...]


@dataclass
class MilestoneRow:
    position: int
    label: str
    start: FuzzyDate | None
    due: FuzzyDate
    raw: str


@dataclass
class ActionRow:
    row: int  # 1-based sheet row
    position: int  # order among actions in the sheet, from 1
    ref: str
    ref_generated: bool
    area_number: int | None
    title: str
    lead_raw: str
    people: tuple[str, ...]
    accountable: str | None
    contributors: tuple[str, ...]
    reporting_group: str
    start: FuzzyDate | None
    due: ParsedDate
    forecast: FuzzyDate | None
    status: ScaleValue | None
    outcomes: str
    evidence: str
    progress: str
    raw_cells: dict[str, Any]
    milestones: list[MilestoneRow] = field(default_factory=list)

    @property
    def due_date(self) -> FuzzyDate | None:
        return self.due.date


@dataclass
class ParsedPlan:
    source: str
    sheet: str
    header_row: int  # 1-based
    areas: dict[int, AreaRow]
    actions: list[ActionRow]
    warnings: list[Problem]


@dataclass(frozen=True)
class AreaHeading:
    """What an area heading says: ``3. To identify need early`` is number 3 with that title."""

    number: int | None
    kind: str
    title: str
    label: str


_TAG_BREAK = re.compile(r"(?i)<\s*(?:br|/p|p|/li|li|ul|/ul|ol|/ol|div|/div)\b[^>]*>")
_TAG_ANY = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")
_NEEDS_CLEANING = re.compile(
    r"[<&\r\n\t\u00a0\u2007\u202f\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]|  "
)
_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f]+")
_MANY_BREAKS = re.compile(r"\n{3,}")
_WORDS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
_MORE_WORDS = "fifteen sixteen seventeen eighteen nineteen twenty"
_NUMBER_WORDS = {word: i for i, word in enumerate(f"{_WORDS} {_MORE_WORDS}".split(), 1)}
_AREA_KINDS = (
    r"priority\s+action\s+area|improvement\s+area|strategic\s+priority|priority\s+area"
    r"|key\s+priority|improvement\s+pillar|priority|area\s+for\s+improvement|area|objective"
    r"|theme|work\s*stream|pillar|strand"
)
_AREA = re.compile(
    rf"(?i)\b(?P<kind>{_AREA_KINDS})\s*(?:no\.?\s*)?"
    rf"(?P<number>\d{{1,3}}|[IVXLC]{{1,7}}|{'|'.join(_NUMBER_WORDS)})\b"
)
#: "3. To identify…", "3) …", "3: …", "3 – …", "IV. …" (not "1.1 …", which is a ref).
_LEADING_NUMBER = re.compile(
    r"^(?P<number>\d{1,3}|[IVX]{1,5})\s*(?:[.):](?!\d)|\s[-–—](?=\s))\s*(?P<title>.*)$", re.S
)
_BARE_NUMBER = re.compile(r"^(?:no\.?\s*)?(\d{1,3})\.?$", re.I)
_ROMAN_NUMERAL = re.compile(
    r"(?=[MDCLXVI])M{0,3}(?:C[MD]|D?C{0,3})(?:X[CL]|L?X{0,3})(?:I[XV]|V?I{0,3})"
)
_TITLE_TRIM = " \t\n:;.,-–—"
_REF_AREA = re.compile(
    r"^\s*(\d{1,3})\s*[.)]"
)  # an area number has at most 3 digits, as in headings
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def clean_text(value: object) -> str:
    """A cell as readable text: HTML remnants become line breaks, spacing is tidied."""
    if value is None:
        return ""
    if isinstance(value, str):
        s = value
    elif isinstance(value, float) and value.is_integer():
        s = str(int(value))
    elif isinstance(value, time):
        s = value.strftime("%H:%M:%S" if value.second else "%H:%M")
    elif isinstance(value, timedelta):
        s = show_duration(value)
    else:
        s = str(value)
    # Most cells need nothing: ``isprintable`` is False for every character _NEEDS_CLEANING
    # looks for but "<", "&" and double spaces, and checking in C is twice as fast as the search
    # (a few other characters, such as zero-width spaces, take the long way to the same text).
    if s.isprintable() and "<" not in s and "&" not in s and "  " not in s:
        return s.strip()
    if not _NEEDS_CLEANING.search(s):
        return s.strip()
    s = strip_control_characters(s)
    if "<" in s:
        s = _TAG_BREAK.sub("\n", s)
        s = _TAG_ANY.sub("", s)
    if "&" in s:
        s = strip_control_characters(html.unescape(s))
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in s.split("\n")]
    return _MANY_BREAKS.sub("\n\n", "\n".join(lines)).strip()


def raw_value(value: object) -> Any:
    """A cell as JSON can keep it, exactly as read (characters no store can keep, such as NUL,
    are written as escapes: ``\\x00``)."""
    if isinstance(value, str):
        return escape_control_characters(value) if has_control_characters(value) else value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return show_duration(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def roman_to_int(text: str) -> int:
    total, prev = 0, 0
    for ch in reversed(text.upper()):
        val = _ROMAN[ch]
        total = total - val if val < prev else total + val
        prev = max(prev, val)
    return total


def _area_number(token: str) -> int | None:
    """3, "three" or (written in capitals) "III"; None for anything else."""
    if token.isdigit():
        return int(token) or None
    if token.lower() in _NUMBER_WORDS:
        return _NUMBER_WORDS[token.lower()]
    if token.isupper() and _ROMAN_NUMERAL.fullmatch(token):
        return roman_to_int(token)
    return None


def read_area_heading(value: object) -> AreaHeading | None:
    """An area heading as councils write it, or None when the text has no area number.

    ``PRIORITY ACTION AREA I``, ``Improvement Area 6``, ``Priority 3: Understand the needs…``,
    ``3. To identify need early…``, ``Area three``, ``Working together - priority 1`` and a number
    alone (``3``, as in a column of its own) all give their number; the words after (or before)
    the number are the title.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _heading_of_text(value)
    return _heading_of_label(clean_text(value))


@functools.lru_cache(maxsize=4096)
def _heading_of_text(value: str) -> AreaHeading | None:
    """A plan repeats its area labels on every action's row: each is read once."""
    return _heading_of_label(clean_text(value))


def _heading_of_label(label: str) -> AreaHeading | None:
    if not label:
        return None
    bare = _BARE_NUMBER.fullmatch(label)
    if bare:
        return AreaHeading(int(bare.group(1)), "Area", "", label) if int(bare.group(1)) else None
    number: int | None
    leading = _LEADING_NUMBER.match(label)
    if leading:
        number = _area_number(leading["number"])
        if number is not None:
            return AreaHeading(number, "Area", leading["title"].strip(_TITLE_TRIM), label)
    for m in _AREA.finditer(label):
        number = _area_number(m["number"])
        if number is None:
            continue
        kind = re.sub(r"\s+", " ", m["kind"]).capitalize()
        after = label[m.end() :].strip(_TITLE_TRIM)
        before = label[: m.start()].strip(_TITLE_TRIM)
        return AreaHeading(number, kind, after or before, label)
    return None


def parse_area(label: str) -> tuple[str, int] | None:
    """("PRIORITY ACTION AREA I") -> ("Priority action area", 1)."""
    heading = read_area_heading(label)
    if heading is None or heading.number is None:
        return None
    return heading.kind, heading.number


def _area_title(value: str, number: int | None) -> str:
    """An ``area_title`` cell without a heading prefix that repeats the area's number."""
    heading = read_area_heading(value)
    if heading is not None and heading.number == number and heading.title:
        return heading.title
    return value


def rows_text(rows: Iterable[int]) -> str:
    """``row 5`` or ``rows 31–37, 40``: sheet rows as a person reads them."""
    ordered = sorted(set(rows))
    if not ordered:
        return ""
    # A warning can name every row of a large plan: each run is closed once, not rebuilt per row.
    runs: list[tuple[int, int]] = []
    first = last = ordered[0]
    for row in ordered[1:]:
        if row != last + 1:
            runs.append((first, last))
            first = row
        last = row
    runs.append((first, last))
    shown = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in runs)
    return f"row {shown}" if len(ordered) == 1 else f"rows {shown}"


def listed(items: Iterable[str], limit: int = 5) -> str:
    """``1.2, 1.5, P0-01 and 4 more``."""
    unique = list(dict.fromkeys(i for i in items if i))
    shown = ", ".join(unique[:limit])
    return f"{shown} and {len(unique) - limit} more" if len(unique) > limit else shown


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _ref_text(value: object) -> tuple[str, bool]:
    """The ref as displayed, and whether it was stored as a number (1.10 would read as 1.1)."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return str(value), True
    if isinstance(value, int | float):
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
        return text, True
    text = clean_text(value).rstrip(".").strip()
    return text, False


def _find_header(grid: Grid, mapping: Mapping) -> int:
    wanted = [normalise_header(h) for h in mapping.header.contains]
    limit = min(mapping.header.search_rows, len(grid.rows))
    for r in range(limit):
        present = {normalise_header(v) for v in grid.rows[r] if v is not None}
        if all(w in present for w in wanted):
            return r
    quoted = ", ".join(repr(h) for h in mapping.header.contains)
    raise PlanReadError(
        [
            Problem(
                kind="no_header_row",
                sheet=grid.sheet,
                message=(
                    f"no row in the first {limit} rows of sheet {grid.sheet!r} holds the headers "
                    f"{quoted}; this file is not in the {mapping.name!r} layout: pass "
                    "--mapping for its layout, or fix `header.contains` in the mapping"
                ),
                expected=quoted,
            )
        ]
    )


def _letter_index(letter: str) -> int:
    n = 0
    for ch in letter.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _resolve_columns(grid: Grid, mapping: Mapping, header_row: int) -> dict[str, int]:
    header = [normalise_header(v) for v in grid.rows[header_row]]
    found: dict[str, int] = {}
    problems: list[Problem] = []
    for name, ref in mapping.columns.items():
        index = _column_index(ref, header)
        if index is None:
            shown = ", ".join(repr(clean_text(v)) for v in grid.rows[header_row] if v is not None)
            problems.append(
                Problem(
                    kind="missing_column",
                    sheet=grid.sheet,
                    row=header_row + 1,
                    message=(
                        f"column {' or '.join(repr(h) for h in ref.headers) or ref.letter} "
                        f"(field `{name}`) is not in the header row {header_row + 1}; the row has "
                        f"{shown}; fix columns.{name} in the mapping or pass --mapping for this "
                        "layout"
                    ),
                    expected=", ".join(ref.headers),
                )
            )
        else:
            found[name] = index
    if problems:
        raise PlanReadError(problems)
    return found


def _column_index(ref: ColumnRef, header: list[str]) -> int | None:
    if ref.letter:
        index = _letter_index(ref.letter)
        return index if index < len(header) else None
    for h in ref.headers:
        key = normalise_header(h)
        if key in header:
            return header.index(key)
    return None


def read_plan(
    grid: Grid, mapping: Mapping, directory: list[DirectoryEntry] | tuple[DirectoryEntry, ...]
) -> ParsedPlan:
    """Read every action of ``grid`` as ``mapping`` lays it out; leads resolve in ``directory``."""
    original = grid.rows
    grid, controls = _without_control_characters(grid)
    if not any(v is not None for row in grid.rows for v in row):
        raise PlanReadError(
            [
                Problem(
                    kind="empty",
                    sheet=grid.sheet,
                    message=f"sheet {grid.sheet!r} is empty; check --sheet or the file",
                )
            ]
        )
    header_row = _find_header(grid, mapping)
    cols = _resolve_columns(grid, mapping, header_row)
    headers = {
        name: clean_text(grid.rows[header_row][i]) or column_letter(i) for name, i in cols.items()
    }
    all_headers = [
        (i, clean_text(v) or column_letter(i)) for i, v in enumerate(grid.rows[header_row])
    ]
    first_column = next((i for i, v in enumerate(grid.rows[header_row]) if not _blank(v)), 0)
    heading_rows = mapping.area_headings == "rows" or "area" not in cols
    # A lone cell in a column that continues the action above (a second line of its lead,
    # evidence or progress: "2) with the Head of Education") is a heading found by itself only
    # if it names its kind ("Priority 2", "Area two").
    continuing = (
        {i for name, i in cols.items() if name not in ("title", "ref", "area_title")}
        if mapping.area_headings == "auto"
        else set()
    )
    reader = _RowReader(
        grid,
        mapping,
        cols,
        headers,
        LeadResolver(
            directory,
            non_person_patterns=(*DEFAULT_NON_PERSON_PATTERNS, *(mapping.leads.not_people or ())),
        ),
    )
    column_headers = dict(all_headers)
    # Cells the reader could not give a value (an Excel error, a formula never calculated) keep
    # what they held in the raw cells.
    shown: dict[int, list[tuple[str, str]]] = {}
    for (r, c), said in [*grid.errors.items(), *grid.formulas.items()]:
        if c in column_headers:
            shown.setdefault(r, []).append((column_headers[c], said))
    previous: dict[str, object] = {}
    for r in range(header_row + 1, len(grid.rows)):
        cells = grid.rows[r]
        cleaned = cells is not original[r]
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
            continue
        if heading_rows:
            found = _heading_text(cells, first_column)
            lone = found is not None and found[1] == 1 and found[0] in continuing
            if found is not None and reader.heading(r, found[2], named_only=lone):
                continue
        values = {name: cells[i] if i < len(cells) else None for name, i in cols.items()}
        raw = {
            h: v if v.__class__ is str else raw_value(v)
            for i, h in all_headers
            if i < len(cells) and (v := cells[i]) is not None
        }
        if cleaned:
            for i, h in all_headers:
                if (r, i) in controls:
                    raw[h] = escape_control_characters(controls[(r, i)])
        for h, said in shown.get(r, ()):
            raw.setdefault(h, said)
        for name in mapping.fill_down:
            if _blank(values.get(name)):
                values[name] = previous.get(name)
        for name in mapping.fill_down:
            previous[name] = values.get(name)
        reader.add_row(r, values, raw)
    reader.report_cells(header_row, column_headers, controls)
    return reader.finish(header_row)


def _without_control_characters(grid: Grid) -> tuple[Grid, dict[tuple[int, int], str]]:
    """``grid`` with the characters no store can keep (NUL, other control characters) taken out
    of its text, and the cells that held them, as they were."""
    found: dict[tuple[int, int], str] = {}
    rows = grid.rows
    copied = False
    if not has_control_characters(
        "".join(v for row in rows for v in row if isinstance(v, str))
    ) and not has_control_characters(grid.sheet):
        return grid, found  # the usual case, found in one pass over the sheet's text
    for r, row in enumerate(grid.rows):
        if not has_control_characters("".join(v for v in row if isinstance(v, str))):
            continue
        for c, v in enumerate(row):
            if isinstance(v, str) and has_control_characters(v):
                if not copied:
                    rows, copied = list(rows), True
                if rows[r] is grid.rows[r]:
                    rows[r] = list(row)
                found[(r, c)] = v
                rows[r][c] = strip_control_characters(v) or None
    sheet = strip_control_characters(grid.sheet)
    if not found and sheet == grid.sheet:
        return grid, found
    return dataclasses.replace(grid, rows=rows, sheet=sheet), found


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _heading_text(cells: list[object], first_column: int) -> tuple[int, int, str] | None:
    """A row holding one thing only, starting in the table's first column: one cell, or one
    value merged across the row (as area headings are written above their actions). Returns its
    column, how many cells hold it, and its text."""
    filled = [(i, v) for i, v in enumerate(cells) if not _blank(v)]
    if not filled or filled[0][0] > first_column:
        return None
    texts = {clean_text(v) for _, v in filled}
    return (filled[0][0], len(filled), texts.pop()) if len(texts) == 1 else None


@dataclass
class _Heading:
    """The area heading row the actions below it belong to."""

    row: int  # 0-based
    heading: AreaHeading


@dataclass(frozen=True)
class _Said:
    """What a warning about one unresolvable lead (or SRO) fragment says, whatever the row:
    worked out once per fragment, as a plan names the same unknown lead on many rows."""

    kind: str
    cause: str
    summary: str
    expected: str
    before: str  # the message up to the action's ref
    after: str  # and after it
    of: str  # "always": " of action REF" even without a ref; "if_ref": only with one; "": never

    def message(self, ref: str) -> str:
        if self.of == "always" or (self.of == "if_ref" and ref):
            return f"{self.before} of action {ref}{self.after}"
        return self.before + self.after


@dataclass(slots=True)
class _Warning:
    """One warning as a row raised it; rows sharing a ``cause`` become one :class:`Problem`,
    made only then (a messy plan raises tens of thousands: one unknown lead on every row)."""

    kind: str
    message: str
    sheet: str
    row: int  # 1-based
    column: str
    header: str
    value: str
    expected: str
    ref: str
    cause: str | None
    summary: str

    def problem(self, rows: tuple[int, ...] = (), refs: tuple[str, ...] = ()) -> Problem:
        return Problem(
            kind=self.kind,
            message=self.message,
            sheet=self.sheet,
            row=self.row,
            column=self.column,
            header=self.header,
            value=self.value,
            expected=self.expected,
            ref=self.ref,
            rows=rows,
            refs=refs,
        )


class _RowReader:
    """Accumulates actions row by row (continuation rows join the action above)."""

    def __init__(
        self,
        grid: Grid,
        mapping: Mapping,
        cols: dict[str, int],
        headers: dict[str, str],
        leads: LeadResolver,
    ) -> None:
        self.grid = grid
        self.mapping = mapping
        self.cols = cols
        self.headers = headers
        self.leads = leads
        self.areas: dict[int, AreaRow] = {}
        self.actions: list[ActionRow] = []
        self.entries: list[_Warning] = []
        #: What each unresolvable lead or SRO fragment's warning says (see :class:`_Said`).
        self.said: dict[tuple[str, str, tuple[str, ...] | None], _Said] = {}
        #: Each mapped column's letter and header, for warnings.
        self.at: dict[str, tuple[str, str]] = {}
        self.per_area: dict[int | None, int] = {}
        self.refs: set[str] = set()
        self.current: _Heading | None = None
        self.headings: list[_Heading] = []
        #: Rows holding a single cell that were not read as area headings (hints for the fix).
        self.single_cells: list[tuple[int, str]] = []
        #: Refs longer than the store keeps: (row, ref, generated).
        self.too_long: list[tuple[int, str, bool]] = []
        #: Each distinct text cell as :func:`clean_text` reads it (only for this import).
        self.texts: dict[str, str] = {}
        #: Each distinct date cell (and its number format) as :func:`parse_date_cell` reads it.
        self.dates: dict[tuple[type, object, str | None], ParsedDate] = {}
        self.complete_value = next(
            (
                v
                for v in mapping.status_scale.values
                if v.meaning == StatusMeaning.COMPLETE and not v.embedded
            ),
            None,
        ) or next(
            (v for v in mapping.status_scale.values if v.meaning == StatusMeaning.COMPLETE), None
        )

    # -- helpers -------------------------------------------------------------------------------
    def _column(self, name: str) -> tuple[str, str]:
        """The letter and header of the column mapped as ``name`` ("" for each if none is)."""
        at = self.at.get(name)
        if at is None:
            col = self.cols.get(name)
            letter = column_letter(col) if col is not None else ""
            at = self.at[name] = (letter, self.headers.get(name, ""))
        return at

    def warn(
        self,
        kind: str,
        r: int,
        name: str,
        value: object,
        message: str,
        expected: str = "",
        ref: str = "",
        *,
        cause: str | None = None,
        summary: str = "",
    ) -> None:
        """Record a warning. Warnings of one ``kind`` with the same ``cause`` are reported once,
        with ``summary`` as the message: ``{n}`` is the number of rows, ``{rows}`` the rows and
        their refs (``{only_rows}`` and ``{refs}`` each alone), ``{values}`` the distinct
        values."""
        column, header = self._column(name)
        self.entries.append(
            _Warning(
                kind,
                message,
                self.grid.sheet,
                r + 1,
                column,
                header,
                "" if value is None else str(raw_value(value)),
                expected,
                ref,
                cause,
                summary,
            )
        )

    def warn_cell(
        self,
        kind: str,
        r: int,
        c: int,
        header: str,
        value: object,
        message: str,
        expected: str = "",
        *,
        cause: str,
        summary: str,
    ) -> None:
        """Record a warning about one cell of any column (``warn`` is for the mapped fields)."""
        self.entries.append(
            _Warning(
                kind,
                message,
                self.grid.sheet,
                r + 1,
                column_letter(c),
                header,
                "" if value is None else str(raw_value(value)),
                expected,
                "",
                cause,
                summary,
            )
        )

    def report_cells(
        self,
        header_row: int,
        column_headers: dict[int, str],
        controls: dict[tuple[int, int], str],
    ) -> None:
        """Warn, once per cause, about cells whose text lost characters no store can keep, and
        about cells of the mapped columns that hold an Excel error or a formula never
        calculated (both read as empty)."""
        fields = {i: name for name, i in self.cols.items()}
        for (r, c), text in sorted(controls.items()):
            if r < header_row:
                continue
            header = column_headers.get(c, column_letter(c))
            nul = "\x00" in text
            escapes = list(dict.fromkeys(_control_escapes(text)))
            what = "NUL bytes (\\x00)" if nul else f"control characters ({', '.join(escapes)})"
            kinds = "NUL bytes (\\x00)" if nul else "control characters"
            example = "\\x00" if nul else escapes[0]
            fix = (
                "they were taken out of the text Chaser keeps (the raw cells show them as "
                f"escapes such as {example}); remove them in the workbook (Excel's =CLEAN() "
                "does), as they come from pasting out of another system"
            )
            self.warn_cell(
                "control_characters",
                r,
                c,
                header,
                text,
                f"cell {Grid.cell_name(r, c)} ({header!r}) holds {what}, which cannot be stored "
                f"as text; {fix}",
                expected="text without control characters",
                cause="nul" if nul else "control",
                summary=(
                    f"{{n}} rows hold {kinds} in their cells ({{rows}}), which cannot be "
                    f"stored as text; {fix}"
                ),
            )
        for (r, c), error in sorted(self.grid.errors.items()):
            if r <= header_row or c not in fields:
                continue
            header = self.headers.get(fields[c], column_letter(c))
            fix = "correct the formula in Excel (or type the value instead), save, and import again"
            self.warn_cell(
                "cell_error",
                r,
                c,
                header,
                error,
                f"{header!r} (cell {Grid.cell_name(r, c)}) holds the error {error}, so it was read "
                f"as empty; {fix}",
                expected=f"a value for {fields[c]}",
                cause=f"{c}\n{error}",
                summary=(
                    f"{header!r} holds the error {error} in {{n}} rows ({{rows}}), read as empty; "
                    f"{fix}"
                ),
            )
        for (r, c), formula in sorted(self.grid.formulas.items()):
            if r <= header_row or c not in fields:
                continue
            header = self.headers.get(fields[c], column_letter(c))
            fix = (
                "the file was saved by a program that does not calculate formulas; open it in "
                "Excel (which calculates them), save, and import again"
            )
            self.warn_cell(
                "formula_not_calculated",
                r,
                c,
                header,
                formula,
                f"{header!r} (cell {Grid.cell_name(r, c)}) holds {_short(formula, 40)} but no "
                f"result, so it was read as empty; {fix}",
                expected="a formula's result",
                cause=str(c),
                summary=(
                    f"{header!r} holds formulas with no result in {{n}} rows ({{rows}}), read as "
                    f"empty; {fix}"
                ),
            )

    def _date(self, r: int, name: str, value: object) -> ParsedDate:
        col = self.cols.get(name)
        fmt = self.grid.date_formats.get((r, col)) if col is not None else None
        if type(value) not in (datetime, date):
            return parse_date_cell(value, number_format=fmt)
        # A plan's date cells hold a few dates many times: each is read once per format.
        key = (type(value), value, fmt)
        found = self.dates.get(key)
        if found is None:
            found = self.dates[key] = parse_date_cell(value, number_format=fmt)
        return found

    def _people(self, codes: Iterable[str]) -> str:
        shown = []
        for code in codes:
            entry = self.leads.entry(code)
            detail = ", ".join(x for x in (entry.name, entry.role) if x) if entry else ""
            shown.append(f"{code} ({detail})" if detail else code)
        return " and ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)

    # -- area headings -------------------------------------------------------------------------
    def heading(self, r: int, text: str, *, named_only: bool = False) -> bool:
        """Take row ``r`` (one cell, ``text``) as an area heading if it is one; True if taken.

        ``named_only``: only a heading that names its kind ("Priority 2", not "2) …")."""
        found = read_area_heading(text)
        if named_only and not _AREA.search(text):
            found = None
        rows_layout = self.mapping.area_headings == "rows"
        if found is None or found.number is None:
            if not rows_layout:
                self.single_cells.append((r, text))
                return False
            found = AreaHeading(None, "Area", text, text)
        current = _Heading(r, found)
        number = found.number
        earlier = next((h for h in self.headings if h.heading.number == number), None)
        if number is not None and earlier is not None:
            self.warn(
                "repeated_area",
                r,
                "",
                text,
                f"area heading {_short(text)!r} (row {r + 1}) has the number {number} of the "
                f"area heading {_short(earlier.heading.label)!r} (row {earlier.row + 1}); the "
                f"actions below both are counted in area {number}: renumber one of them if they "
                "are different areas",
                expected="one heading per area number",
            )
        self.headings.append(current)
        self.current = current
        if number is not None:
            self._register_area(number, found.kind, found.label, found.title, r, {})
        return True

    def _register_area(
        self, number: int, kind: str, label: str, title: str, r: int, text: dict[str, str]
    ) -> None:
        area = self.areas.get(number)
        sro_raw = text.get("sro", "")
        if area is not None:
            if not area.title and title:
                area.title = title
            if area.sro_raw or not sro_raw:
                return
        sro = self.leads.parse(sro_raw) if sro_raw and not _too_long_for_a_lead(sro_raw) else None
        if sro is not None:
            self._report_unresolved(r, "sro", sro_raw, sro.unresolved, dict(sro.ambiguous), "")
        if area is None:
            self.areas[number] = AreaRow(
                number=number,
                kind=kind,
                label=label or f"Area {number}",
                title=title,
                sro_raw=sro_raw,
                sro_codes=sro.people if sro is not None else (),
            )
        else:
            area.sro_raw, area.sro_codes = sro_raw, sro.people if sro is not None else ()

    # -- rows ----------------------------------------------------------------------------------
    def add_row(self, r: int, values: dict[str, object], raw: dict[str, Any]) -> None:
        texts = self.texts
        text: dict[str, str] = {}
        for name, v in values.items():
            if type(v) is str:
                # A plan repeats most of its cells (areas, leads, dates): each text is cleaned
                # once per import.
                cleaned = texts.get(v)
                if cleaned is None:
                    cleaned = texts[v] = clean_text(v)
                text[name] = cleaned
            else:
                text[name] = clean_text(v)
        ref_text, numeric_ref = _ref_text(values.get("ref"))
        own = [n for n in ("title", "lead", "start", "due", "forecast", "status") if text.get(n)]
        if not ref_text and not text.get("title"):
            if self.actions and any(
                text.get(n) for n in ("lead", "outcomes", "evidence", "progress", "due")
            ):
                self._continue(self.actions[-1], text, raw)
            return
        if not ref_text and own == ["title"]:
            header = self.headers["title"]
            self.warn(
                "sub_heading",
                r,
                "title",
                values.get("title"),
                f"row {r + 1} has only text in {header!r} (no ref, lead or dates): "
                "read as a sub-heading, not an action",
                cause="",
                summary=(
                    f"{{n}} rows have only text in {header!r} (no ref, lead or dates) and were "
                    "read as sub-headings, not actions: {rows} ({values})"
                ),
            )
            return
        area = self._area(r, values, text, ref_text)
        self.per_area[area] = self.per_area.get(area, 0) + 1
        ref, generated = self._ref(r, values, ref_text, numeric_ref, area)
        action = self._action(r, values, text, raw, ref, generated, area)
        self.actions.append(action)

    def _continue(self, action: ActionRow, text: dict[str, str], raw: dict[str, Any]) -> None:
        for name in ("outcomes", "evidence", "progress"):
            if text.get(name):
                joined = f"{getattr(action, name)}\n{text[name]}".strip()
                setattr(action, name, joined)
        if text.get("lead"):
            action.lead_raw = f"{action.lead_raw}\n{text['lead']}".strip()
        for key, value in raw.items():
            if key in action.raw_cells and isinstance(action.raw_cells[key], str):
                action.raw_cells[key] = f"{action.raw_cells[key]}\n{value}"
            else:
                action.raw_cells.setdefault(key, value)

    def _area(
        self, r: int, values: dict[str, object], text: dict[str, str], ref_text: str
    ) -> int | None:
        """The action's area number: from the Area column, the heading row above, or the ref."""
        m = _REF_AREA.match(ref_text)
        from_ref = int(m.group(1)) if m else None
        if "area" in self.cols:
            label = text.get("area", "")
            found = read_area_heading(values.get("area")) if label else None
            if found is not None and found.number is not None:
                title = _area_title(text.get("area_title", ""), found.number) or found.title
                self._register_area(found.number, found.kind, label, title, r, text)
                return found.number
            if label:
                self._unnumbered(r, "area", values.get("area"), label, from_ref)
            elif from_ref is None:
                header = self.headers["area"]
                self.warn(
                    "no_area",
                    r,
                    "area",
                    None,
                    f"row {r + 1} has no {header!r} and its ref has no area number, so the "
                    "action is in no area and no meeting's scope covers it; fill in the area "
                    f"(add `area` to fill_down if {header!r} is written once per area)",
                    expected="an area heading such as 'Priority 2' or its number",
                    cause="blank",
                    summary=(
                        f"{{n}} actions have no {header!r} and no ref starting with a number "
                        "({rows}), so they are in no area and no meeting's scope covers them; "
                        f"fill in the area (add `area` to fill_down if {header!r} is written "
                        "once per area)"
                    ),
                )
        elif self.current is not None:
            heading = self.current.heading
            if heading.number is not None:
                number = heading.number
                title = _area_title(text.get("area_title", ""), number) or heading.title
                self._register_area(number, heading.kind, heading.label, title, r, text)
                return number
            self._unnumbered(r, "", heading.label, heading.label, from_ref)
        elif from_ref is None:
            self.warn(
                "no_area",
                r,
                "",
                None,
                f"row {r + 1} has no area (no area heading above it, and its ref has no area "
                "number), so the action is in no area and no meeting's scope covers it",
                expected="an area heading above it, e.g. '1. To identify need early…'",
                cause="unplaced",
                summary=(
                    "{n} actions have no area heading above them and no ref starting with a "
                    "number ({rows}), so they are in no area and no meeting's scope covers them; "
                    "put them under their area's heading"
                ),
            )
        if from_ref is not None:
            above = self.current.heading if self.current and "area" not in self.cols else None
            label = text.get("area", "") or (above.label if above else "")
            title = _area_title(text.get("area_title", ""), from_ref) or (
                above.title if above else ""
            )
            self._register_area(from_ref, "Area", label, title, r, text)
        return from_ref

    def _unnumbered(
        self, r: int, name: str, value: object, label: str, from_ref: int | None
    ) -> None:
        """An action under an area heading that has no number."""
        shown = _short(label)
        numbers = [h.heading.number for h in self.headings if h.heading.number is not None]
        example = f"'{max(numbers or self.areas or [0]) + 1}. {_short(label, 60)}'"
        if from_ref is not None:
            self.warn(
                "unreadable_area",
                r,
                name,
                value,
                f"area heading {shown!r} has no area number; used {from_ref} from the ref",
                expected="a heading such as 'PRIORITY ACTION AREA 2', 'Priority 2: …' or '2. To …'",
                cause=f"{label}\n{from_ref is not None}",
                summary=(
                    f"area heading {shown!r} has no number; its actions took their area from "
                    "their refs: {rows}"
                ),
            )
            return
        self.warn(
            "unreadable_area",
            r,
            name,
            value,
            f"area heading {shown!r} has no area number, so the action is in no area and no "
            f"meeting's scope covers it; write the number at the start, e.g. {example}",
            expected="a heading such as 'PRIORITY ACTION AREA 2', 'Priority 2: …' or '2. To …'",
            cause=f"{label}\n{from_ref is not None}",
            summary=(
                f"area heading has no number: {{only_rows}}, {shown!r} ({{refs}}); write the "
                f"number at the start, e.g. {example}: until then these actions are in no area "
                "and no meeting's scope covers them"
            ),
        )

    def _ref(
        self, r: int, values: dict[str, object], ref_text: str, numeric: bool, area: int | None
    ) -> tuple[str, bool]:
        if numeric:
            self.warn(
                "numeric_ref",
                r,
                "ref",
                values.get("ref"),
                f"ref {ref_text!r} is stored as a number, so 1.10 and 1.1 cannot be told apart; "
                "format the Ref column as Text in Excel",
                expected="text",
                ref=ref_text,
                cause="",
                summary=(
                    "{n} refs are stored as numbers, so 1.10 and 1.1 cannot be told apart "
                    "({rows}); format the Ref column as Text in Excel"
                ),
            )
        generated = not ref_text
        ref = ref_text or self.mapping.generated_ref.format(
            area=area if area is not None else 0, n=self.per_area[area]
        )
        if len(ref) > MAX_REF_CHARS:
            self.too_long.append((r, ref, generated))
        if ref in self.refs:
            n = 2
            # The new ref fits the store: the workbook's own ref is cut to make room.
            while f"{ref[: MAX_REF_CHARS - len(str(n)) - 1]}-{n}" in self.refs:
                n += 1
            new = f"{ref[: MAX_REF_CHARS - len(str(n)) - 1]}-{n}"
            self.warn(
                "duplicate_ref",
                r,
                "ref",
                values.get("ref"),
                f"ref {ref!r} is used by an earlier row too; this action was given {new!r}",
                expected="a ref used once",
                ref=new,
                cause=ref,
                summary=(
                    f"ref {ref!r} is used by an earlier row too; {{n}} more rows were given new "
                    "refs ({rows})"
                ),
            )
            ref, generated = new, True
        self.refs.add(ref)
        return ref, generated

    def _report_unresolved(
        self,
        r: int,
        name: str,
        cell: str,
        unresolved: Iterable[str],
        ambiguous: dict[str, tuple[str, ...]],
        ref: str,
    ) -> None:
        """Who a lead (``name="lead"``) or SRO cell names that the directory cannot resolve."""
        for fragment in unresolved:
            codes = ambiguous.get(fragment) or None
            said = self.said.get((name, fragment, codes))
            if said is None:
                said = self.said[(name, fragment, codes)] = self._said(name, fragment, codes)
            self.warn(
                said.kind,
                r,
                name,
                cell,
                said.message(ref),
                expected=said.expected,
                ref=ref,
                cause=said.cause,
                summary=said.summary,
            )

    def _said(self, name: str, fragment: str, codes: tuple[str, ...] | None) -> _Said:
        """What the warning about ``fragment`` in the lead (or SRO) column says."""
        what = "lead" if name == "lead" else "senior responsible officer"
        key = " ".join(fragment.casefold().replace("’", "'").split()).strip(" .,;:")
        if codes:
            people = self._people(codes)
            example = f"'{_short(fragment, 40)} ({codes[0]})'"
            return _Said(
                kind="ambiguous_lead",
                cause=key,
                summary=(
                    f"role title {fragment!r} is held by {len(codes)} people in the "
                    f"directory: {people}; write the initials in brackets, e.g. {example} "
                    "({rows})"
                ),
                expected="initials in brackets after a role several people hold",
                before=f"{what} {fragment!r}",
                after=f" is the role of {len(codes)} people in the directory: {people}; write "
                f"the initials in brackets, e.g. {example}",
                of="if_ref",
            )
        expected = "initials in brackets, e.g. 'Head of SEND (AP)', or a known role title"
        if name == "lead":
            return _Said(
                kind="unresolved_lead",
                cause=f"{name}\n{key}",
                summary=(
                    f"lead {fragment!r} is not in the people directory ({{n}} actions: {{rows}}); "
                    "add them to the people CSV (code in brackets) or write their initials in "
                    "the plan"
                ),
                expected=expected,
                before=f"lead {fragment!r}",
                after=" is not in the people directory; add them to the people CSV (code in "
                "brackets) or write their initials in the plan",
                of="always",
            )
        return _Said(
            kind="unresolved_lead",
            cause=f"{name}\n{key}",
            summary=(
                f"senior responsible officer {fragment!r} is not in the people directory ({{rows}})"
            ),
            expected=expected,
            before=f"senior responsible officer {fragment!r} is not in the people directory",
            after="",
            of="",
        )

    def _action(
        self,
        r: int,
        values: dict[str, object],
        text: dict[str, str],
        raw: dict[str, Any],
        ref: str,
        generated: bool,
        area: int | None,
    ) -> ActionRow:
        for name in self.mapping.required:
            if not text.get(name) and name != "due":
                header = self.headers.get(name, name)
                self.warn(
                    "missing_value",
                    r,
                    name,
                    None,
                    f"action {ref} has no {header!r}",
                    expected=f"a value for {name}",
                    ref=ref,
                    cause=name,
                    summary=f"{{n}} actions have no {header!r}: {{rows}}",
                )
        lead_text = text.get("lead", "")
        if _too_long_for_a_lead(lead_text):
            header = self.headers.get("lead", "lead")
            self.warn(
                "unresolved_lead",
                r,
                "lead",
                values.get("lead"),
                f"{header!r} of action {ref} is {len(lead_text):,} characters long, longer than "
                "a lead naming a few people could be, so nobody was read from it; check that "
                "columns.lead maps the column of leads, or shorten the cell",
                expected=f"at most {MAX_LEAD_CHARS:,} characters naming the lead, e.g. "
                "'Head of SEND (AP)'",
                ref=ref,
                cause="too long",
                summary=(
                    f"{{n}} actions have a {header!r} longer than a lead naming a few people "
                    "could be, so nobody was read from them ({rows}); check that columns.lead "
                    "maps the column of leads, or shorten the cells"
                ),
            )
            lead_text = ""
        leads = self.leads.parse(lead_text)
        self._report_unresolved(
            r, "lead", str(values.get("lead")), leads.unresolved, dict(leads.ambiguous), ref
        )
        people = leads.people
        if people and self.mapping.leads.accountable == "last":
            accountable: str | None = people[-1]
            contributors = people[:-1]
        else:
            accountable = people[0] if people else None
            contributors = people[1:]
        if accountable is None and lead_text and not leads.unresolved:
            lead = text["lead"]
            self.warn(
                "unresolved_lead",
                r,
                "lead",
                values.get("lead"),
                f"action {ref} names no person as lead ({lead!r})",
                expected="at least one person, e.g. 'Head of SEND (AP)'",
                ref=ref,
                cause=f"nobody\n{' '.join(lead.casefold().split())}",
                summary=f"{{n}} actions name no person as lead ({_short(lead)!r}): {{rows}}",
            )

        start = self._date(r, "start", values.get("start")) if "start" in self.cols else None
        due = (
            self._date(r, "due", values.get("due")) if "due" in self.cols else parse_date_cell(None)
        )
        forecast = (
            self._date(r, "forecast", values.get("forecast")) if "forecast" in self.cols else None
        )
        for name, parsed in (("start", start), ("due", due), ("forecast", forecast)):
            if parsed is None:
                continue
            header = self.headers.get(name, name)
            if parsed.kind == "unreadable":
                shown = _short(text.get(name, ""))
                self.warn(
                    "unreadable_date",
                    r,
                    name,
                    values.get(name),
                    f"{header!r} of action {ref} could not be read as a date"
                    + (f": {parsed.problem}" if parsed.problem else ""),
                    expected=parsed.problem or "a date such as 'March 2024' or '31/03/2024'",
                    ref=ref,
                    cause=f"{name}\n{' '.join(text.get(name, '').casefold().split())}",
                    summary=(
                        f"{header!r} {shown!r} could not be read as a date ({{n}} actions: "
                        "{rows})" + (f": {parsed.problem}" if parsed.problem else "")
                    ),
                )
            for note in parsed.warnings:
                self.warn(
                    "date_read_as",
                    r,
                    name,
                    values.get(name),
                    f"action {ref}: {note}",
                    ref=ref,
                    cause=f"{name}\n{note}",
                    summary=f"{header!r}: {note} ({{n}} actions: {{rows}})",
                )

        status = self._status(r, values, text, ref)
        if status is None and due.kind == "completed":
            status = self.complete_value
        if due.kind in ("tbc", "empty") and not (
            status and status.meaning == StatusMeaning.COMPLETE
        ):
            said = text.get("due", "")
            self.warn(
                "no_due_date",
                r,
                "due",
                values.get("due"),
                f"action {ref} has no due date" + (f" ({said!r})" if said else ""),
                expected="a completion date, e.g. 'March 2024'",
                ref=ref,
                cause=" ".join(said.casefold().split()),
                summary=(
                    "{n} actions have no due date"
                    + (f" ({_short(said)!r})" if said else "")
                    + ": {rows}"
                ),
            )
        milestones = _milestones(due, start)
        start_date = start.date if start is not None and start.kind in ("date", "parts") else None
        if start is not None and start.kind == "parts" and start.parts:
            firsts = [p.start or p.due for p in start.parts]
            start_date = min(firsts, key=lambda d: d.first_day)
        if start_date is None and due.start is not None:
            start_date = due.start
        if (
            start is not None
            and start.date is not None
            and start_date is not None
            and due.date is not None
            and due.date.last_day < start_date.first_day
        ):
            said_start, said_due = text.get("start", ""), text.get("due", "")
            self.warn(
                "due_before_start",
                r,
                "due",
                f"start {said_start!r}, due {said_due!r}",
                f"action {ref} is due ({self.headers.get('due', 'due')!r} {_short(said_due)!r}, "
                f"{due.date.display}) before it starts ({self.headers.get('start', 'start')!r} "
                f"{_short(said_start)!r}, {start_date.display}); correct one of the two dates",
                expected="a due date on or after the start date",
                ref=ref,
            )
        return ActionRow(
            row=r + 1,
            position=len(self.actions) + 1,
            ref=ref,
            ref_generated=generated,
            area_number=area,
            title=text.get("title", ""),
            lead_raw=text.get("lead", ""),
            people=people,
            accountable=accountable,
            contributors=tuple(contributors),
            reporting_group=text.get("reporting_group", ""),
            start=start_date,
            due=due,
            forecast=forecast.date if forecast is not None else None,
            status=status,
            outcomes=text.get("outcomes", ""),
            evidence=text.get("evidence", ""),
            progress=text.get("progress", ""),
            raw_cells=raw,
            milestones=milestones,
        )

    def _status(
        self, r: int, values: dict[str, object], text: dict[str, str], ref: str
    ) -> ScaleValue | None:
        label = text.get("status", "")
        if not label:
            return None
        found = self.mapping.status_scale.lookup(label)
        if found is None:
            scale = ", ".join(v.value for v in self.mapping.status_scale.values)
            name = self.mapping.status_scale.name
            self.warn(
                "unknown_status",
                r,
                "status",
                values.get("status"),
                f"status {label!r} of action {ref} is not on the plan's {name} scale ({scale})",
                expected=f"one of {scale}",
                ref=ref,
                cause=normalise_header(label),
                summary=(
                    f"status {_short(label)!r} is not on the plan's {name} scale ({scale}); "
                    "{n} actions: {rows}; add it to status_scale (as an alias) in the mapping "
                    "or correct the cells"
                ),
            )
        return found

    def _long_refs(self) -> Problem:
        """The one error for every ref longer than the store keeps."""
        rows = tuple(dict.fromkeys(r + 1 for r, _, _ in self.too_long))
        _, first, generated = self.too_long[0]
        col = self.cols.get("ref")
        letter = column_letter(col) if col is not None else ""
        if generated:
            fix = (
                f"shorten generated_ref ({self.mapping.generated_ref!r}) in the mapping, or give "
                "the actions refs of their own"
            )
        else:
            fix = "shorten it in the workbook" + (
                f"; if column {letter} does not hold the refs, map the column that does as "
                "columns.ref"
                if letter
                else ""
            )
        if len(self.too_long) == 1:
            message = (
                f"ref {_short(first, 40)!r} ({rows_text(rows)}"
                + (f", column {letter}" if letter and not generated else "")
                + f") is {len(first):,} characters long, but a ref may have at most "
                f"{MAX_REF_CHARS}; {fix}"
            )
        else:
            shown = listed((repr(_short(ref, 30)) for _, ref, _ in self.too_long), 3)
            message = (
                f"{len(self.too_long)} refs are longer than the {MAX_REF_CHARS} characters a ref "
                f"may have ({rows_text(rows)}: {shown}); "
                + fix.replace("shorten it", "shorten them")
            )
        return Problem(
            kind="too_long",
            message=message,
            sheet=self.grid.sheet,
            row=rows[0],
            column="" if generated else letter,
            header="" if generated else self.headers.get("ref", ""),
            value=_short(first, 60),
            expected=f"a ref of at most {MAX_REF_CHARS} characters",
            rows=rows,
        )

    def finish(self, header_row: int) -> ParsedPlan:
        if self.too_long:
            raise PlanReadError([self._long_refs()])
        if not self.actions:
            raise PlanReadError(
                [
                    Problem(
                        kind="no_actions",
                        sheet=self.grid.sheet,
                        row=header_row + 1,
                        message=(
                            f"sheet {self.grid.sheet!r} has a header row but no actions below it; "
                            "check --sheet or the file"
                        ),
                    )
                ]
            )
        entries = self.entries
        summary: list[Problem] = []
        if all(a.area_number is None for a in self.actions):
            summary.append(self._no_areas())
            hinted = {r + 1 for r, _ in self.single_cells} if not self.headings else set()
            entries = [
                e
                for e in entries
                if e.kind not in ("unreadable_area", "no_area")
                and not (e.kind == "sub_heading" and e.row in hinted)
            ]
        warnings = summary + _grouped(entries, {a.row: a.ref for a in self.actions})
        return ParsedPlan(
            source=self.grid.source,
            sheet=self.grid.sheet,
            header_row=header_row + 1,
            areas=self.areas,
            actions=self.actions,
            warnings=warnings,
        )

    def _no_areas(self) -> Problem:
        """The one warning for a plan none of whose actions could be given an area."""
        n = len(self.actions)
        lead = (
            f"none of the {n} actions has an area number, so every one is in area 0 (refs such "
            "as P0-01) and no meeting's scope covers any of them: nobody would be chased. "
        )
        fix_heading = (
            "Write each area's number at the start of its heading ('1. To identify need early…', "
            "'Priority 2: …', 'Area three')"
        )
        examples: list[tuple[int, str]]
        if "area" in self.cols:
            header = self.headers["area"]
            column = column_letter(self.cols["area"])
            labels = [(e.row, e.value) for e in self.entries if e.kind == "unreadable_area"]
            examples = list({label: (row, label) for row, label in reversed(labels)}.values())
            if examples:
                body = (
                    f"The {header!r} column ({column}) holds headings without a number "
                    f"({_examples(sorted(examples))}). {fix_heading}, or put the number in a "
                    "column of its own and map that as `columns.area`."
                )
            else:
                body = (
                    f"The {header!r} column ({column}) is empty and no ref starts with a number. "
                    f"Fill it in (add `area` to fill_down if it is written once per area), or map "
                    "the column that holds the areas as `columns.area`."
                )
            where: dict[str, str] = {"column": column, "header": header}
        elif self.headings:
            examples = [(h.row + 1, h.heading.label) for h in self.headings]
            body = f"The area headings have no number ({_examples(examples)}). {fix_heading}."
            where = {}
        else:
            examples = [(r + 1, t) for r, t in self.single_cells]
            hint = (
                f"{rows_text(r for r, _ in examples).capitalize()} hold a single cell each "
                f"({_examples(examples)}): if these are the area headings, number them "
                "('1. To …') or set `area_headings: rows` in the mapping. Otherwise map"
                if examples
                else "Map"
            )
            body = (
                "The mapping maps no `area` column, no row reads as a numbered area heading and "
                f"no ref starts with a number. {hint} the column holding the areas as "
                "`columns.area` (see docs/mappings.md)."
            )
            where = {}
        return Problem(
            kind="no_areas",
            message=lead + body,
            sheet=self.grid.sheet,
            expected="area numbers: in an Area column, in heading rows, or at the start of refs",
            rows=tuple(a.row for a in self.actions),
            column=where.get("column", ""),
            header=where.get("header", ""),
        )


#: A lead cell longer than this, or naming more people than MAX_LEAD_PARTS, is not a lead (it is
#: usually another column mapped as `lead`): it is reported, not resolved. Resolving splits the
#: cell at every separator and tries every run of parts, which grows with the cube of their
#: number.
MAX_LEAD_CHARS = 2_000
MAX_LEAD_PARTS = 40
_LEAD_SEPARATORS = re.compile(r",|/|&|\s(?:and|with|plus)\s", re.IGNORECASE)


def _too_long_for_a_lead(text: str) -> bool:
    return len(text) > MAX_LEAD_CHARS or len(_LEAD_SEPARATORS.findall(text)) > MAX_LEAD_PARTS


def _control_escapes(text: str) -> list[str]:
    return [escape_control_characters(ch) for ch in text if has_control_characters(ch)]


def _examples(found: list[tuple[int, str]], limit: int = 3) -> str:
    shown = [f"row {row} {_short(text, 50)!r}" for row, text in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return ", ".join(shown) + more


def _grouped(entries: list[_Warning], refs_by_row: dict[int, str]) -> list[Problem]:
    """One problem per cause, in the order of the rows; a cause seen once keeps its message."""
    groups: dict[tuple[str, str], list[_Warning]] = {}
    singles: list[list[_Warning]] = []
    for entry in entries:
        if entry.cause is None:
            singles.append([entry])
            continue
        groups.setdefault((entry.kind, entry.cause), []).append(entry)
    out: list[Problem] = []
    for members in [*groups.values(), *singles]:
        first = members[0]
        rows = tuple(dict.fromkeys(m.row for m in members))
        refs = tuple(
            dict.fromkeys(
                m.ref or refs_by_row.get(m.row, "")
                for m in members
                if m.ref or refs_by_row.get(m.row)
            )
        )
        if len(members) == 1:
            out.append(first.problem(rows, refs))
            continue
        values = tuple(dict.fromkeys(m.value for m in members if m.value))
        where = rows_text(rows) + (f"; refs {listed(refs)}" if refs else "")
        message = (
            members[0]
            .summary.replace("{n}", str(len(rows)))
            .replace("{rows}", where)
            .replace("{only_rows}", rows_text(rows))
            .replace("{refs}", f"refs {listed(refs)}")
            .replace("{values}", listed(repr(_short(v, 40)) for v in values))
        )
        value = values[0] if len(values) == 1 else ""
        out.append(replace(first.problem(rows, refs), message=message, value=value, ref=""))
    return sorted(out, key=lambda p: p.row or 0)


def _milestones(due: ParsedDate, start: ParsedDate | None) -> list[MilestoneRow]:
    """Each dated part of the due cell; a start part with the same label (or, unlabelled, in the
    same position) gives its start."""
    if due.kind != "parts":
        return []
    start_parts = start.parts if start is not None and start.kind == "parts" else ()
    by_label = {p.label: p for p in start_parts if p.label}
    by_position = len(start_parts) == len(due.parts)
    out = []
    for i, part in enumerate(due.parts):
        part_start = part.start
        if part_start is None:
            sp = by_label.get(part.label) if part.label else None
            if sp is None and by_position:
                sp = start_parts[i]
            if sp is not None:
                part_start = sp.start or sp.due
        out.append(
            MilestoneRow(
                position=i + 1, label=part.label, start=part_start, due=part.due, raw=part.text
            )
        )
    return out
