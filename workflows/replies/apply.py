"""The one way a reply changes the plan: :func:`apply_reply`.

Every update reaches the plan through here, whichever way it came: a post on the reply form, an
emailed reply Chaser trusted, or a reply the secretary applied from the review queue. The reply
is stored first (a ``Reply`` row: who sent it, by which channel, whether it was late), then
:func:`apply_reply` changes each action and appends to its history, so the history always says
who, when, how and from which reply. Risks reported with an update go to the risk register and
measure figures to the measure's readings, the same way for every channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from workflows.board.errors import BoardInputError
from workflows.board.milestones import mark_done
from workflows.measures.store import record_form_figure
from workflows.plan.dates import FuzzyDate
from workflows.risks.form import apply_form_reviews
from workflows.store.models import (
    Action,
    ChangeKind,
    Channel,
    Reply,
    Risk,
    StatusChange,
)

NO_CHANGE = "No change since the last update."


@dataclass(frozen=True)
class ActionUpdate:
    """What someone reported about one action. Empty fields change nothing."""

    ref: str
    status: str | None = None  # a StatusMeaning value
    status_label: str = ""  # the plan's own value ("Amber")
    embedded: bool = False
    narrative: str = ""
    evidence: str = ""
    forecast: FuzzyDate | None = None
    no_change: bool = False
    #: Milestones of the action the lead says are done (their numbers): workflows/board/.
    milestones_done: tuple[int, ...] = ()


@dataclass(frozen=True)
class RiskReport:
    """A risk a lead reported against one of their actions, and how it is being managed."""

    ref: str
    description: str
    mitigation: str = ""


@dataclass(frozen=True)
class MeasureFigure:
    """This period's figure for an impact measure."""

    measure_id: int
    value: float


@dataclass(frozen=True)
class Answer:
    """Everything one reply says that changes the plan."""

    updates: tuple[ActionUpdate, ...] = ()
    risks: tuple[RiskReport, ...] = ()
    figures: tuple[MeasureFigure, ...] = ()


class UnknownAction(LookupError):
    """An update names an action the plan does not have."""


def apply_reply(
    session: Session, reply: Reply, answer: Answer, *, now: datetime
) -> list[StatusChange]:
    """Apply what ``reply`` says to its plan and record it in the history. Does not commit.

    Who reported it, by which channel and whether it was late come from the stored ``reply``
    itself, so a form post, an email and a review decision are recorded alike. Raises
    :class:`UnknownAction` (changing nothing) if an update names an action the plan lacks.
    """
    if reply.plan_id is None or reply.id is None:
        raise ValueError("a reply must be stored, and tied to a plan, before it is applied")
    refs = {u.ref for u in answer.updates} | {r.ref for r in answer.risks}
    actions = {
        a.ref: a
        for a in session.exec(
            select(Action).where(Action.plan_id == reply.plan_id, col(Action.ref).in_(refs))
        )
    }
    missing = sorted(refs - actions.keys())
    if missing:
        raise UnknownAction(f"no action {', '.join(missing)} in this plan")
    changes = [
        _apply_update(session, reply, actions[update.ref], update, now) for update in answer.updates
    ]
    for risk in answer.risks:
        _record_risk(session, reply, actions[risk.ref], risk, now)
    for figure in answer.figures:  # for the period due, kept with who, how and which reply
        record_form_figure(session, figure.measure_id, figure.value, reply, now=now)
    if reply.channel == Channel.FORM:  # register risks reviewed on the form (in the post)
        apply_form_reviews(session, reply, now=now)
    session.flush()
    return changes


def _apply_update(
    session: Session, reply: Reply, action: Action, update: ActionUpdate, now: datetime
) -> StatusChange:
    assert action.id is not None
    forecast = update.forecast
    change = StatusChange(
        action_id=action.id,
        recorded_at=now,
        person_id=reply.person_id,
        channel=reply.channel,
        kind=str(ChangeKind.UPDATE),
        status_before=action.status,
        status_after=update.status or action.status,
        status_label_after=update.status_label if update.status else action.status_label,
        due_before=action.forecast_due if forecast else None,
        due_before_precision=action.forecast_due_precision if forecast else None,
        due_after=forecast.last_day if forecast else None,
        due_after_precision=str(forecast.precision) if forecast else None,
        narrative=update.narrative or (NO_CHANGE if update.no_change else ""),
        evidence=update.evidence,
        late=reply.late,
        reply_id=reply.id,
    )
    session.add(change)
    if update.status:
        action.status, action.status_label = update.status, update.status_label
        action.embedded = update.embedded
    if forecast is not None:
        action.forecast_due = forecast.last_day
        action.forecast_due_precision = str(forecast.precision)
    if update.narrative:
        action.progress = update.narrative  # the latest narrative; evidence stays in history
    action.updated_at = now
    for position in update.milestones_done:  # one the action lacks is not applied
        with suppress(BoardInputError):
            mark_done(session, action, position, now=now, channel=reply.channel, reply=reply)
    return change


def _record_risk(
    session: Session, reply: Reply, action: Action, report: RiskReport, now: datetime
) -> None:
    """A risk reported again (same words, still open) gets its mitigation updated, not copied."""
    risk = session.exec(
        select(Risk).where(
            Risk.action_id == action.id,
            Risk.description == report.description,
            col(Risk.closed).is_(False),
        )
    ).first()
    if risk is None:
        risk = Risk(
            plan_id=action.plan_id,
            action_id=action.id,
            description=report.description,
            owner_id=reply.person_id,
            created_at=now,
            updated_at=now,
        )
    risk.mitigation = report.mitigation or risk.mitigation
    risk.updated_at = now
    session.add(risk)


def answer_of(updates: Sequence[ActionUpdate]) -> Answer:
    """An answer that only updates actions (an email, or a reply applied from review)."""
    return Answer(updates=tuple(updates))
