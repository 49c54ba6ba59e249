"""What the secretary's scorecard and risk pages show: one measure with every figure given for
it (who, when, how, from where; superseded ones marked), and one risk with every change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from workflows.measures.scoring import Point, show_period, show_value
from workflows.measures.store import MeasureLine, definition_of, scorecard_lines
from workflows.risks.store import RiskLine, register_lines, risk_history
from workflows.store.models import Measure, MeasureReading, Person, Plan, Risk


def plan_id_of(session: Session, code: str) -> int | None:
    plan = session.exec(select(Plan).where(Plan.code == code)).first()
    return plan.id if plan is not None else None


@dataclass(frozen=True)
class ReadingLine:
    period: str
    value: str
    recorded_at: datetime
    who: str
    channel: str
    source: str
    superseded: bool  # a later figure was given for the same period


@dataclass(frozen=True)
class MeasurePage:
    line: MeasureLine
    readings: tuple[ReadingLine, ...]  # newest period first, as recorded within a period
    targets: tuple[Point, ...]
    baseline: str
    source: str


def measure_page(session: Session, plan_code: str, code: str, today: date) -> MeasurePage | None:
    plan_id = plan_id_of(session, plan_code)
    if plan_id is None:
        return None
    measure = session.exec(
        select(Measure).where(Measure.plan_id == plan_id, Measure.code == code)
    ).first()
    if measure is None or measure.id is None:
        return None
    line = next(x for x in scorecard_lines(session, plan_id, today) if x.id == measure.id)
    rows = session.exec(
        select(MeasureReading)
        .where(MeasureReading.measure_id == measure.id)
        .order_by(col(MeasureReading.recorded_at), col(MeasureReading.id))
    ).all()
    people = {p.id: p.name for p in session.exec(select(Person))}
    last = {r.period_end: r.id for r in rows}
    readings = [
        ReadingLine(
            period=show_period(r.period_end, measure.frequency),
            value=show_value(r.value, measure.unit),
            recorded_at=r.recorded_at,
            who=people.get(r.person_id, "") if r.person_id else r.given_by,
            channel=r.channel,
            source=r.source,
            superseded=last[r.period_end] != r.id,
        )
        for r in sorted(rows, key=lambda r: r.period_end, reverse=True)
    ]
    d = definition_of(measure)
    baseline = ""
    if measure.baseline is not None:
        baseline = show_value(measure.baseline, measure.unit)
        if measure.baseline_period:
            baseline += f" ({show_period(measure.baseline_period, measure.frequency)})"
    return MeasurePage(line, tuple(readings), d.targets, baseline, measure.source)


@dataclass(frozen=True)
class RiskChangeRow:
    at: datetime
    who: str
    channel: str
    kind: str
    changes: tuple[tuple[str, str, str], ...]  # (field, before, after)
    score_before: int | None
    score_after: int | None
    source: str


@dataclass(frozen=True)
class RiskPage:
    line: RiskLine
    cause: str
    effect: str
    history: tuple[RiskChangeRow, ...]  # newest first


FIELD_WORDS = {
    "owner_id": "owner",
    "action_refs": "linked actions",
    "area_id": "area",
    "target_score": "target score",
    "review_date": "review date",
}


def risk_page(
    session: Session, plan_code: str, code: str, *, since: datetime, today: date
) -> RiskPage | None:
    plan_id = plan_id_of(session, plan_code)
    if plan_id is None:
        return None
    risk = session.exec(select(Risk).where(Risk.plan_id == plan_id, Risk.code == code)).first()
    if risk is None or risk.id is None:
        return None
    line = next(
        x for x in register_lines(session, plan_id, since=since, today=today) if x.id == risk.id
    )
    people = {p.id: p.name for p in session.exec(select(Person))}

    def shown(field: str, value: object) -> str:
        if value is None or value == "" or value == []:
            return "–"
        if field == "owner_id":
            return people.get(value, str(value)) if isinstance(value, int) else str(value)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    history = tuple(
        RiskChangeRow(
            at=ch.recorded_at,
            who=people.get(ch.person_id, "") if ch.person_id else ch.given_by,
            channel=ch.channel,
            kind=ch.kind,
            changes=tuple(
                (FIELD_WORDS.get(k, k), shown(k, v[0]), shown(k, v[1]))
                for k, v in ch.changes.items()
                if k != "area_id"
            ),
            score_before=ch.score_before,
            score_after=ch.score_after,
            source=ch.source,
        )
        for ch in reversed(risk_history(session, risk.id))
    )
    return RiskPage(line, risk.cause, risk.effect, history)
