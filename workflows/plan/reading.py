"""Reading a plan out of a sheet, through a council's mapping (pure: no store, no files).

:func:`read_plan` turns a :class:`~workflows.plan.sheet.Grid` into a :class:`ParsedPlan`: areas,
actions with resolved leads, dates kept at their precision, milestones for multi-part dates, and
a validation report. Problems that make the file unusable as a plan (no header row, a mapped column
missing, no actions) raise :class:`PlanReadError`; everything else is a warning naming the sheet,
row, column, value and what was expected, and the action is still imported with what could be read.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from workflows.plan.dates import FuzzyDate, ParsedDate, parse_date_cell
from workflows.plan.leads import DEFAULT_NON_PERSON_PATTERNS, DirectoryEntry, LeadResolver
from workflows.plan.mapping import ColumnRef, Mapping, ScaleValue, normalise_header
from workflows.plan.sheet import Grid, column_letter
from workflows.store.models import StatusMeaning


@dataclass(frozen=True)
class Problem:
    """One thing the import could not understand, located precisely."""

    kind: str
    message: str
    sheet: str = ""
    row: int | None = None  # 1-based, as Excel shows it
    column: str = ""  # letter, as Excel shows it
    header: str = ""
    value: str = ""
    expected: str = ""
    ref: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.sheet}!{self.column}{self.row}" if self.row else self.sheet
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


_TAG_BREAK = re.compile(r"(?i)<\s*(?:br|/p|p|/li|li|ul|/ul|ol|/ol|div|/div)\b[^>]*>")
_TAG_ANY = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")
_NEEDS_CLEANING = re.compile(r"[<&\r\n\t\u00a0\u2007\u202f]|  ")
_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f]+")
_MANY_BREAKS = re.compile(r"\n{3,}")
_AREA = re.compile(
    r"(?i)\b(?P<kind>priority\s+action\s+area|improvement\s+area|strategic\s+priority|priority"
    r"|area|objective|theme)\s*(?P<number>\d+|[IVXLC]+)\b"
)
_REF_AREA = re.compile(r"^\s*(\d+)\s*[.)]")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def clean_text(value: object) -> str:
    """A cell as readable text: HTML remnants become line breaks, spacing is tidied."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value)
    if not _NEEDS_CLEANING.search(s):
        return s.strip()
    if "<" in s:
        s = _TAG_BREAK.sub("\n", s)
        s = _TAG_ANY.sub("", s)
    if "&" in s:
        s = html.unescape(s)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in s.split("\n")]
    return _MANY_BREAKS.sub("\n\n", "\n".join(lines)).strip()


def raw_value(value: object) -> Any:
    """A cell as JSON can keep it, exactly as read."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def roman_to_int(text: str) -> int:
    total, prev = 0, 0
    for ch in reversed(text.upper()):
        val = _ROMAN[ch]
        total = total - val if val < prev else total + val
        prev = max(prev, val)
    return total


def parse_area(label: str) -> tuple[str, int] | None:
    """("PRIORITY ACTION AREA I") -> ("Priority action area", 1)."""
    m = _AREA.search(label)
    if not m:
        return None
    raw = m["number"]
    number = int(raw) if raw.isdigit() else roman_to_int(raw)
    kind = re.sub(r"\s+", " ", m["kind"]).capitalize()
    return kind, number


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
    previous: dict[str, object] = {}
    for r in range(header_row + 1, len(grid.rows)):
        cells = grid.rows[r]
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
            continue
        values = {name: cells[i] if i < len(cells) else None for name, i in cols.items()}
        raw = {
            h: raw_value(cells[i])
            for i, h in all_headers
            if i < len(cells) and cells[i] is not None
        }
        for name in mapping.fill_down:
            if _blank(values.get(name)):
                values[name] = previous.get(name)
        for name in mapping.fill_down:
            previous[name] = values.get(name)
        reader.add_row(r, values, raw)
    return reader.finish(header_row)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


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
        self.warnings: list[Problem] = []
        self.per_area: dict[int | None, int] = {}
        self.refs: set[str] = set()
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
    def _where(self, r: int, name: str) -> dict[str, Any]:
        col = self.cols.get(name)
        return {
            "sheet": self.grid.sheet,
            "row": r + 1,
            "column": column_letter(col) if col is not None else "",
            "header": self.headers.get(name, ""),
        }

    def warn(
        self,
        kind: str,
        r: int,
        name: str,
        value: object,
        message: str,
        expected: str = "",
        ref: str = "",
    ) -> None:
        self.warnings.append(
            Problem(
                kind=kind,
                message=message,
                value="" if value is None else str(raw_value(value)),
                expected=expected,
                ref=ref,
                **self._where(r, name),
            )
        )

    def _date(self, r: int, name: str, value: object) -> ParsedDate:
        col = self.cols.get(name)
        fmt = self.grid.date_formats.get((r, col)) if col is not None else None
        return parse_date_cell(value, number_format=fmt)

    # -- rows ----------------------------------------------------------------------------------
    def add_row(self, r: int, values: dict[str, object], raw: dict[str, Any]) -> None:
        text = {name: clean_text(v) for name, v in values.items()}
        ref_text, numeric_ref = _ref_text(values.get("ref"))
        own = [n for n in ("title", "lead", "start", "due", "forecast", "status") if text.get(n)]
        if not ref_text and not text.get("title"):
            if self.actions and any(
                text.get(n) for n in ("lead", "outcomes", "evidence", "progress", "due")
            ):
                self._continue(self.actions[-1], text, raw)
            return
        if not ref_text and own == ["title"]:
            self.warn(
                "sub_heading",
                r,
                "title",
                values.get("title"),
                f"row {r + 1} has only text in {self.headers['title']!r} (no ref, lead or dates): "
                "read as a sub-heading, not an action",
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
        label = text.get("area", "")
        parsed = parse_area(label) if label else None
        number: int | None
        if parsed:
            kind, number = parsed
        else:
            m = _REF_AREA.match(ref_text)
            number = int(m.group(1)) if m else None
            kind = "Area"
            if label and "area" in self.cols:
                self.warn(
                    "unreadable_area",
                    r,
                    "area",
                    values.get("area"),
                    f"area heading {label!r} has no area number"
                    + (f"; used {number} from the ref" if number is not None else ""),
                    expected="a heading such as 'PRIORITY ACTION AREA 2' or 'Improvement area 6'",
                )
        if number is not None and number not in self.areas:
            sro_raw = text.get("sro", "")
            sro = self.leads.parse(sro_raw) if sro_raw else None
            if sro is not None:
                for fragment in sro.unresolved:
                    self.warn(
                        "unresolved_lead",
                        r,
                        "sro",
                        sro_raw,
                        f"senior responsible officer {fragment!r} is not in the people directory",
                        expected="initials in brackets or a role title in the people directory",
                    )
            self.areas[number] = AreaRow(
                number=number,
                kind=kind,
                label=label or f"Area {number}",
                title=text.get("area_title", ""),
                sro_raw=sro_raw,
                sro_codes=sro.people if sro is not None else (),
            )
        return number

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
            )
        generated = not ref_text
        ref = ref_text or self.mapping.generated_ref.format(
            area=area if area is not None else 0, n=self.per_area[area]
        )
        if ref in self.refs:
            n = 2
            while f"{ref}-{n}" in self.refs:
                n += 1
            new = f"{ref}-{n}"
            self.warn(
                "duplicate_ref",
                r,
                "ref",
                values.get("ref"),
                f"ref {ref!r} is used by an earlier row too; this action was given {new!r}",
                expected="a ref used once",
                ref=new,
            )
            ref, generated = new, True
        self.refs.add(ref)
        return ref, generated

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
                self.warn(
                    "missing_value",
                    r,
                    name,
                    None,
                    f"action {ref} has no {self.headers.get(name, name)!r}",
                    expected=f"a value for {name}",
                    ref=ref,
                )
        leads = self.leads.parse(text.get("lead", ""))
        for fragment in leads.unresolved:
            self.warn(
                "unresolved_lead",
                r,
                "lead",
                values.get("lead"),
                f"lead {fragment!r} of action {ref} is not in the people directory; add them "
                "to the people CSV (code in brackets) or write their initials in the plan",
                expected="initials in brackets, e.g. 'Head of SEND (AP)', or a known role title",
                ref=ref,
            )
        people = leads.people
        if people and self.mapping.leads.accountable == "last":
            accountable: str | None = people[-1]
            contributors = people[:-1]
        else:
            accountable = people[0] if people else None
            contributors = people[1:]
        if accountable is None and text.get("lead") and not leads.unresolved:
            self.warn(
                "unresolved_lead",
                r,
                "lead",
                values.get("lead"),
                f"action {ref} names no person as lead ({text['lead']!r})",
                expected="at least one person, e.g. 'Head of SEND (AP)'",
                ref=ref,
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
            if parsed.kind == "unreadable":
                self.warn(
                    "unreadable_date",
                    r,
                    name,
                    values.get(name),
                    f"{self.headers[name]!r} of action {ref} could not be read as a date"
                    + (f": {parsed.problem}" if parsed.problem else ""),
                    expected=parsed.problem or "a date such as 'March 2024' or '31/03/2024'",
                    ref=ref,
                )
            for note in parsed.warnings:
                self.warn(
                    "date_read_as", r, name, values.get(name), f"action {ref}: {note}", ref=ref
                )

        status = self._status(r, values, text, ref)
        if status is None and due.kind == "completed":
            status = self.complete_value
        if due.kind in ("tbc", "empty") and not (
            status and status.meaning == StatusMeaning.COMPLETE
        ):
            self.warn(
                "no_due_date",
                r,
                "due",
                values.get("due"),
                f"action {ref} has no due date"
                + (f" ({text.get('due')!r})" if text.get("due") else ""),
                expected="a completion date, e.g. 'March 2024'",
                ref=ref,
            )
        milestones = _milestones(due, start)
        start_date = start.date if start is not None and start.kind in ("date", "parts") else None
        if start is not None and start.kind == "parts" and start.parts:
            firsts = [p.start or p.due for p in start.parts]
            start_date = min(firsts, key=lambda d: d.first_day)
        if start_date is None and due.start is not None:
            start_date = due.start
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
            self.warn(
                "unknown_status",
                r,
                "status",
                values.get("status"),
                f"status {label!r} of action {ref} is not on the plan's "
                f"{self.mapping.status_scale.name} scale ({scale})",
                expected=f"one of {scale}",
                ref=ref,
            )
        return found

    def finish(self, header_row: int) -> ParsedPlan:
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
        return ParsedPlan(
            source=self.grid.source,
            sheet=self.grid.sheet,
            header_row=header_row + 1,
            areas=self.areas,
            actions=self.actions,
            warnings=self.warnings,
        )


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
