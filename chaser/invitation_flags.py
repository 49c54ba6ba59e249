"""Telling a group's secretary when a meeting's mandatory invitees were not all invited in time.

From ``invitations.flag_days`` before each meeting (cycles.yaml, 14 by default), every tick
reads who holds a sent invitation to it (the latest ``invitation`` record per address, and its
outbox row). If any mandatory invitee does not — no record yet, its row still waiting or dead,
or cancelled — the group's secretary gets one email naming each of them and why, with the
command and page that put it right. The email is an outbox row keyed
``<plan>/invitations_missing:<meeting>:<whom>``, so a meeting is flagged once, however many ticks
see it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import sqlmodel
import structlog
from sqlalchemy import select
from sqlmodel import Session

from chaser.runtime import PlanRuntime, Runtime
from notifications.channel import Address
from notifications.invitation_notices import MissingLine, render_invitations_missing
from notifications.outbox import DELIVERY, NewDelivery, enqueue
from workflows.calendar.cycles import LONDON
from workflows.calendar.invitations import Method, Standing, invitees, missing_invitees
from workflows.calendar.meetings import meetings
from workflows.chasing.chases import outbox_key
from workflows.replies.links import reference_for
from workflows.store.invitation_models import Invitation
from workflows.store.models import Plan

log = structlog.get_logger(__name__)

KIND = "invitations_missing"
INVITATION = Invitation.__table__  # type: ignore[attr-defined]


def _same_moment(stored: datetime, now: datetime) -> bool:
    """Whether a stored timestamp is ``now`` (SQLite gives it back without its timezone)."""
    if stored.tzinfo is None and now.tzinfo is not None:
        stored = stored.replace(tzinfo=UTC)
    return stored == now


def flag_missing_invitations(runtime: Runtime, plan: PlanRuntime, now: datetime) -> int:
    """Enqueue one email to the secretary of each meeting within its group's flag window whose
    mandatory invitees do not all hold a sent invitation. Returns how many it enqueued."""
    cycles = plan.cycles(now)
    groups = {g.code: g for g in cycles.groups if any(i.mandatory for i in invitees(g))}
    if not groups:
        return 0
    today = now.astimezone(LONDON).date()
    horizon = max(g.invite_flag_days for g in groups.values()) + 1
    coming = meetings(cycles, today, today + timedelta(days=horizon), groups=list(groups))
    if not coming:
        return 0
    with Session(runtime.engine) as session:
        row = session.exec(sqlmodel.select(Plan).where(Plan.code == plan.code)).first()
        if row is None or row.id is None:
            return 0
        plan_id, title = row.id, row.title
    keys = [m.key for m in coming]
    with runtime.engine.connect() as conn:
        records = conn.execute(
            select(
                INVITATION.c.meeting_key,
                INVITATION.c.email,
                INVITATION.c.sequence,
                INVITATION.c.method,
                DELIVERY.c.state,
                DELIVERY.c.last_error,
                INVITATION.c.created_at,
            )
            .join(DELIVERY, DELIVERY.c.key == INVITATION.c.delivery_key, isouter=True)
            .where(INVITATION.c.plan_id == plan_id, INVITATION.c.meeting_key.in_(keys))
        ).all()
    latest: dict[tuple[str, str], tuple[int, Standing]] = {}
    just_queued: set[str] = set()
    for meeting_key, email, sequence, method, state, error, created_at in records:
        if _same_moment(created_at, now):
            just_queued.add(meeting_key)
        before = latest.get((meeting_key, email))
        if before is None or sequence > before[0]:
            record = Standing(Method(method), str(state or "pending"), error or "")
            latest[(meeting_key, email)] = (sequence, record)
    sender = plan.chasing.sender
    base = plan.chasing.form_url.rstrip("/")
    deliveries: list[NewDelivery] = []
    for meeting in coming:
        group = groups[meeting.group]
        if meeting.key in just_queued:
            continue  # invitations enqueued by this very tick go out now; the next one judges
        standing = {email: s for (key, email), (_, s) in latest.items() if key == meeting.key}
        missing = missing_invitees(meeting, group, standing, now=now)
        if not missing:
            continue
        secretary = group.secretary
        if secretary is None or not secretary.email:
            log.warning("invitations_missing_unannounced", plan=plan.code, meeting=meeting.key)
            continue
        who = hashlib.sha256(secretary.email.lower().encode()).hexdigest()[:12]
        key = outbox_key(plan.code, f"{KIND}:{meeting.key}:{who}")
        starts = meeting.starts_at.astimezone(LONDON)
        commands = [f"chaser outbox list --plan {plan.code}"]
        if any(m.reason for m in missing):
            commands.append(f'chaser outbox retry --plan {plan.code} --by "YOUR NAME"')
        message = render_invitations_missing(
            [
                MissingLine(m.invitee.name, m.invitee.role, m.invitee.email, m.why, m.reason)
                for m in missing
            ],
            key=key,
            to=Address(secretary.name, secretary.email),
            meeting=f"{meeting.group_name} on {starts:%A} {starts.day} {starts:%B %Y}",
            when=f"{starts:%H:%M}, UK time",
            plan_title=title,
            page=f"{base}/meetings/{quote(meeting.key, safe=':')}",
            commands=commands,
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
                meeting_key=meeting.key,
            )
        )
    if not deliveries:
        return 0
    with runtime.engine.begin() as conn:
        added = enqueue(conn, deliveries, now=now)
    if added:
        log.info("invitations_missing_flagged", plan=plan.code, count=added)
    return added
