"""Sending each meeting's calendar invitations through the outbox, and recording them.

Every tick, for every plan, the calendar as it is now is compared with the invitations already
recorded (:func:`workflows.calendar.invitations.invitations_due`); what is new — an invitation
to a meeting coming within its group's lead time (six weeks by default), an update for one that
moved, a cancellation — is recorded and enqueued in one transaction. The outbox key names the
meeting (by its slot), the invitee (a digest of their address, keys carry no addresses) and
the sequence, so a second tick or a second worker adds nothing and every message goes once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlmodel
import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from chaser.runtime import PlanRuntime, Runtime
from notifications.channel import Address
from notifications.invitations import render_invitation
from notifications.outbox import NewDelivery, enqueue
from workflows.calendar.cycles import LONDON, Person
from workflows.calendar.invitations import Method, Sent, invitation_ics, invitations_due, invitees
from workflows.calendar.meetings import meetings
from workflows.chasing.chases import outbox_key
from workflows.replies.links import reference_for
from workflows.store.invitation_models import Invitation
from workflows.store.models import Plan

log = structlog.get_logger(__name__)

KIND = "invitation"
INVITATION = Invitation.__table__  # type: ignore[attr-defined]
#: How far ahead the calendar is read: far enough to see a meeting moved beyond the invitation
#: horizon after its invitations went.
LOOK_AHEAD = timedelta(days=400)


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
    with runtime.engine.connect() as conn:
        sent = [
            Sent(r.uid, r.email, r.sequence, Method(r.method), r.starts_at, r.ends_at, r.location)
            for r in conn.execute(select(INVITATION).where(INVITATION.c.plan_id == plan_id))
        ]
    sender = plan.chasing.sender
    domain = sender.mailbox.rpartition("@")[2] or "chaser.invalid"
    due = invitations_due(plan.code, coming, groups, sent, now=now, domain=domain)
    if not due:
        return 0
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
        records.append(
            {
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
            }
        )
    with runtime.engine.begin() as conn:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        conn.execute(
            dialect.insert(INVITATION).on_conflict_do_nothing(
                index_elements=["plan_id", "uid", "email", "sequence"]
            ),
            records,
        )
        added = enqueue(conn, deliveries, now=now)
    if added:
        log.info("invitations_enqueued", plan=plan.code, count=added)
    return added
