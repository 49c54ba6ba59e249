"""Applying a lead's update to the plan: the action changes, and the history says who, when, how."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from workflows.plan.dates import FuzzyDate
from workflows.store.models import Action, ChangeKind, StatusChange

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


class UnknownAction(LookupError):
    """An update names an action the plan does not have."""


def apply_updates(
    session: Session,
    *,
    plan_id: int,
    person_id: int | None,
    channel: str,
    updates: list[ActionUpdate],
    now: datetime,
    late: bool = False,
    reply_id: int | None = None,
) -> list[StatusChange]:
    """Apply each update to its action and append it to the history. Does not commit."""
    refs = [u.ref for u in updates]
    actions = {
        a.ref: a
        for a in session.exec(
            select(Action).where(Action.plan_id == plan_id, col(Action.ref).in_(refs))
        )
    }
    missing = [r for r in refs if r not in actions]
    if missing:
        raise UnknownAction(f"no action {', '.join(missing)} in this plan")
    changes = []
    for update in updates:
        action = actions[update.ref]
        assert action.id is not None
        forecast = update.forecast
        change = StatusChange(
            action_id=action.id,
            recorded_at=now,
            person_id=person_id,
            channel=channel,
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
            late=late,
            reply_id=reply_id,
        )
        session.add(change)
        changes.append(change)
        if update.status:
            action.status, action.status_label = update.status, update.status_label
            action.embedded = update.embedded
        if forecast is not None:
            action.forecast_due = forecast.last_day
            action.forecast_due_precision = str(forecast.precision)
        if update.narrative:
            action.progress = update.narrative  # the latest narrative; evidence stays in history
        action.updated_at = now
    session.flush()
    return changes
