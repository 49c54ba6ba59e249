"""Sending each meeting's calendar invitations through the outbox, and recording them.

Every tick, for every plan, the calendar as it is now is compared with the invitations already
recorded (:func:`workflows.calendar.invitations.invitations_due`); what is new — an invitation
to a meeting coming within its group's lead time (six weeks by default), an update for one that
moved, a cancellation — is recorded and enqueued in one transaction. The outbox key names the
meeting (by its slot), the invitee (a digest of their address, keys carry no addresses) and
the sequence, so a second tick or a second worker adds nothing and every message goes once.

When the email channel is Microsoft Graph (its class says ``calendar_events``), a meeting's
invitations are its one calendar event in the shared mailbox instead
(:mod:`integrations.graph.calendar`): each tick's changes to a meeting become one outbox row,
keyed by the meeting and the change's number (``invitation:<meeting>:event:<n>``), its calendar
carrying every attendee. Each invitee's record is written as for email (``via`` ``graph``, all
pointing at that row), so the digest, the flags and the compliance report read them alike; the
event's Graph ``id`` is copied onto them from the row's receipt once it is sent. A meeting
whose last change is still in the outbox waits for it, so changes reach Graph in order. The
attendees' answers, which Exchange keeps on the event, are read back onto the records at most
every :data:`ANSWERS_EVERY` until the meeting starts (:func:`read_event_answers`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlmodel
import structlog
from sqlalchemy import and_, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from chaser.runtime import PlanRuntime, Runtime
from notifications.channel import Address, DeliveryError, log_reason
from notifications.invitations import render_event_invitation, render_invitation
from notifications.outbox import DELIVERY, NewDelivery, enqueue
from workflows.calendar.cycles import LONDON, Group, Person
from workflows.calendar.invitations import (
    InvitationDue,
    Method,
    Sent,
    event_changes,
    invitation_ics,
    invitations_due,
    invitees,
    meeting_ics,
)
from workflows.calendar.meetings import meetings
from workflows.chasing.chases import outbox_key
from workflows.replies.links import reference_for
from workflows.store.invitation_models import Invitation
from workflows.store.models import DeliveryState, Plan

log = structlog.get_logger(__name__)

KIND = "invitation"
INVITATION = Invitation.__table__  # type: ignore[attr-defined]
#: How far ahead the calendar is read: far enough to see a meeting moved beyond the invitation
#: horizon after its invitations went.
LOOK_AHEAD = timedelta(days=400)
#: How often a coming meeting's Graph event is asked for its attendees' answers: answers are
#: worth having within the hour, and a Graph read every tick would be wasted.
ANSWERS_EVERY = timedelta(hours=1)


def enqueue_invitations(runtime: Runtime, plan: PlanRuntime, now: datetime) -> int:
    """Record and enqueue the invitations, updates and cancellations due now for ``plan``'s
    groups (those with anyone to invite). Returns how many messages it enqueued."""
    cycles = plan.cycles(now)
    groups = [g for g in cycles.groups if invitees(g)]
    if not groups:
        return 0
    with Session(runtime.engine) as session:
        row = session.exec(sqlmodel.select(Plan).where(Plan.code == plan.code)).first()
        if row is None or row.id is None:
            return 0
        plan_id, title = row.id, row.title
    today = now.astimezone(LONDON).date()
    coming = meetings(
        cycles,
        today,
        today + LOOK_AHEAD,
        groups=[g.code for g in groups],
        include_cancelled=True,
    )
    as_events = sends_calendar_events(runtime)
    if as_events:
        with runtime.engine.begin() as conn:
            record_event_ids(conn, plan_id)
        read_event_answers(runtime, plan_id, now)
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(INVITATION).where(INVITATION.c.plan_id == plan_id)).all()
    sent = [
        Sent(r.uid, r.email, r.sequence, Method(r.method), r.starts_at, r.ends_at, r.location)
        for r in rows
    ]
    sender = plan.chasing.sender
    domain = sender.mailbox.rpartition("@")[2] or "chaser.invalid"
    due = invitations_due(plan.code, coming, groups, sent, now=now, domain=domain)
    if not due:
        return 0
    if as_events:
        return _enqueue_events(runtime, plan, due, groups, rows, plan_id, title, now)
    by_group = {g.code: g for g in groups}
    organizer = Person(sender.name or title, sender.mailbox)
    deliveries: list[NewDelivery] = []
    records: list[dict[str, object]] = []
    for item in due:
        group = by_group[item.meeting.group]
        who = hashlib.sha256(item.invitee.email.encode()).hexdigest()[:12]
        key = outbox_key(plan.code, f"{KIND}:{item.meeting.key}:{who}:{item.sequence}")
        calendar = invitation_ics(
            item,
            organizer=organizer,
            summary=item.meeting.group_name,
            description=" ".join((group.purpose or "").split()),
            stamp=now,
        )
        secretary = group.secretary
        message = render_invitation(
            item,
            key=key,
            calendar=calendar,
            purpose=group.purpose or "",
            secretary=(
                Address(secretary.name, secretary.email)
                if secretary is not None and secretary.email
                else None
            ),
            sender=sender.mailbox,
            sender_name=sender.name,
            templates=plan.templates,
        )
        deliveries.append(
            NewDelivery(
                message=message,
                reference=reference_for(runtime.secret, key),
                kind=KIND,
                not_before=now,
                plan_id=plan_id,
                meeting_key=item.meeting.key,
            )
        )
        records.append(_record(plan_id, item, key, now))
    with runtime.engine.begin() as conn:
        _insert_records(conn, records)
        added = enqueue(conn, deliveries, now=now)
    if added:
        log.info("invitations_enqueued", plan=plan.code, count=added)
    return added


def sends_calendar_events(runtime: Runtime) -> bool:
    """Whether the channel carrying email makes invitations calendar events (Graph)."""
    return bool(getattr(runtime.channels.get("email"), "calendar_events", False))


def record_event_ids(conn: Connection, plan_id: int) -> int:
    """Copy each sent Graph change's event ``id`` (its outbox receipt) onto the invitation
    records it carried that lack it. Returns how many records it filled in."""
    sent_row = and_(
        DELIVERY.c.key == INVITATION.c.delivery_key,
        DELIVERY.c.state == DeliveryState.SENT.value,
        DELIVERY.c.provider_id != "",
    )
    lacking = and_(
        INVITATION.c.plan_id == plan_id,
        INVITATION.c.via == "graph",
        INVITATION.c.graph_event_id == "",
        exists(select(DELIVERY.c.id).where(sent_row)),
    )
    # Read first: most ticks have nothing to fill in, and a read takes no write lock.
    if conn.execute(select(INVITATION.c.id).where(lacking).limit(1)).first() is None:
        return 0
    filled = conn.execute(
        update(INVITATION)
        .where(lacking)
        .values(graph_event_id=select(DELIVERY.c.provider_id).where(sent_row).scalar_subquery())
    )
    return int(filled.rowcount or 0)


def read_event_answers(runtime: Runtime, plan_id: int, now: datetime) -> int:
    """Copy the answers Exchange holds on each coming meeting's Graph event onto the latest
    invitation record of each attendee who gave one, for events not read in the last
    :data:`ANSWERS_EVERY`. Graph being unreachable leaves it for a later tick. Returns how many
    records changed."""
    calendar = getattr(runtime.channels.get("email"), "calendar", None)
    if calendar is None:
        return 0
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(
                INVITATION.c.id,
                INVITATION.c.uid,
                INVITATION.c.email,
                INVITATION.c.sequence,
                INVITATION.c.method,
                INVITATION.c.response,
                INVITATION.c.graph_event_id,
                INVITATION.c.graph_checked_at,
            ).where(
                INVITATION.c.plan_id == plan_id,
                INVITATION.c.via == "graph",
                INVITATION.c.starts_at > now,
            )
        ).all()
    latest: dict[tuple[str, str], Any] = {}
    for r in rows:
        key = (r.uid, r.email)
        if key not in latest or r.sequence > latest[key].sequence:
            latest[key] = r
    due: dict[str, list[Any]] = {}
    for r in latest.values():
        checked = r.graph_checked_at
        if checked is not None and checked.tzinfo is None:
            checked = checked.replace(tzinfo=now.tzinfo)
        fresh = checked is not None and now - checked < ANSWERS_EVERY
        if r.method == str(Method.REQUEST) and r.graph_event_id and not fresh:
            due.setdefault(r.graph_event_id, []).append(r)
    changed = 0
    for event_id, records in due.items():
        try:
            answers = calendar.answers(event_id)
        except DeliveryError as exc:
            log.warning("invitation_answers_unavailable", error=log_reason(exc))
            return changed
        with runtime.engine.begin() as conn:
            for r in records:
                values: dict[str, object] = {"graph_checked_at": now}
                answer = answers.get(r.email)
                if answer is not None and answer.answer != r.response:
                    values.update(response=answer.answer, responded_at=answer.at or now)
                    changed += 1
                conn.execute(update(INVITATION).where(INVITATION.c.id == r.id).values(**values))
    if changed:
        log.info("invitation_answers_recorded", count=changed)
    return changed


def _enqueue_events(
    runtime: Runtime,
    plan: PlanRuntime,
    due: list[InvitationDue],
    groups: list[Group],
    rows: Sequence[Any],
    plan_id: int,
    title: str,
    now: datetime,
) -> int:
    """One outbox row per meeting changed, its records beside it (the Graph path)."""
    with runtime.engine.connect() as conn:
        waiting = set(
            conn.execute(
                select(INVITATION.c.uid)
                .join(DELIVERY, DELIVERY.c.key == INVITATION.c.delivery_key)
                .where(
                    INVITATION.c.plan_id == plan_id,
                    INVITATION.c.via == "graph",
                    DELIVERY.c.state.not_in([DeliveryState.SENT.value, DeliveryState.DEAD.value]),
                )
            ).scalars()
        )
    changes_before: dict[str, set[str]] = {}
    for r in rows:
        if r.via == "graph":
            changes_before.setdefault(r.uid, set()).add(r.delivery_key)
    by_group = {g.code: g for g in groups}
    sender = plan.chasing.sender
    organizer = Person(sender.name or title, sender.mailbox)
    added = 0
    for change in event_changes(due, groups):
        if change.uid in waiting:
            continue  # its last change is not yet in Graph: this one follows it, next tick
        number = len(changes_before.get(change.uid, ()))
        key = outbox_key(plan.code, f"{KIND}:{change.meeting.key}:event:{number}")
        group = by_group[change.meeting.group]
        calendar = meeting_ics(
            change,
            sequence=number,
            organizer=organizer,
            summary=change.meeting.group_name,
            description=" ".join((group.purpose or "").split()),
            stamp=now,
        )
        secretary = group.secretary
        message = render_event_invitation(
            change,
            key=key,
            calendar=calendar,
            purpose=group.purpose or "",
            secretary=(
                Address(secretary.name, secretary.email)
                if secretary is not None and secretary.email
                else None
            ),
            sender=sender.mailbox,
            sender_name=sender.name,
            templates=plan.templates,
        )
        delivery = NewDelivery(
            message=message,
            reference=reference_for(runtime.secret, key),
            kind=KIND,
            not_before=now,
            plan_id=plan_id,
            meeting_key=change.meeting.key,
        )
        with runtime.engine.begin() as conn:
            # The row first: a second worker that got there before adds nothing, records included.
            if enqueue(conn, [delivery], now=now):
                _insert_records(
                    conn, [_record(plan_id, i, key, now, via="graph") for i in change.items]
                )
                added += 1
    if added:
        log.info("invitation_events_enqueued", plan=plan.code, count=added)
    return added


def _record(
    plan_id: int, item: InvitationDue, key: str, now: datetime, *, via: str = "email"
) -> dict[str, object]:
    return {
        "plan_id": plan_id,
        "meeting_key": item.meeting.key,
        "uid": item.uid,
        "email": item.invitee.email,
        "name": item.invitee.name[:200],
        "role": item.invitee.role[:200],
        "mandatory": item.invitee.mandatory,
        "sequence": item.sequence,
        "method": str(item.method),
        "why": item.why,
        "starts_at": item.meeting.starts_at,
        "ends_at": item.meeting.ends_at,
        "location": item.location[:300],
        "delivery_key": key,
        "created_at": now,
        "response": "",
        "via": via,
        "graph_event_id": "",
    }


def _insert_records(conn: Connection, records: list[dict[str, object]]) -> None:
    if not records:
        return
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(INVITATION).on_conflict_do_nothing(
            index_elements=["plan_id", "uid", "email", "sequence"]
        ),
        records,
    )
