"""What the reply form reads from and writes to the store.

A link names the request (outbox delivery) it came in; the request names its actions. Every
accepted post is kept as a ``Reply`` (channel "form", the posted fields as JSON) and applied
through :func:`workflows.replies.apply.apply_updates`, so the history says who, when and how.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON
from workflows.plan.dates import show_date
from workflows.plan.mapping import ScaleValue, StatusScale
from workflows.replies.apply import ActionUpdate, apply_updates
from workflows.replies.form import FormReading, MeasureField
from workflows.replies.links import LinkClaims
from workflows.store.models import (
    Action,
    ChangeKind,
    Channel,
    Delivery,
    Measure,
    MeasureReading,
    Person,
    Plan,
    Reply,
    ReplyVerdict,
    Risk,
    StatusChange,
)


@dataclass(frozen=True)
class ActionView:
    index: int  # 1, 2, … : field ids are "a{index}-…", refs may hold any character
    ref: str
    title: str
    due: str
    forecast: str
    status_label: str
    status_colour: str
    progress: str
    measures: tuple[MeasureField, ...]
    updated: bool = False  # someone has sent an update on it since this request went out


@dataclass(frozen=True)
class RequestView:
    delivery_id: int
    plan_id: int
    plan_title: str
    person_id: int | None  # who the link was sent to: the sender of every post through it
    meeting: str  # "SIB meeting on 30 September 2025", "" for nudges
    due_by: datetime | None  # the papers deadline: later updates are marked late
    scale: StatusScale | None
    actions: tuple[ActionView, ...]

    def action(self, ref: str) -> ActionView | None:
        return next((a for a in self.actions if a.ref == ref), None)

    def next_after(self, ref: str) -> ActionView | None:
        """The first action after ``ref`` not yet updated (then any not updated), if any."""
        refs = [a.ref for a in self.actions]
        start = refs.index(ref) + 1 if ref in refs else 0
        ordered = self.actions[start:] + self.actions[:start]
        return next((a for a in ordered if not a.updated and a.ref != ref), None)

    def late(self, now: datetime) -> bool:
        return self.due_by is not None and now > self.due_by


def scale_of(plan: Plan) -> StatusScale | None:
    if not plan.status_scale:
        return None
    return StatusScale(values=tuple(ScaleValue.model_validate(v) for v in plan.status_scale))


def meeting_label(meeting_key: str) -> str:
    """ "SIB:2025-09-30" → "SIB meeting on 30 September 2025"."""
    group, _, day = meeting_key.partition(":")
    if not group:
        return ""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return f"{group} meeting"
    return f"{group} meeting on {when.day} {when:%B %Y}"


def find_request(session: Session, claims: LinkClaims) -> RequestView | None:
    """The request the link came in, if it exists and was sent to the link's holder."""
    delivery = session.exec(
        select(Delivery).where(col(Delivery.key).in_([claims.key, f"{claims.key}:teams"]))
    ).first()
    if delivery is None or delivery.id is None or delivery.plan_id is None:
        return None
    if (delivery.recipient_code, delivery.person_code) != (claims.person, claims.lead):
        return None
    plan = session.get(Plan, delivery.plan_id)
    if plan is None:
        return None
    person = session.exec(select(Person).where(Person.code == claims.person)).first()
    scale = scale_of(plan)
    colours = {v.value: v.colour for v in scale.values} if scale else {}
    refs = list(delivery.action_refs or ())
    actions = session.exec(
        select(Action)
        .where(
            Action.plan_id == plan.id, col(Action.ref).in_(refs), col(Action.withdrawn).is_(False)
        )
        .order_by(col(Action.position))
    ).all()
    measures: dict[int, list[MeasureField]] = {}
    ids = [a.id for a in actions if a.id is not None]
    for m in session.exec(
        select(Measure).where(col(Measure.action_id).in_(ids)).order_by(col(Measure.id))
    ):
        if m.id is not None and m.action_id is not None:
            measures.setdefault(m.action_id, []).append(MeasureField(m.id, m.name, m.unit))
    updated = set(
        session.exec(
            select(StatusChange.action_id).where(
                col(StatusChange.action_id).in_(ids),
                StatusChange.kind == ChangeKind.UPDATE,
                col(StatusChange.recorded_at) >= delivery.created_at,
            )
        )
    )
    return RequestView(
        delivery_id=delivery.id,
        plan_id=delivery.plan_id,
        plan_title=plan.title,
        person_id=person.id if person else None,
        meeting=meeting_label(delivery.meeting_key),
        due_by=delivery.due_by,
        scale=scale,
        actions=tuple(
            ActionView(
                index=i,
                ref=a.ref,
                title=a.title,
                due=show_date(a.baseline_due, a.baseline_due_precision) or a.due_note,
                forecast=show_date(a.forecast_due, a.forecast_due_precision),
                status_label=a.status_label,
                status_colour=colours.get(a.status_label, ""),
                progress=a.progress,
                measures=tuple(measures.get(a.id or 0, ())),
                updated=a.id in updated,
            )
            for i, a in enumerate(actions, start=1)
        ),
    )


def load_request(engine: Engine, claims: LinkClaims) -> RequestView | None:
    with Session(engine) as session:
        return find_request(session, claims)


def _store_reply(
    session: Session, request: RequestView, raw: Mapping[str, Any], parsed: Any, now: datetime
) -> int:
    reply = Reply(
        plan_id=request.plan_id,
        channel=str(Channel.FORM),
        received_at=now,
        person_id=request.person_id,
        delivery_id=request.delivery_id,
        raw=json.dumps(raw, ensure_ascii=False, sort_keys=True),
        parsed=parsed,
        verdict=str(ReplyVerdict.APPLIED),
        reason="posted on the reply form through the request's signed link",
        late=request.late(now),
    )
    session.add(reply)
    session.flush()
    assert reply.id is not None
    return reply.id


def _as_json(update: ActionUpdate) -> dict[str, Any]:
    return {
        "ref": update.ref,
        "status": update.status,
        "status_label": update.status_label,
        "embedded": update.embedded,
        "narrative": update.narrative,
        "evidence": update.evidence,
        "forecast": update.forecast.display if update.forecast else None,
        "no_change": update.no_change,
    }


def save_updates(
    engine: Engine,
    request: RequestView,
    readings: Sequence[FormReading],
    *,
    raw: Mapping[str, Any],
    now: datetime,
) -> int:
    """Keep the post as a Reply and apply its updates, risks and figures; the reply's id."""
    pairs = [(r, r.update) for r in readings if r.update is not None]
    updates = [u for _, u in pairs]
    parsed = {
        "updates": [_as_json(u) for u in updates],
        "risks": [
            {"ref": u.ref, "risks": r.risks, "mitigations": r.mitigations}
            for r, u in pairs
            if r.risks
        ],
        "figures": {str(k): v for r, _ in pairs for k, v in r.figures.items()},
    }
    with Session(engine) as session:
        reply_id = _store_reply(session, request, raw, parsed, now)
        apply_updates(
            session,
            plan_id=request.plan_id,
            person_id=request.person_id,
            channel=str(Channel.FORM),
            updates=updates,
            now=now,
            late=request.late(now),
            reply_id=reply_id,
        )
        for reading, update in pairs:
            _save_risk(session, request, update.ref, reading, now)
            for measure_id, value in reading.figures.items():
                session.add(
                    MeasureReading(
                        measure_id=measure_id,
                        period_end=now.astimezone(LONDON).date(),
                        value=value,
                        recorded_at=now,
                        person_id=request.person_id,
                        channel=str(Channel.FORM),
                    )
                )
        session.commit()
        return reply_id


def _save_risk(
    session: Session, request: RequestView, ref: str, reading: FormReading, now: datetime
) -> None:
    """A risk reported again (same words, still open) gets its mitigation updated, not copied."""
    if not reading.risks:
        return
    action = session.exec(
        select(Action).where(Action.plan_id == request.plan_id, Action.ref == ref)
    ).one()
    risk = session.exec(
        select(Risk).where(
            Risk.action_id == action.id,
            Risk.description == reading.risks,
            col(Risk.closed).is_(False),
        )
    ).first()
    if risk is None:
        risk = Risk(
            plan_id=request.plan_id,
            action_id=action.id,
            description=reading.risks,
            owner_id=request.person_id,
            created_at=now,
            updated_at=now,
        )
    risk.mitigation = reading.mitigations or risk.mitigation
    risk.updated_at = now
    session.add(risk)
