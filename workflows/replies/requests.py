"""The request a reply-form link names, as the form shows it.

A signed link (:mod:`workflows.replies.links`) names an outbox delivery, the update request it
came in; the request names its lead, its recipient, its meeting and its actions.
:func:`find_request` reads them, with each action's current status, whether anyone has updated
it since the request went out, and the impact measures the form asks figures for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from workflows.board.milestones import OpenMilestone, open_milestones
from workflows.calendar.cycles import LONDON
from workflows.calendar.meetings import meeting_label
from workflows.measures.store import form_period_label
from workflows.plan.dates import show_date
from workflows.plan.mapping import StatusScale, plan_scale
from workflows.replies.form import MeasureField
from workflows.replies.links import LinkClaims
from workflows.risks.form import RiskField, risks_for_actions
from workflows.store.models import (
    Action,
    ChangeKind,
    Delivery,
    Measure,
    Person,
    Plan,
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
    register_risks: tuple[RiskField, ...] = ()  # open register risks its lead reviews
    milestones: tuple[OpenMilestone, ...] = ()  # not yet done: the form offers to mark them


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
    person = session.exec(
        select(Person).where(Person.partnership == plan.partnership, Person.code == claims.person)
    ).first()
    scale = plan_scale(plan)
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
            period = form_period_label(m, delivery.created_at.astimezone(LONDON).date())
            measures.setdefault(m.action_id, []).append(MeasureField(m.id, m.name, m.unit, period))
    register_risks = risks_for_actions(session, ids)
    milestones = open_milestones(session, ids)
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
                register_risks=tuple(register_risks.get(a.id or 0, ())),
                milestones=milestones.get(a.id or 0, ()),
            )
            for i, a in enumerate(actions, start=1)
        ),
    )


def load_request(engine: Engine, claims: LinkClaims) -> RequestView | None:
    with Session(engine) as session:
        return find_request(session, claims)
