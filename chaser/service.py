"""The service's loop: ``tick(now)`` enqueues what is due, then dispatches what is claimable.

The rules (:func:`workflows.chasing.rules.due_chases`) decide what must be said; this module renders
each chase for its channels, signs its reply link and enqueues it under its idempotency key,
then lets the dispatcher send. ``tick`` is idempotent: calling it twice at the same ``now``, or
from two processes, sends nothing twice. It lives in the composition root, not in
``workflows/``, because it wires the domain to the renderers and channels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time as time_
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from chaser.dead_letters import enqueue_dead_letter_notice
from chaser.digests import enqueue_due_digests
from chaser.invitation_flags import flag_missing_invitations
from chaser.invitations import enqueue_invitations, record_event_ids
from chaser.runtime import PlanRuntime, Runtime
from chaser.settings_reload import Reloaded
from chaser.web_feeds import refresh_flags
from integrations.graph.inbox import StaleCursorError
from integrations.uploads import sweep_uploads
from notifications.channel import Address, DeliveryError, OutgoingMessage, log_reason
from notifications.outbox import DispatchReport, NewDelivery, enqueue
from notifications.render import render_chase, render_teams
from workflows.calendar.cycles import LONDON
from workflows.chasing.chases import Chase
from workflows.chasing.rules import due_chases, in_send_window
from workflows.chasing.state import UnknownPlan, load_chase_state
from workflows.replies.authentication import Receiver
from workflows.replies.intake import ingest_email
from workflows.replies.links import LinkClaims, reference_for, sign_link
from workflows.store.models import Delivery, MailboxCursor, Plan
from workflows.store.read_models import ReadModelState, TickMarker, touch

log = structlog.get_logger(__name__)
#: A reply link stays usable this long after the meeting (later updates are marked late).
LINK_GRACE = timedelta(days=14)


@dataclass
class Planned:
    """One message the tick wants in the outbox."""

    chase: Chase
    delivery: NewDelivery
    new: bool = False


@dataclass
class TickReport:
    now: datetime
    planned: list[Planned]
    enqueued: int
    dispatch: DispatchReport | None
    ingested: int = 0
    #: Plans configured but not yet imported into the store (nobody can be chased for them).
    missing: list[str] = field(default_factory=list)


def _plan(runtime: Runtime, plan: PlanRuntime | None, code: str = "") -> PlanRuntime:
    if plan is not None:
        return plan
    # (not plans.get(code, runtime.plan): with several plans, runtime.plan raises)
    return runtime.plans[code] if code in runtime.plans else runtime.plan  # noqa: SIM401


def link_for(runtime: Runtime, chase: Chase, plan: PlanRuntime | None = None) -> str:
    plan = _plan(runtime, plan, chase.plan_code)
    if chase.meeting_date is not None:
        until = datetime.combine(chase.meeting_date, time(23, 59), tzinfo=LONDON) + LINK_GRACE
    else:
        until = (chase.send_at or runtime.clock()) + timedelta(days=21)
    token = sign_link(
        runtime.secret,
        LinkClaims(
            person=chase.to.code,
            lead=chase.lead.code,
            key=chase.key,
            meeting=chase.meeting_key,
            expires_at=until.astimezone(UTC),
        ),
    )
    return f"{plan.chasing.form_url.rstrip('/')}/r/{token}"


def messages_for(
    runtime: Runtime, chase: Chase, plan: PlanRuntime | None = None
) -> list[tuple[OutgoingMessage, str]]:
    """The rendered message for each of the chase's channels, with its reference."""
    plan = _plan(runtime, plan, chase.plan_code)
    link = link_for(runtime, chase, plan)
    reference = reference_for(runtime.secret, chase.key)
    sender = plan.chasing.sender
    out: list[tuple[OutgoingMessage, str]] = []
    for channel in chase.channels:
        if channel == "email":
            message = render_chase(
                chase,
                link=link,
                reference=reference,
                sender=sender.mailbox,
                sender_name=sender.name,
                templates=plan.templates,
                reply_to=Address(sender.name, sender.mailbox),
            )
            out.append((message, reference))
        elif channel == "teams" and chase.group_code:
            message = render_teams(
                chase,
                link=link,
                reference=reference,
                webhook=chase.group_code,
                templates=plan.templates,
            )
            key = f"{chase.key}:teams"
            out.append((dataclasses.replace(message, key=key), reference_for(runtime.secret, key)))
    return out


def plan_tick(
    runtime: Runtime, now: datetime, *, plans: Sequence[str] | None = None
) -> list[Planned]:
    """What the rules say is due at ``now`` for each plan (or those named), rendered, and
    whether the outbox lacks it yet. A plan not yet in the store raises UnknownPlan."""
    planned: list[Planned] = []
    for code in plans if plans is not None else list(runtime.plans):
        planned += _plan_tick(runtime, runtime.plans[code], now)
    return planned


def _plan_tick(runtime: Runtime, plan: PlanRuntime, now: datetime) -> list[Planned]:
    with Session(runtime.engine) as session:
        state = load_chase_state(session, plan.code)
        plan_id = session.execute(
            select(Plan.id).where(Plan.code == plan.code)  # type: ignore[call-overload]
        ).scalar_one()
        chases = due_chases(state, plan.cycles(now), plan.chasing, now)
    rendered = [(chase, messages_for(runtime, chase, plan)) for chase in chases]
    with Session(runtime.engine) as session:
        known = known_keys(session, [m.key for _, found in rendered for m, _ in found])
    planned = []
    for chase, found in rendered:
        for message, reference in found:
            delivery = NewDelivery(
                message=message,
                reference=reference,
                kind=str(chase.step),
                # sendable at once, even when tick is asked about a moment ahead of the clock
                not_before=min(now, runtime.clock()),
                plan_id=plan_id,
                person_code=chase.lead.code,
                recipient_code=chase.to.code,
                meeting_key=chase.meeting_key,
                action_refs=tuple(a.ref for a in chase.actions),
                action_leads=tuple((a.ref, (a.lead or chase.lead).code) for a in chase.actions),
                due_by=_end_of(chase.papers_deadline),
            )
            planned.append(Planned(chase, delivery, new=message.key not in known))
    return planned


def known_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` the outbox already holds (an indexed lookup, in batches: the tick never
    reads every delivery the plan ever had)."""
    found: set[str] = set()
    unique = sorted(set(keys))
    for start in range(0, len(unique), 500):
        found.update(
            session.execute(
                select(Delivery.key).where(  # type: ignore[call-overload]
                    col(Delivery.key).in_(unique[start : start + 500])
                )
            ).scalars()
        )
    return found


def chase_window(plan: PlanRuntime, now: datetime) -> str | None:
    """What decides which chases are due at ``now`` besides the store: the London day, the
    calendar and the chasing rules, as a digest (None outside the send window, when nothing is
    ever due). Within a day's window, while the plan's revision stays the same, the due chases
    are the same: :class:`~workflows.store.read_models.TickMarker` records that they are all in
    the outbox, so the next tick need not read the plan."""
    if not in_send_window(plan.chasing, now):
        return None
    today = now.astimezone(LONDON).date()
    text = repr((today.isoformat(), plan.code, plan.cycles(now), plan.chasing))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chased_already(runtime: Runtime, plan_id: int, window: str) -> tuple[int | None, bool]:
    """(the plan's revision now, whether every chase of ``window`` was enqueued at it)."""
    with Session(runtime.engine) as session:
        revision = session.get(ReadModelState, plan_id)
        if revision is None:
            return None, False
        marker = session.execute(
            select(TickMarker.revision).where(  # type: ignore[call-overload]
                TickMarker.plan_id == plan_id, TickMarker.signature == window
            )
        ).first()
        return revision.revision, marker is not None and int(marker[0]) == revision.revision


def _mark_chased(runtime: Runtime, plan_id: int, window: str, revision: int, now: datetime) -> None:
    """Record that every chase of ``window`` is in the outbox as of ``revision``."""
    markers = TickMarker.__table__  # type: ignore[attr-defined]
    with runtime.engine.begin() as conn:
        moved = conn.execute(
            markers.update()
            .where(markers.c.plan_id == plan_id, markers.c.signature == window)
            .values(revision=revision, at=now)
        )
        if moved.rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(
                        markers.insert().values(
                            plan_id=plan_id, signature=window, revision=revision, at=now
                        )
                    )
            except IntegrityError:
                pass  # another worker marked it at the same moment
        # yesterday's windows are never looked at again
        conn.execute(
            markers.delete().where(
                markers.c.plan_id == plan_id, markers.c.at < now - timedelta(days=2)
            )
        )


def _end_of(day: date | None) -> datetime | None:
    """Updates count as on time until the end of the papers deadline, London time."""
    if day is None:
        return None
    return datetime.combine(day, time(23, 59, 59), tzinfo=LONDON).astimezone(UTC)


def tick(
    runtime: Runtime,
    now: datetime | None = None,
    *,
    dispatch: bool = True,
    plans: Sequence[str] | None = None,
    thorough: bool = False,
    keep_planned: bool = True,
    dispatch_for: timedelta | None = None,
) -> TickReport:
    """One turn of the service: enqueue what is due at ``now`` for every plan (or those
    named), then send what is claimable and take in what has arrived.

    A plan whose chases of the day are all in the outbox, and which has not changed since, is
    not read again (:func:`chase_window`); ``thorough`` reads it anyway, so the report lists
    every chase due, those already in the outbox too (``chaser chase`` shows them).
    Without ``keep_planned`` the report lists none (the service's own ticks, which only count
    them): a tick then holds one plan's messages at a time, not every plan's (2,000 rendered
    messages, 40 MB, at 50,000 actions).

    With ``dispatch_for`` the tick sends for at most that long (on the dispatcher's clock) and
    leaves the rest in the outbox for the next tick, so it still takes in the replies and
    finishes on time on a day with more to send than the mailbox's pace lets out in one go
    (the service's heartbeat, and ``/health``, count on ticks finishing)."""
    started = time_.monotonic()
    now = now or runtime.clock()
    planned: list[Planned] = []
    due_count = 0
    missing: list[str] = []
    enqueued = 0
    for code in plans if plans is not None else list(runtime.plans):
        plan = runtime.plans[code]
        if plan.settings is not None:  # an admin may have saved chasing.yaml or digest.yaml
            _apply_settings(runtime, plan, plan.settings.poll(plan, now))
        refresh_flags(runtime, plan, now)  # a new day, or a change since: the pages' flags
        window = chase_window(plan, now)
        try:
            plan_id = _plan_id(runtime, plan)
            if plan_id is None:  # said at every tick, in the window or not
                raise UnknownPlan(code)
            revision, chased = _chased_already(runtime, plan_id, window) if window else (None, True)
            due = [] if chased and not thorough else _plan_tick(runtime, plan, now)
        except UnknownPlan:
            missing.append(code)  # not imported yet: the other plans are still chased
            log.warning(
                "plan_not_imported",
                plan=code,
                hint="chaser plan import FILE (the plan named in its chasing.yaml)",
            )
            continue
        due_count += len(due)
        if keep_planned:
            planned += due
        with runtime.engine.begin() as conn:
            enqueued += enqueue(conn, [p.delivery for p in due if p.new], now=now)
        due = []  # in the outbox now: not held while the next plan's are rendered
        if window and revision is not None and not chased:
            _mark_chased(runtime, plan_id, window, revision, now)
        if plan.digests is not None:
            enqueued += enqueue_due_digests(runtime, plan, now)
        enqueued += enqueue_invitations(runtime, plan, now)
        enqueued += flag_missing_invitations(runtime, plan, now)
        enqueued += enqueue_dead_letter_notice(runtime, plan, now)
    report = None
    if dispatch:
        dispatcher = runtime.get_dispatcher()
        until = dispatcher.clock() + dispatch_for if dispatch_for is not None else None
        report = dispatcher.dispatch(until=until)
    if report is not None and report.sent:
        _record_event_ids(runtime)  # the Graph calendar events just made, on their invitations
    ingested = ingest_inbox(runtime, now)
    sweep_uploads(runtime.data_dir / "uploads", now)  # workbooks uploaded, never confirmed
    log.info(
        "tick",
        plans=len(runtime.plans) - len(missing),
        due=due_count,
        enqueued=enqueued,
        sent=report.sent if report else 0,
        retried=report.retried if report else 0,
        dead=report.dead if report else 0,
        # its time to send was up: this many still wait for the next ticks
        pending=report.pending if report and report.out_of_time else None,
        ingested=ingested,
    )
    if runtime.metrics is not None:
        runtime.metrics.tick_done(time_.monotonic() - started, report, ingested)
    return TickReport(
        now=now,
        planned=planned,
        enqueued=enqueued,
        dispatch=report,
        ingested=ingested,
        missing=missing,
    )


def _apply_settings(runtime: Runtime, plan: PlanRuntime, reloaded: Reloaded) -> None:
    """What a reloaded file changes beyond the plan's settings: the outbox's pace and retries
    (chasing.yaml), and every kept flag, which the slippage rules decide (digest.yaml)."""
    if reloaded.chasing:
        runtime.chasing_reloaded()
    if reloaded.digest:
        plan_id = _plan_id(runtime, plan)
        if plan_id is not None:
            with runtime.engine.begin() as conn:
                touch(conn, plan_id, None)


def _record_event_ids(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        for plan_id in conn.execute(select(Plan.id)).scalars():  # type: ignore[call-overload]
            record_event_ids(conn, plan_id)


def _plan_id(runtime: Runtime, plan: PlanRuntime) -> int | None:
    with Session(runtime.engine) as session:
        found = session.execute(
            select(Plan.id).where(Plan.code == plan.code)  # type: ignore[call-overload]
        ).first()
    return int(found[0]) if found else None


def ingest_inbox(runtime: Runtime, now: datetime) -> int:
    """Take in what arrived in the mailbox since last time. The cursor moves only after every
    message is stored, so a crash re-reads a few (recognised by Message-ID, not re-applied).

    Each message is judged on what Exchange Online recorded of its sender's authentication (the
    headers Graph gives for it), never on its From address alone. A message that cannot be read
    is quarantined by :func:`ingest_email`, so the ones behind it are still taken in on the same
    tick; marking one read is bookkeeping, and failing to does not stop the others."""
    if runtime.inbox is None:
        return 0
    mailbox = runtime.first.chasing.sender.mailbox
    only = next(iter(runtime.plans)) if len(runtime.plans) == 1 else None
    with Session(runtime.engine) as session:
        saved = session.get(MailboxCursor, mailbox)
        cursor = saved.cursor if saved is not None and saved.cursor else None
    try:
        try:
            messages, new_cursor = runtime.inbox.fetch(cursor)
        except StaleCursorError:
            # Graph forgot where we were: start again from the last read, a little before it;
            # anything read twice is recognised by its Message-ID.
            since = (saved.updated_at if saved else now) - timedelta(minutes=30)
            log.warning("inbox_cursor_reset")
            messages, new_cursor = runtime.inbox.fetch(None, initial=since)
    except DeliveryError as exc:  # the mailbox is unreachable or throttled: next tick retries
        log.warning("inbox_unavailable", error=log_reason(exc))
        return 0
    for message in messages:
        receiver = Receiver.graph(_exchange_headers(message))
        ingest_email(
            runtime.engine,
            message.raw,
            now=now,
            plan_code=only,
            receiver=receiver,
            # Lateness is judged by when Exchange received it, not when it was read.
            received_at=getattr(message, "received_at", None),
        )
        try:
            runtime.inbox.mark_processed(message.id)
        except DeliveryError as exc:
            log.warning("inbox_mark_read_failed", error=log_reason(exc))
    with Session(runtime.engine) as session:
        row = session.get(MailboxCursor, mailbox) or MailboxCursor(mailbox=mailbox, updated_at=now)
        row.cursor, row.updated_at = new_cursor, now
        session.add(row)
        session.commit()
    return len(messages)


def _exchange_headers(message: object) -> list[tuple[str, str]]:
    """The headers Exchange Online holds for a message (Graph's ``internetMessageHeaders``, as
    :class:`~integrations.graph.inbox.InboundMessage` carries them), topmost first."""
    headers = getattr(message, "headers", ())
    if not isinstance(headers, tuple | list):
        return []
    return [
        (str(pair[0]), str(pair[1]))
        for pair in headers
        if isinstance(pair, tuple | list) and len(pair) == 2
    ]


class Heartbeat:
    """When the last tick finished, so ``/health`` can say the loop has stalled.

    ``beat()`` after each tick that ran to the end; ``problem()`` is None while the last one
    finished within ``allowed`` seconds (three intervals and a minute, by default), else why not.
    """

    def __init__(
        self,
        interval: float,
        *,
        allowed: float | None = None,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.allowed = allowed if allowed is not None else 3 * interval + 60
        self.clock = clock
        self.last = clock()  # a grace period from the start

    def beat(self) -> None:
        self.last = self.clock()

    def problem(self) -> str | None:
        quiet = self.clock() - self.last
        if quiet <= self.allowed:
            return None
        return f"no tick has finished for {int(quiet)} seconds"
