"""Reading a council's scorecard (a grid) through its :class:`ScorecardMapping`.

Every problem is collected with its sheet, row, column, header, value and what was expected;
any error means nothing may be imported (:class:`ScorecardError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from workflows.measures.mapping import ScorecardMapping
from workflows.measures.scoring import FREQUENCIES, Point, period_end
from workflows.measures.table import Table, TableError, TableRow, read_table, text
from workflows.measures.values import ValueProblem, check_in_range, read_figure, read_period
from workflows.plan.dates import parse_date_cell
from workflows.plan.reading import Problem
from workflows.plan.sheet import Grid, column_letter

HIGHER = {"higher", "high", "up", "higher is better", "increase", "bigger", "more"}
LOWER = {"lower", "low", "down", "lower is better", "decrease", "smaller", "less"}


class ScorecardError(TableError):
    """The scorecard cannot be imported; ``problems`` says every reason."""


@dataclass(frozen=True)
class Reading:
    period_end: date
    value: float
    row: int
    column: str


@dataclass
class ScorecardRow:
    row: int
    code: str
    name: str
    unit: str = ""
    higher_is_better: bool = True
    baseline: float | None = None
    baseline_period: date | None = None
    trajectory: list[Point] = field(default_factory=list)
    targets: list[Point] = field(default_factory=list)
    amber_within: float = 15.0
    frequency: str = "month"
    first_period: date | None = None
    last_period: date | None = None
    owner: str = ""
    action_refs: list[str] = field(default_factory=list)
    area: int | None = None
    source: str = ""
    readings: list[Reading] = field(default_factory=list)


@dataclass
class Scorecard:
    sheet: str
    rows: list[ScorecardRow]
    warnings: list[Problem] = field(default_factory=list)


def _problem(table: Table, row: TableRow, name: str, p: ValueProblem, code: str) -> Problem:
    letter, header = table.where(name, row)
    return Problem(
        kind=p.kind,
        message=f"measure {code}: {p.message}",
        sheet=table.sheet,
        row=row.number,
        column=letter,
        header=header,
        value=p.value,
        expected=p.expected,
        ref=code,
    )


def _period_columns(table: Table) -> list[tuple[int, date]]:
    mapped = set(table.columns.values())
    found: list[tuple[int, date]] = []
    for i, cell in enumerate(table.headers):
        if i in mapped or cell is None:
            continue
        if isinstance(cell, str) and not re.search(r"\d{2}", cell):
            continue
        parsed = parse_date_cell(cell)
        if parsed.date is not None and not parsed.parts and parsed.start is None:
            found.append((i, parsed.date.last_day))
    return found


@dataclass
class _Checker:
    table: Table
    trow: TableRow
    code: str
    out: ScorecardRow
    problems: list[Problem]

    def figure(self, fieldname: str, label: str, raw: object) -> float | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        got = read_figure(raw, field=label, unit=self.out.unit)
        if isinstance(got, ValueProblem):
            self.problems.append(_problem(self.table, self.trow, fieldname, got, self.code))
            return None
        return got

    def period(self, fieldname: str, label: str, raw: object) -> date | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        got = read_period(raw, field=label, frequency=self.out.frequency)
        if isinstance(got, ValueProblem):
            self.problems.append(_problem(self.table, self.trow, fieldname, got, self.code))
            return None
        return got


def read_points(value: object) -> list[tuple[str, str]]:
    """'Sep 2025: 55; Mar 2026: 65' -> [('Sep 2025', '55'), ('Mar 2026', '65')]."""
    out: list[tuple[str, str]] = []
    for part in re.split(r"[;\n]", text(value)):
        if not part.strip():
            continue
        when, sep, figure = part.rpartition(":")
        if not sep:
            when, sep, figure = part.rpartition("=")
        out.append((when.strip(), figure.strip()) if sep else ("", part.strip()))
    return out


def read_scorecard(grid: Grid, mapping: ScorecardMapping) -> Scorecard:
    """Every measure row of ``grid``; raises :class:`ScorecardError` listing every error."""
    table = read_table(grid, mapping.header, mapping.columns, layout=mapping.name)
    periods = _period_columns(table) if mapping.readings == "header_dates" else []
    problems: list[Problem] = []
    rows: list[ScorecardRow] = []
    seen: dict[str, int] = {}
    for trow in table.rows:
        c = trow.cells
        name = text(c.get("name"))
        if not name:
            continue
        code = text(c.get("code")) or name
        if code in seen:
            letter, header = table.where("code", trow)
            problems.append(
                Problem(
                    kind="duplicate_code",
                    message=f"measure {code} is on rows {seen[code]} and {trow.number}; give "
                    "each measure its own reference",
                    sheet=table.sheet,
                    row=trow.number,
                    column=letter,
                    header=header,
                    value=code,
                    expected="a reference no other measure has",
                    ref=code,
                )
            )
            continue
        seen[code] = trow.number
        out = ScorecardRow(row=trow.number, code=code[:32], name=name)
        out.unit = text(c.get("unit"))
        out.source = text(c.get("source"))[:500]
        out.owner = text(c.get("owner"))
        out.amber_within = mapping.amber_within

        polarity = text(c.get("polarity")).casefold().rstrip(".")
        if polarity in LOWER:
            out.higher_is_better = False
        elif polarity and polarity not in HIGHER:
            letter, header = table.where("polarity", trow)
            problems.append(
                Problem(
                    kind="unknown_polarity",
                    message=f"measure {code}: which way is better {polarity!r} is not 'higher' "
                    "or 'lower'; write one of them",
                    sheet=table.sheet,
                    row=trow.number,
                    column=letter,
                    header=header,
                    value=polarity,
                    expected="higher or lower",
                    ref=code,
                )
            )

        frequency = text(c.get("frequency")).casefold().removesuffix("ly") or "month"
        frequency = {"annual": "year", "quarter": "quarter", "month": "month"}.get(
            frequency, frequency
        )
        if frequency not in FREQUENCIES:
            letter, header = table.where("frequency", trow)
            problems.append(
                Problem(
                    kind="unknown_frequency",
                    message=f"measure {code}: frequency {frequency!r} is not monthly, "
                    "quarterly or annual; write one of them",
                    sheet=table.sheet,
                    row=trow.number,
                    column=letter,
                    header=header,
                    value=frequency,
                    expected="monthly, quarterly or annual",
                    ref=code,
                )
            )
            frequency = "month"
        out.frequency = frequency

        figure = _Checker(table, trow, code, out, problems).figure
        period = _Checker(table, trow, code, out, problems).period

        out.baseline = figure("baseline", "baseline", c.get("baseline"))
        out.baseline_period = period("baseline_period", "baseline period", c.get("baseline_period"))
        amber = figure("amber_within", "amber within", c.get("amber_within"))
        if amber is not None:
            out.amber_within = amber
        out.first_period = period("first_period", "first period", c.get("first_period"))
        out.last_period = period("last_period", "last period", c.get("last_period"))
        target = figure("target", "target", c.get("target"))
        target_date = period("target_date", "target date", c.get("target_date"))
        if target is not None:
            out.targets.append(Point(target_date or out.last_period or date.max, target))
        for when, value in read_points(c.get("trajectory")):
            day = period("trajectory", "trajectory period", when or None)
            v = figure("trajectory", "trajectory figure", value)
            if day is None and not when:
                letter, header = table.where("trajectory", trow)
                problems.append(
                    Problem(
                        kind="unreadable_trajectory",
                        message=f"measure {code}: trajectory point {value!r} has no period; "
                        "write 'Sep 2025: 55; Mar 2026: 65'",
                        sheet=table.sheet,
                        row=trow.number,
                        column=letter,
                        header=header,
                        value=value,
                        expected="'Sep 2025: 55; Mar 2026: 65'",
                        ref=code,
                    )
                )
            if day is not None and v is not None:
                out.trajectory.append(Point(day, v))
        refs = re.split(r"[,;\s]+", text(c.get("actions")))
        out.action_refs = [r for r in refs if r]
        area = text(c.get("area"))
        out.area = int(area) if area.isdigit() else None

        for i, end in periods:
            raw = trow.row[i] if i < len(trow.row) else None
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            shown = text(table.headers[i])
            got = read_figure(raw, field=f"figure for {shown}", unit=out.unit)
            if isinstance(got, ValueProblem):
                problems.append(
                    Problem(
                        kind=got.kind,
                        message=f"measure {code}: {got.message}",
                        sheet=table.sheet,
                        row=trow.number,
                        column=column_letter(i),
                        header=shown,
                        value=got.value,
                        expected=got.expected,
                        ref=code,
                    )
                )
                continue
            pend = period_end(end, out.frequency)
            outside = check_in_range(
                pend,
                field=f"figure for {shown}",
                first=out.first_period,
                last=out.last_period,
                frequency=out.frequency,
                name=out.name,
            )
            if outside is not None:
                problems.append(
                    Problem(
                        kind=outside.kind,
                        message=f"measure {code}: {outside.message}",
                        sheet=table.sheet,
                        row=trow.number,
                        column=column_letter(i),
                        header=shown,
                        value=outside.value,
                        expected=outside.expected,
                        ref=code,
                    )
                )
                continue
            out.readings.append(Reading(pend, got, trow.number, column_letter(i)))
        rows.append(out)
    if problems:
        raise ScorecardError(problems)
    return Scorecard(sheet=table.sheet, rows=rows)
