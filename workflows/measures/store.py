"""Measures in the store: merging a scorecard, recording readings (every one kept, with its
period, who gave it and where from), and each measure's status for the pages and the digest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from workflows.measures.reading import Scorecard, ScorecardError, ScorecardRow
from workflows.measures.scoring import Definition, MeasureStatus, Point, assess
from workflows.measures.table import TableError, read_table, text
from workflows.measures.values import ValueProblem, check_in_range, read_figure, read_period
from workflows.plan.mapping import ColumnRef, HeaderRule
from workflows.plan.reading import Problem
from workflows.plan.sheet import Grid
from workflows.store.models import Action, Measure, MeasureReading, Person, Plan


class ReadingError(ValueError):
    """A figure Chaser cannot keep: says the field, the value, what was expected."""

    def __init__(self, problem: ValueProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class MeasureMerge:
    plan: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    readings_added: int = 0
    readings_unchanged: int = 0
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = [w.as_dict() for w in self.warnings]
        return d


def find_person(session: Session, partnership: str, written: str) -> Person | None:
    """The person a cell names: their code, '(CODE)' after a role, or their full name."""
    if not written:
        return None
    people = session.exec(select(Person).where(Person.partnership == partnership)).all()
    by_code = {p.code.casefold(): p for p in people}
    key = written.strip().casefold()
    if key in by_code:
        return by_code[key]
    for code in re.findall(r"\(([A-Za-z]{1,6})\)", written):
        if code.casefold() in by_code:
            return by_code[code.casefold()]
    return next((p for p in people if p.name.casefold() == key), None)


def plan_named(session: Session, code: str) -> Plan:
    plan = session.exec(select(Plan).where(Plan.code == code)).first()
    if plan is None or plan.id is None:
        raise ScorecardError(
            [
                Problem(
                    kind="no_plan",
                    message=f"there is no plan {code!r} in the store; import the plan first "
                    "(`chaser plan import FILE`) or pass --plan with its code",
                    value=code,
                    expected="the code of an imported plan",
                )
            ]
        )
    return plan


def definition_of(m: Measure) -> Definition:
    def points(items: Sequence[dict[str, Any]]) -> tuple[Point, ...]:
        return tuple(Point(date.fromisoformat(p["date"]), float(p["value"])) for p in items)

    return Definition(
        code=m.code,
        name=m.name,
        unit=m.unit,
        higher_is_better=m.higher_is_better,
        baseline=m.baseline,
        baseline_period=m.baseline_period,
        trajectory=points(m.trajectory),
        targets=points(m.targets),
        amber_within=m.amber_within,
        frequency=m.frequency if m.frequency in ("month", "quarter", "year") else "month",  # type: ignore[arg-type]
        first_period=m.first_period,
        last_period=m.last_period,
    )


def _stored_points(points: Sequence[Point]) -> list[dict[str, Any]]:
    return [{"date": p.day.isoformat(), "value": p.value} for p in points]


def merge_scorecard(
    session: Session,
    scorecard: Scorecard,
    *,
    plan_code: str,
    partnership: str,
    now: datetime,
    source_name: str,
    given_by: str = "",
) -> MeasureMerge:
    """Create or update each measure by its code; add the figures the file gives that the store
    does not already hold for that period. Never deletes a measure or a reading. Does not
    commit."""
    plan = plan_named(session, plan_code)
    assert plan.id is not None
    result = MeasureMerge(plan=plan_code)
    existing = {m.code: m for m in session.exec(select(Measure).where(Measure.plan_id == plan.id))}
    actions = {a.ref: a for a in session.exec(select(Action).where(Action.plan_id == plan.id))}
    for row in scorecard.rows:
        owner = find_person(session, partnership, row.owner)
        if row.owner and owner is None:
            result.warnings.append(
                Problem(
                    kind="unresolved_owner",
                    message=f"measure {row.code}: owner {row.owner!r} is not in the people "
                    "directory; add them (`chaser people import`) so they are asked for figures",
                    sheet=scorecard.sheet,
                    row=row.row,
                    value=row.owner,
                    ref=row.code,
                )
            )
        unknown = [r for r in row.action_refs if r not in actions]
        if unknown:
            result.warnings.append(
                Problem(
                    kind="unknown_action",
                    message=f"measure {row.code}: the plan has no action {', '.join(unknown)}",
                    sheet=scorecard.sheet,
                    row=row.row,
                    value=", ".join(unknown),
                    ref=row.code,
                )
            )
        first_action = next((actions[r] for r in row.action_refs if r in actions), None)
        values = _values(row, owner, first_action)
        m = existing.get(row.code)
        if m is None:
            m = Measure(plan_id=plan.id, code=row.code, created_at=now, updated_at=now, **values)
            session.add(m)
            session.flush()
            existing[row.code] = m
            result.created += 1
        elif any(getattr(m, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(m, k, v)
            m.updated_at = now
            session.add(m)
            result.updated += 1
        else:
            result.unchanged += 1
        assert m.id is not None
        latest = _latest_by_period(session, m.id)
        for r in row.readings:
            if latest.get(r.period_end) == r.value:
                result.readings_unchanged += 1
                continue
            session.add(
                MeasureReading(
                    measure_id=m.id,
                    period_end=r.period_end,
                    value=r.value,
                    recorded_at=now,
                    channel="import",
                    given_by=given_by[:200],
                    source=f"{source_name} {r.column}{r.row}"[:200],
                )
            )
            result.readings_added += 1
    session.flush()
    return result


def _values(row: ScorecardRow, owner: Person | None, action: Action | None) -> dict[str, Any]:
    final = max(row.targets, key=lambda p: p.day) if row.targets else None
    return {
        "name": row.name,
        "unit": row.unit,
        "higher_is_better": row.higher_is_better,
        "baseline": row.baseline,
        "baseline_period": row.baseline_period,
        "target": final.value if final else None,
        "targets": _stored_points(
            [
                Point(p.day if p.day != date.max else date(9999, 12, 31), p.value)
                for p in row.targets
            ]
        ),
        "trajectory": _stored_points(row.trajectory),
        "amber_within": row.amber_within,
        "frequency": row.frequency,
        "first_period": row.first_period,
        "last_period": row.last_period,
        "owner_id": owner.id if owner else None,
        "action_refs": list(row.action_refs),
        "action_id": action.id if action else None,
        "area_id": action.area_id if action else None,
        "source": row.source,
    }


def _latest_by_period(session: Session, measure_id: int) -> dict[date, float]:
    latest: dict[date, float] = {}
    for r in session.exec(
        select(MeasureReading)
        .where(MeasureReading.measure_id == measure_id)
        .order_by(col(MeasureReading.recorded_at), col(MeasureReading.id))
    ):
        latest[r.period_end] = r.value
    return latest


def check_reading(
    measure: Measure, value: object, period: object, *, field: str = "value"
) -> tuple[date, float]:
    """The period's end and the figure, checked against the measure; raises
    :class:`ReadingError` naming what is wrong and what is expected."""
    end = read_period(period, field="period", frequency=measure.frequency)
    if isinstance(end, ValueProblem):
        raise ReadingError(end)
    outside = check_in_range(
        end,
        field="period",
        first=measure.first_period,
        last=measure.last_period,
        frequency=measure.frequency,
        name=measure.name,
    )
    if outside is not None:
        raise ReadingError(outside)
    figure = read_figure(value, field=f"{measure.name} {field}", unit=measure.unit)
    if isinstance(figure, ValueProblem):
        raise ReadingError(figure)
    return end, figure


def record_reading(
    session: Session,
    measure: Measure,
    *,
    value: object,
    period: object,
    now: datetime,
    channel: str,
    person_id: int | None = None,
    given_by: str = "",
    source: str = "",
    reply_id: int | None = None,
) -> MeasureReading | None:
    """Keep one figure (checked: raises :class:`ReadingError`). The same figure again for the
    same period adds nothing and returns None; a different one is kept beside the earlier one
    and supersedes it. Does not commit."""
    assert measure.id is not None
    end, figure = check_reading(measure, value, period)
    if _latest_by_period(session, measure.id).get(end) == figure:
        return None
    reading = MeasureReading(
        measure_id=measure.id,
        period_end=end,
        value=figure,
        recorded_at=now,
        person_id=person_id,
        channel=channel,
        given_by=given_by[:200],
        source=source[:200],
        reply_id=reply_id,
    )
    session.add(reading)
    session.flush()
    return reading


#: The readings CSV: one figure a row.
READINGS_COLUMNS = {
    "measure": ColumnRef(headers=("Measure", "Ref", "Code")),
    "period": ColumnRef(headers=("Period", "Month")),
    "value": ColumnRef(headers=("Value", "Figure", "Actual")),
}
OPTIONAL_COLUMNS = ("given by", "source")


@dataclass
class ReadingsImport:
    added: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def import_readings(
    session: Session,
    grid: Grid,
    *,
    plan_id: int,
    now: datetime,
    given_by: str,
    source_name: str,
) -> ReadingsImport:
    """Figures from a CSV with columns Measure (code or name), Period, Value (and optionally
    Given by). Every bad row is reported; with any, nothing is kept (the caller rolls back)."""
    out = ReadingsImport()
    try:
        table = read_table(
            grid,
            HeaderRule(contains=("Period",)),
            READINGS_COLUMNS,
            layout="readings (Measure, Period, Value)",
        )
    except TableError as exc:
        out.problems.extend(exc.problems)
        return out
    measures = session.exec(select(Measure).where(Measure.plan_id == plan_id)).all()
    by_key = {m.code.casefold(): m for m in measures} | {m.name.casefold(): m for m in measures}
    given_col = next(
        (i for i, h in enumerate(table.headers) if text(h).casefold() in OPTIONAL_COLUMNS[:1]),
        None,
    )
    for row in table.rows:
        key = text(row.cells["measure"])
        m = by_key.get(key.casefold())
        if m is None:
            letter, header = table.where("measure", row)
            known = ", ".join(sorted(x.code for x in measures)) or "none yet: import the scorecard"
            out.problems.append(
                Problem(
                    kind="unknown_measure",
                    message=f"{source_name} row {row.number}: no measure {key!r} in this plan; "
                    f"write a measure's code or name (codes: {known})",
                    sheet=table.sheet,
                    row=row.number,
                    column=letter,
                    header=header,
                    value=key,
                    expected="a measure's code or name",
                )
            )
            continue
        who = text(row.row[given_col]) if given_col is not None and given_col < len(row.row) else ""
        try:
            added = record_reading(
                session,
                m,
                value=row.cells["value"],
                period=row.cells["period"],
                now=now,
                channel="import",
                given_by=who or given_by,
                source=f"{source_name} row {row.number}",
            )
        except ReadingError as exc:
            fieldname = (
                "period"
                if exc.problem.kind in ("unreadable_period", "period_out_of_range")
                else "value"
            )
            letter, header = table.where(fieldname, row)
            out.problems.append(
                Problem(
                    kind=exc.problem.kind,
                    message=f"{source_name} row {row.number}, column {letter} ({header}): "
                    f"{exc.problem.message}",
                    sheet=table.sheet,
                    row=row.number,
                    column=letter,
                    header=header,
                    value=exc.problem.value,
                    expected=exc.problem.expected,
                    ref=m.code,
                )
            )
            continue
        if added is None:
            out.unchanged += 1
        else:
            out.added += 1
    return out


@dataclass(frozen=True)
class MeasureLine:
    """One measure as the pages, the CLI and the digest show it."""

    id: int
    code: str
    name: str
    unit: str
    owner: str
    action_refs: tuple[str, ...]
    source: str
    status: MeasureStatus
    series: tuple[Point, ...]  # one figure per period, the latest given
    trajectory: tuple[Point, ...]
    higher_is_better: bool
    frequency: str


def scorecard_lines(
    session: Session, plan_id: int, today: date, *, worsened_periods: int = 2
) -> list[MeasureLine]:
    """Every measure of the plan with its status on ``today``, in code order."""
    from workflows.measures.scoring import by_period

    measures = session.exec(
        select(Measure).where(Measure.plan_id == plan_id).order_by(col(Measure.code))
    ).all()
    ids = [m.id for m in measures if m.id is not None]
    readings: dict[int, list[Point]] = {}
    for r in session.exec(
        select(MeasureReading)
        .where(col(MeasureReading.measure_id).in_(ids))
        .order_by(col(MeasureReading.recorded_at), col(MeasureReading.id))
    ):
        readings.setdefault(r.measure_id, []).append(Point(r.period_end, r.value))
    owners = {
        p.id: p.name
        for p in session.exec(
            select(Person).where(col(Person.id).in_([m.owner_id for m in measures if m.owner_id]))
        )
    }
    lines = []
    for m in measures:
        assert m.id is not None
        d = definition_of(m)
        got = readings.get(m.id, [])
        lines.append(
            MeasureLine(
                id=m.id,
                code=m.code,
                name=m.name,
                unit=m.unit,
                owner=owners.get(m.owner_id, "") if m.owner_id else "",
                action_refs=tuple(m.action_refs),
                source=m.source,
                status=assess(d, got, today, worsened_periods=worsened_periods),
                series=tuple(p for p in by_period(got) if p.day <= today),
                trajectory=_with_baseline(d),
                higher_is_better=m.higher_is_better,
                frequency=m.frequency,
            )
        )
    return lines


def record_form_figure(
    session: Session, measure_id: int, value: float, reply: Any, *, now: datetime
) -> MeasureReading | None:
    """A figure from a reply (the form, or an update applied from review): for the period due
    when the reply came, from its sender and channel. A figure Chaser cannot keep (a period
    before the measure's first) is skipped: the form checked the value already."""
    from workflows.calendar.cycles import LONDON
    from workflows.measures.scoring import due_period

    measure = session.get(Measure, measure_id)
    if measure is None:
        return None
    period = due_period(definition_of(measure), now.astimezone(LONDON).date())
    if period is None:
        return None
    try:
        return record_reading(
            session,
            measure,
            value=value,
            period=period,
            now=now,
            channel=reply.channel,
            person_id=reply.person_id,
            source=f"reply {reply.id}",
            reply_id=reply.id,
        )
    except ReadingError:
        return None


def form_period_label(measure: Measure, on: date) -> str:
    """The period the form asks a figure for on ``on`` ("Aug 2025"), "" if none is due."""
    from workflows.measures.scoring import due_period, show_period

    due = due_period(definition_of(measure), on)
    return show_period(due, measure.frequency) if due else ""


def _with_baseline(d: Definition) -> tuple[Point, ...]:
    """The trajectory as charted: from the baseline, when it comes before the first point."""
    points = tuple(sorted(d.trajectory, key=lambda p: p.day))
    base, base_day = d.baseline, d.baseline_period
    if base is not None and base_day is not None and points and base_day < points[0].day:
        return (Point(base_day, base), *points)
    return points
