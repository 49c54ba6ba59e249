"""The outbox as people read it: its messages by state, each with its attempts and why it
failed, and the counts the secretary's home page, ``chaser status`` and ``/health`` show.

States as shown: **waiting** (queued, not tried yet), **failed** (tried, failed, to be tried
again), **sending** (with a channel now), **sent**, and **dead** (given up on: sent again only
when someone says so). Queries only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, type_coerce
from sqlmodel import Session, col, select

from workflows.store.models import Delivery, DeliveryState, Person, Plan
from workflows.store.types import UTCDateTime
from workflows.views.meeting_status import message_kind

WAITING = [str(s) for s in (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SUBMITTING)]
SHOWN_STATES = ("dead", "failed", "waiting", "sending", "sent")
STATE_TEXT = {
    "dead": "Not delivered",
    "failed": "Failed, trying again",
    "waiting": "Waiting to go",
    "sending": "Sending",
    "sent": "Sent",
}
#: The most messages one listing shows (newest first).
LIMIT = 500


@dataclass(frozen=True)
class OutboxCounts:
    dead: int
    pending: int  # waiting, failed and sending: not yet sent nor given up on
    oldest_pending: datetime | None  # when the oldest of those was queued

    def oldest_pending_seconds(self, now: datetime) -> int | None:
        if self.oldest_pending is None:
            return None
        return max(0, int((now - self.oldest_pending).total_seconds()))


def shown_state(row: Delivery) -> str:
    return state_of(row.state, row.attempts)


def state_of(state: str, attempts: int) -> str:
    """The state as shown: a pending message that has failed before is "failed"."""
    if state == DeliveryState.PENDING:
        return "failed" if attempts > 0 else "waiting"
    if state in (DeliveryState.SENDING, DeliveryState.SUBMITTING):
        return "sending"
    return str(state)


def outbox_counts(
    session: Session, plan_id: int | None = None, *, plan_code: str | None = None
) -> OutboxCounts:
    """The counts for one plan's messages (by id, or by code), or for every message when
    neither is given. One indexed query."""
    mine: list[Any] = []
    if plan_id is not None:
        mine.append(Delivery.plan_id == plan_id)
    if plan_code is not None:
        plan = select(Plan.id).where(Plan.code == plan_code).scalar_subquery()
        mine.append(Delivery.plan_id == plan)
    waiting = col(Delivery.state).in_(WAITING)
    # Only the dead and waiting rows (an index range, few rows), never every message sent:
    # two years of requests, each a large row, would make /health read them all.
    mine.append(col(Delivery.state).in_([str(DeliveryState.DEAD), *WAITING]))
    dead, pending, oldest = session.exec(
        select(
            func.coalesce(
                func.sum(case((col(Delivery.state) == str(DeliveryState.DEAD), 1), else_=0)), 0
            ),
            func.coalesce(func.sum(case((waiting, 1), else_=0)), 0),
            func.min(type_coerce(case((waiting, Delivery.created_at), else_=None), UTCDateTime())),
        ).where(*mine)
    ).one()
    return OutboxCounts(int(dead), int(pending), oldest)


@dataclass(frozen=True)
class OutboxLine:
    id: int
    key: str
    kind: str
    kind_text: str
    channel: str
    state: str  # one of SHOWN_STATES
    state_text: str
    to_code: str
    to_name: str
    meeting_key: str
    attempts: int
    reason: str
    queued_at: datetime
    changed_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None


def _line(row: Delivery, names: dict[str, str]) -> OutboxLine:
    state = shown_state(row)
    assert row.id is not None
    return OutboxLine(
        id=row.id,
        key=row.key,
        kind=row.kind,
        kind_text=message_kind(row.kind),
        channel=row.channel,
        state=state,
        state_text=STATE_TEXT.get(state, state.capitalize()),
        to_code=row.recipient_code,
        to_name=names.get(row.recipient_code, ""),
        meeting_key=row.meeting_key,
        attempts=row.attempts,
        reason=" ".join(row.last_error.split()),
        queued_at=row.created_at,
        changed_at=row.updated_at,
        next_attempt_at=row.not_before if row.state == DeliveryState.PENDING else None,
        sent_at=row.sent_at,
    )


def _plan_and_names(session: Session, plan_code: str) -> tuple[Plan | None, dict[str, str]]:
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None:
        return None, {}
    people = session.exec(select(Person).where(Person.partnership == plan.partnership))
    return plan, {p.code: p.name for p in people}


def outbox_lines(
    session: Session, plan_code: str, state: str = ""
) -> tuple[list[OutboxLine], dict[str, int]] | None:
    """The plan's messages in ``state`` ("" for all), newest first (at most :data:`LIMIT`),
    and how many there are in each state. None when the store has no such plan."""
    plan, names = _plan_and_names(session, plan_code)
    if plan is None or plan.id is None:
        return None
    rows = session.exec(
        select(Delivery.state, Delivery.attempts).where(Delivery.plan_id == plan.id)
    ).all()
    counts = dict.fromkeys(SHOWN_STATES, 0)
    for db_state, attempts in rows:
        shown = state_of(db_state, attempts)
        counts[shown] = counts.get(shown, 0) + 1
    query = select(Delivery).where(Delivery.plan_id == plan.id)
    if state == "dead":
        query = query.where(Delivery.state == str(DeliveryState.DEAD))
    elif state == "sent":
        query = query.where(Delivery.state == str(DeliveryState.SENT))
    elif state in ("waiting", "failed"):
        query = query.where(Delivery.state == str(DeliveryState.PENDING))
        query = query.where(Delivery.attempts > 0 if state == "failed" else Delivery.attempts == 0)
    elif state == "sending":
        query = query.where(
            col(Delivery.state).in_([str(DeliveryState.SENDING), str(DeliveryState.SUBMITTING)])
        )
    found = session.exec(
        query.order_by(col(Delivery.updated_at).desc(), col(Delivery.id).desc()).limit(LIMIT)
    ).all()
    return [_line(r, names) for r in found], counts


def outbox_message(
    session: Session, plan_code: str, delivery_id: int
) -> tuple[OutboxLine, Delivery] | None:
    """One of the plan's messages, None if it is not the plan's."""
    plan, names = _plan_and_names(session, plan_code)
    row = session.get(Delivery, delivery_id)
    if plan is None or row is None or row.plan_id != plan.id:
        return None
    return _line(row, names), row
