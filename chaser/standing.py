"""Where one plan stands at ``now``: what ``chaser status`` prints and ``chaser chase`` hints.

The next meeting each chased group holds and its papers deadline, the next rung of the chase
ladder and the moment it goes out, the meeting whose chase is under way and who has not updated
for it, the replies waiting for review, the messages not delivered, the oldest message still
waiting to go, and the next digest. Read only: nothing here changes the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from chaser.digests import digest_key
from chaser.runtime import PlanRuntime, Runtime
from workflows.calendar.cycles import LONDON
from workflows.calendar.meetings import Meeting, meetings
from workflows.chasing.chases import Step
from workflows.chasing.rules import ladder_days
from workflows.digest.config import send_day
from workflows.replies.review import pending_reviews
from workflows.store.models import Delivery, DeliveryState, Plan
from workflows.views.meeting_status import meeting_chase, message_kind
from workflows.views.outbox_status import outbox_counts

#: How far ahead the calendar is searched for the next meeting, chase and digest.
HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class NextChase:
    meeting: Meeting
    step: Step
    day: date
    at: datetime  # the moment it goes (London time): the send window's start, or now
    now: bool  # it is due already (the next tick sends it)

    @property
    def step_text(self) -> str:
        return message_kind(str(self.step))


@dataclass(frozen=True)
class Silent:
    code: str
    name: str
    updated: int
    actions: int


@dataclass(frozen=True)
class Waiting:
    reply_id: int
    sender: str
    reason: str
    received_at: datetime


@dataclass(frozen=True)
class NextDigest:
    meeting: Meeting
    day: date
    state: str  # "" when not yet queued, else the outbox state ("pending", "sent", "dead")
    sent_at: datetime | None


@dataclass(frozen=True)
class Standing:
    plan: str
    in_store: bool
    next_meetings: tuple[Meeting, ...]  # each chased group's next meeting, soonest first
    next_chase: NextChase | None
    current: Meeting | None  # the meeting whose chase is under way
    requests_sent: int  # leads asked for the current meeting
    silent: tuple[Silent, ...]  # who has not updated every action for it
    waiting: tuple[Waiting, ...]
    dead: int
    pending: int
    oldest_pending: datetime | None
    next_digest: NextDigest | None


def next_chase(plan: PlanRuntime, now: datetime) -> NextChase | None:
    """The next rung of the ladder (request, reminder, final reminder, escalation) still to go
    out for any chased meeting: today's if the send window has not closed, else the first on a
    later day. None when no chased meeting is in the calendar for the next 400 days."""
    local = now.astimezone(LONDON)
    today = local.date()
    window = plan.chasing.send_window
    cycles = plan.cycles(now)
    found: list[tuple[datetime, Meeting, Step, date]] = []
    for meeting in meetings(cycles, today, today + HORIZON, groups=list(plan.chasing.meetings)):
        for step, day in ladder_days(plan.chasing, meeting.papers_deadline):
            if day < today or (day == today and local.time() >= window.end):
                continue
            at = datetime.combine(day, window.start, tzinfo=LONDON)
            found.append((at, meeting, step, day))
    if not found:
        return None
    at, meeting, step, day = min(found, key=lambda f: (f[0], f[1].starts_at, f[1].group))
    due_now = day == today and local.time() >= window.start
    return NextChase(meeting, step, day, local if due_now else at, due_now)


def current_meeting(plan: PlanRuntime, now: datetime) -> Meeting | None:
    """The soonest chased meeting still ahead (or today) whose update request has gone out."""
    today = now.astimezone(LONDON).date()
    cycles = plan.cycles(now)
    for meeting in meetings(cycles, today, today + HORIZON, groups=list(plan.chasing.meetings)):
        days = dict(ladder_days(plan.chasing, meeting.papers_deadline))
        first = days.get(Step.REQUEST) or min(days.values(), default=None)
        if first is not None and first <= today:
            return meeting
    return None


def next_meetings(plan: PlanRuntime, now: datetime) -> list[Meeting]:
    today = now.astimezone(LONDON).date()
    cycles = plan.cycles(now)
    ahead = meetings(cycles, today, today + HORIZON, groups=list(plan.chasing.meetings))
    first: dict[str, Meeting] = {}
    for meeting in ahead:
        first.setdefault(meeting.group, meeting)
    return sorted(first.values(), key=lambda m: (m.starts_at, m.group))


def _next_digest(session: Session, plan: PlanRuntime, now: datetime) -> NextDigest | None:
    config = plan.digests
    if config is None:
        return None
    today = now.astimezone(LONDON).date()
    ahead = meetings(plan.cycles(now), today, today + HORIZON, groups=list(config.groups))
    for meeting in ahead:
        if meeting.date <= today:
            continue
        row = session.exec(
            select(Delivery).where(Delivery.key == digest_key(plan, meeting))
        ).first()
        if row is not None and row.state == DeliveryState.SENT:
            continue
        return NextDigest(meeting, send_day(config, meeting), row.state if row else "", None)
    return None


def standing(runtime: Runtime, plan: PlanRuntime, now: datetime) -> Standing:
    with Session(runtime.engine) as session:
        row = session.exec(select(Plan).where(Plan.code == plan.code)).first()
        current = current_meeting(plan, now)
        silent: list[Silent] = []
        asked = 0
        if current is not None and row is not None:
            chase = meeting_chase(session, plan.code, current.key, [current])
            if chase is not None:
                asked = chase.asked
                silent = [
                    Silent(lead.code, lead.name, lead.updated_count, len(lead.actions))
                    for lead in chase.outstanding
                ]
        waiting = tuple(
            Waiting(r.id or 0, r.sender, r.reason, r.received_at)
            for r in pending_reviews(session, plan.code)
        )
        counts = outbox_counts(session, row.id if row else -1)
        digest = _next_digest(session, plan, now)
    return Standing(
        plan=plan.code,
        in_store=row is not None,
        next_meetings=tuple(next_meetings(plan, now)),
        next_chase=next_chase(plan, now),
        current=current,
        requests_sent=asked,
        silent=tuple(silent),
        waiting=waiting,
        dead=counts.dead,
        pending=counts.pending,
        oldest_pending=counts.oldest_pending,
        next_digest=digest,
    )
