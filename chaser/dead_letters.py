"""Telling the secretaries when messages die, so that an outage is never a silent one.

At most once an hour, per plan, the secretary of each of the plan's chased meetings gets one
email listing every message for that meeting that died since the last such email (one for no
meeting, or a group with no secretary, goes to them all): who was not asked, for which
meeting, why, and the command that sends them again once the cause is fixed. The email is an
outbox row like any other (keyed ``<plan>/dead_letters:<hour>:<whom>``), so it goes once; while
it waits (the mail is down for it too) no other is added, and ``chaser outbox retry`` does not
send again an email about messages it is sending again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlmodel
import structlog
from sqlalchemy import func, select, update
from sqlmodel import Session

from chaser.runtime import PlanRuntime, Runtime
from notifications.channel import Address
from notifications.outbox import DELIVERY, DeadLetter, NewDelivery, dead_letters, enqueue
from notifications.render import DeadLetterLine, render_dead_letters
from workflows.calendar.cycles import LONDON
from workflows.chasing.chases import outbox_key
from workflows.plan.people import plan_people
from workflows.replies.links import reference_for
from workflows.store.models import DeliveryState, Plan
from workflows.views.meeting_status import KIND_WORDS

log = structlog.get_logger(__name__)

KIND = "dead_letters"
#: The secretary's own notices (this one, and the one naming advisers not invited): one that
#: died is not announced by another email to the same secretary.
NOTICES = [KIND, "invitations_missing"]
UNSENT = [str(s) for s in (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SUBMITTING)]


def _meeting(key: str) -> str:
    """``SIB:2025-09-30`` -> ``SIB 30 Sep 2025``."""
    group, _, day = key.partition(":")
    try:
        when = datetime.fromisoformat(day)
    except ValueError:
        return key
    return f"{group} {when.day} {when:%b %Y}"


def _lines(letters: list[DeadLetter], names: dict[str, str]) -> list[DeadLetterLine]:
    return [
        DeadLetterLine(
            what=KIND_WORDS.get(d.kind, d.kind.replace("_", " ").capitalize())
            + (" (Teams)" if d.channel == "teams" else ""),
            meeting=_meeting(d.meeting_key) if d.meeting_key else "",
            to=names.get(d.recipient_code) or d.recipient_code or "the secretary",
            when=f"{d.died_at.astimezone(LONDON):%a %d %b %Y %H:%M}",
            reason=" ".join(d.reason.split())[:300],
        )
        for d in letters
    ]


#: The least time between two emails about a plan's dead letters.
SPACING = timedelta(hours=1)


WITHDRAWN = "withdrawn: every message it listed has been queued again or sent since"


def withdraw_stale_notices(runtime: Runtime, plan_id: int, now: datetime) -> int:
    """Withdraw unsent notices (still waiting because the mail is down for them too) once no
    message that had died when they were written is dead any more: after ``chaser outbox
    retry`` they would only tell the secretary, late, of an outage that is over. A withdrawn
    notice is kept, dead with :data:`WITHDRAWN` as its reason; it is never sent."""
    with runtime.engine.begin() as conn:
        waiting = conn.execute(
            select(DELIVERY.c.id, DELIVERY.c.created_at).where(
                DELIVERY.c.kind == KIND,
                DELIVERY.c.plan_id == plan_id,
                DELIVERY.c.state == DeliveryState.PENDING,
            )
        ).all()
        if not waiting:
            return 0
        letters = dead_letters(conn, plan_id=plan_id, kinds_left_out=NOTICES)
        still_dead = [d.died_at for d in letters]
        stale = [n.id for n in waiting if not any(died <= n.created_at for died in still_dead)]
        if not stale:
            return 0
        withdrawn = conn.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(stale), DELIVERY.c.state == DeliveryState.PENDING)
            .values(state=DeliveryState.DEAD, last_error=WITHDRAWN, updated_at=now)
        ).rowcount
    if withdrawn:
        log.info("dead_letter_notices_withdrawn", plan_id=plan_id, count=withdrawn)
    return int(withdrawn)


def enqueue_dead_letter_notice(runtime: Runtime, plan: PlanRuntime, now: datetime) -> int:
    """Enqueue an email to each secretary about the plan's dead letters, if any died since the
    last one and that was over an hour ago. Returns how many it enqueued."""
    with Session(runtime.engine) as session:
        row = session.exec(sqlmodel.select(Plan).where(Plan.code == plan.code)).first()
        if row is None or row.id is None:
            return 0
    withdraw_stale_notices(runtime, row.id, now)
    with runtime.engine.connect() as conn:
        last = conn.execute(
            select(func.max(DELIVERY.c.created_at)).where(
                DELIVERY.c.kind == KIND, DELIVERY.c.plan_id == row.id
            )
        ).scalar_one()
        letters = dead_letters(conn, plan_id=row.id, since=last, kinds_left_out=NOTICES)
        unsent = conn.execute(
            select(func.count()).where(
                DELIVERY.c.kind == KIND,
                DELIVERY.c.plan_id == row.id,
                DELIVERY.c.state.in_(UNSENT),
            )
        ).scalar_one()
    if not letters or unsent or (last is not None and now - last < SPACING):
        return 0  # nothing new; or the last email has not gone yet (the mail is down too)
    with Session(runtime.engine) as session:  # the names, only when there is news to tell
        names = {p.code: p.name for p in plan_people(session, row)}
    cycles = plan.cycles(now)
    secretary_of = {
        g.code: Address(g.secretary.name, g.secretary.email)
        for g in cycles.groups
        if g.code in plan.chasing.meetings and g.secretary is not None and g.secretary.email
    }
    # Each secretary hears about their own meetings' messages; one for no meeting (a sign-in
    # link, say), or for a group with no secretary, goes to them all.
    everyone = {a.email.lower(): a for a in secretary_of.values()}
    told: dict[str, tuple[Address, list[DeadLetter]]] = {}
    for letter in letters:
        mine = (
            secretary_of.get(letter.meeting_key.partition(":")[0]) if letter.meeting_key else None
        )
        for address in [mine] if mine is not None else everyone.values():
            told.setdefault(address.email.lower(), (address, []))[1].append(letter)
    if not told:
        log.warning("dead_letters_unannounced", plan=plan.code, count=len(letters))
        return 0
    hour = f"{now.astimezone(LONDON):%Y-%m-%dT%H}"  # two ticks in one hour make one email
    sender = plan.chasing.sender
    command = f'chaser outbox retry --plan {plan.code} --by "YOUR NAME"'
    deliveries = []
    for email, (secretary, theirs) in told.items():
        who = hashlib.sha256(email.encode()).hexdigest()[:12]  # keys carry no addresses
        key = outbox_key(plan.code, f"{KIND}:{hour}:{who}")
        message = render_dead_letters(
            _lines(theirs, names),
            key=key,
            to=secretary,
            plan_title=row.title,
            command=command,
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
                plan_id=row.id,
            )
        )
    with runtime.engine.begin() as conn:
        added = enqueue(conn, deliveries, now=now)
    if added:
        log.info("dead_letters_announced", plan=plan.code, count=len(letters))
    return added
