"""Reading a council's risk register (a grid) through its :class:`RegisterMapping`; every
problem names the sheet, row, column, header, value and what was expected, and any error means
nothing is imported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from workflows.measures.table import Table, TableError, TableRow, read_table, text
from workflows.plan.dates import parse_date_cell
from workflows.plan.reading import Problem
from workflows.plan.sheet import Grid
from workflows.risks.mapping import RegisterMapping
from workflows.risks.scoring import RatingProblem, check_rating

OPEN = {"open", "live", "active", "current", "new", ""}
CLOSED = {"closed", "close", "retired", "archived"}


@dataclass
class RegisterRow:
    row: int
    code: str
    title: str
    description: str = ""
    cause: str = ""
    effect: str = ""
    owner: str = ""
    action_refs: list[str] = field(default_factory=list)
    area: int | None = None
    likelihood: int | None = None
    impact: int | None = None
    mitigation: str = ""
    target_score: int | None = None
    review_date: date | None = None
    closed: bool = False


@dataclass
class Register:
    sheet: str
    rows: list[RegisterRow]


def _problem(
    table: Table,
    row: TableRow,
    name: str,
    code: str,
    kind: str,
    message: str,
    value: str,
    expected: str,
) -> Problem:
    letter, header = table.where(name, row)
    return Problem(
        kind=kind,
        message=message,
        sheet=table.sheet,
        row=row.number,
        column=letter,
        header=header,
        value=value,
        expected=expected,
        ref=code,
    )


def read_register(grid: Grid, mapping: RegisterMapping) -> Register:
    table = read_table(grid, mapping.header, mapping.columns, layout=mapping.name)
    problems: list[Problem] = []
    rows: list[RegisterRow] = []
    seen: dict[str, int] = {}
    for trow in table.rows:
        c = trow.cells
        title = text(c.get("title")) or text(c.get("description"))
        if not title:
            continue
        code = (text(c.get("code")) or f"row {trow.number}")[:32]
        if code in seen:
            problems.append(
                _problem(
                    table,
                    trow,
                    "code",
                    code,
                    "duplicate_code",
                    f"risk {code} is on rows {seen[code]} and {trow.number}; give each risk "
                    "its own reference",
                    code,
                    "a reference no other risk has",
                )
            )
            continue
        seen[code] = trow.number
        out = RegisterRow(row=trow.number, code=code, title=title[:500])
        out.description = text(c.get("description")) or title
        out.cause, out.effect = text(c.get("cause")), text(c.get("effect"))
        out.owner, out.mitigation = text(c.get("owner")), text(c.get("mitigation"))
        out.action_refs = [r for r in re.split(r"[,;\s]+", text(c.get("actions"))) if r]
        area = text(c.get("area"))
        out.area = int(area) if area.isdigit() else None
        for name in ("likelihood", "impact"):
            raw = c.get(name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            got = check_rating(raw, field=name, ref=code)
            if isinstance(got, RatingProblem):
                problems.append(
                    _problem(
                        table, trow, name, code, got.kind, got.message, got.value, got.expected
                    )
                )
            else:
                setattr(out, name, got)
        target = text(c.get("target_score"))
        if target:
            if target.isdigit() and 1 <= int(target) <= 25:
                out.target_score = int(target)
            else:
                problems.append(
                    _problem(
                        table,
                        trow,
                        "target_score",
                        code,
                        "not_a_score",
                        f"risk {code}: target score {target!r} is not a score; write a "
                        "whole number from 1 to 25 (likelihood × impact)",
                        target,
                        "a whole number from 1 to 25",
                    )
                )
        review = c.get("review_date")
        if review is not None and text(review):
            parsed = parse_date_cell(review)
            if parsed.date is None:
                problems.append(
                    _problem(
                        table,
                        trow,
                        "review_date",
                        code,
                        "unreadable_date",
                        f"risk {code}: review date {text(review)!r} is not a date; write "
                        "e.g. '30/09/2025' or 'Sep 2025'",
                        text(review),
                        "a date, e.g. '30/09/2025' or 'Sep 2025'",
                    )
                )
            else:
                out.review_date = parsed.date.last_day
        status = text(c.get("status")).casefold().rstrip(".")
        if status in CLOSED:
            out.closed = True
        elif status not in OPEN:
            problems.append(
                _problem(
                    table,
                    trow,
                    "status",
                    code,
                    "unknown_status",
                    f"risk {code}: status {status!r} is not open or closed; write one of them",
                    status,
                    "open or closed",
                )
            )
        rows.append(out)
    if problems:
        raise TableError(problems)
    return Register(sheet=table.sheet, rows=rows)
