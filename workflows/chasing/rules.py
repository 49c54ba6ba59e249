"""The chasing rules: which messages must go out at ``now`` (pure).

For each meeting Chaser chases for (``chasing.yaml: meetings``), every lead with actions in that
meeting's scope gets, relative to the papers deadline in UK working days:

- an update **request** listing every one of their in-scope actions;
- a **reminder** and a **final reminder**, unless they have updated every one of those actions
  since the previous meeting;
- an **escalation** the day after the deadline to the senior responsible officer of each action
  still without an update (the meeting's secretary copied): one per officer per meeting, listing
  each of their silent leads and those leads' silent actions.

An action answered by a reply that waits for review counts as answered: no reminder or
escalation for it. Requests and reminders are one message per lead per meeting per step, whatever
the number of actions. A step stays
due until the next one takes over, so a day missed by the service is caught up the next day; the
outbox's unique key makes asking again harmless. Nudges about an action's own due date (before,
on and after it) are one message per person per day, whatever their kinds, so six actions due
the same month-end and another overdue make one nudge, not seven; each action is nudged once
per window. Withdrawn actions, actions complete and embedded, and completed actions (for
nudges) are never chased. Someone away is replaced by their delegate.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from workflows.calendar.cycles import LONDON, CyclesConfig
from workflows.calendar.meetings import Meeting, meetings, scope_of
from workflows.calendar.working_days import (
    add_working_days,
    is_working_day,
    working_day_on_or_before,
)
from workflows.chasing.chases import NUDGE_KINDS, Chase, ChasedAction, Step, Who, outbox_key
from workflows.chasing.config import ChasingConfig

#: How long an overdue nudge stays due if the service missed its day (working days).
OVERDUE_CATCH_UP = 2


@dataclass(frozen=True)
class PersonInfo:
    code: str
    name: str
    email: str
    teams_id: str = ""
    delegate_code: str = ""
    away_until: date | None = None

    def who(self) -> Who:
        return Who(code=self.code, name=self.name, email=self.email, teams_id=self.teams_id)


@dataclass(frozen=True)
class ActionInfo:
    """What the rules need to know about one action."""

    id: int
    ref: str
    title: str
    area: int | None
    reporting_group: str
    lead_code: str | None
    sro_code: str | None
    due: date | None  # the forecast due date (last day of its period)
    due_display: str
    forecast_display: str  # "" when the forecast is the baseline
    status: str | None
    status_label: str
    embedded: bool = False
    withdrawn: bool = False
    #: When someone last reported on it (form, email or Teams), if ever.
    last_update: datetime | None = None
    #: When a reply answering it arrived that now waits for review (the latest), if any: the
    #: lead has answered, so they are not reminded or escalated for it.
    awaiting_review: datetime | None = None

    def listed(self) -> ChasedAction:
        return ChasedAction(
            ref=self.ref,
            title=self.title,
            due=self.due_display,
            forecast=self.forecast_display,
            last_status=self.status_label,
            last_update=self.last_update.astimezone(LONDON).date() if self.last_update else None,
        )


@dataclass(frozen=True)
class ChaseState:
    """A snapshot of the store: the plan's actions and its people."""

    plan_code: str
    people: Mapping[str, PersonInfo]
    actions: tuple[ActionInfo, ...]
    #: (meeting key, lead, officer or "secretary") of escalations already in the outbox under
    #: the per-lead keys used before escalations were grouped per officer.
    escalated: frozenset[tuple[str, str, str]] = frozenset()
    #: (action ref, kind or "", day, key after ``{plan}/``) of each action a nudge already in
    #: the outbox listed: the kind is that of an old per-kind key (``nudge_before:{lead}:{day}``,
    #: the day its window's first) and "" for a per-day key (``nudge:{person}:{day}``).
    nudged: frozenset[tuple[str, str, date, str]] = frozenset()


def due_chases(
    state: ChaseState, cycles: CyclesConfig, config: ChasingConfig, now: datetime
) -> list[Chase]:
    """Every message that should have gone out by ``now``, sorted by key.

    Returns nothing outside the send window. Keys are stable, so the caller enqueues with
    "insert unless the key exists" and may call this as often as it likes.
    """
    if not in_send_window(config, now):
        return []
    today = now.astimezone(LONDON).date()
    chases = [*_ladder(state, cycles, config, today, now), *_nudges(state, config, today, now)]
    return sorted(chases, key=lambda c: c.key)


def in_send_window(config: ChasingConfig, now: datetime) -> bool:
    """Whether chases may go out at ``now`` (outside the window nothing is ever due)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(LONDON)
    window = config.send_window
    if window.working_days_only and not is_working_day(local.date()):
        return False
    return window.start <= local.time() < window.end


# -- the ladder ----------------------------------------------------------------------------------


def ladder_days(config: ChasingConfig, deadline: date) -> list[tuple[Step, date]]:
    """The day each step of the ladder falls on, for one papers deadline."""
    ladder = config.ladder
    steps = [
        (Step.REQUEST, ladder.request),
        (Step.REMINDER, ladder.reminder),
        (Step.FINAL_REMINDER, ladder.final_reminder),
        (Step.ESCALATION, ladder.escalation),
    ]
    return [
        (step, add_working_days(deadline, offset) if offset else working_day_on_or_before(deadline))
        for step, offset in steps
        if offset is not None
    ]


def _current_step(config: ChasingConfig, meeting: Meeting, today: date) -> Step | None:
    current = None
    for step, day in ladder_days(config, meeting.papers_deadline):
        if day <= today:
            current = step
    return current


def _ladder(
    state: ChaseState, cycles: CyclesConfig, config: ChasingConfig, today: date, now: datetime
) -> Iterable[Chase]:
    groups = list(config.meetings)
    horizon = today + timedelta(days=120)
    upcoming = meetings(cycles, today - timedelta(days=1), horizon, groups=groups)
    for meeting in upcoming:
        if meeting.date <= today:
            continue
        step = _current_step(config, meeting, today)
        if step is None:
            continue
        cycle_start = _cycle_start(cycles, groups, meeting)
        scope = scope_of(cycles, meeting.group)
        by_lead: dict[str, list[ActionInfo]] = defaultdict(list)
        for action in state.actions:
            if action.withdrawn or action.embedded or action.lead_code is None:
                continue
            if scope.covers(area=action.area, task_and_finish_group=action.reporting_group):
                by_lead[action.lead_code].append(action)
        silent_leads: list[tuple[PersonInfo, list[ActionInfo]]] = []
        for lead_code, actions in sorted(by_lead.items()):
            silent = [a for a in actions if not _answered(a, cycle_start, now)]
            if not silent:
                continue  # every in-scope action updated (or answered, awaiting review)
            lead = state.people.get(lead_code)
            if lead is None:
                continue
            if step is Step.ESCALATION:
                silent_leads.append((lead, silent))
                continue
            to, delegated = _route(state.people, lead, today)
            yield Chase(
                key=outbox_key(state.plan_code, f"{step}:{lead.code}:{meeting.key}"),
                step=step,
                plan_code=state.plan_code,
                to=to.who(),
                lead=lead.who(),
                cc=(),
                actions=tuple(a.listed() for a in actions),
                channels=tuple(config.channels.for_person(lead.code)),
                group_code=meeting.group,
                group_name=meeting.group_name,
                meeting_key=meeting.key,
                meeting_date=meeting.date,
                papers_deadline=meeting.papers_deadline,
                send_at=now,
                delegated=delegated,
            )
        if silent_leads:
            yield from _escalations(state, cycles, meeting, silent_leads, today, now)


SECRETARY = "secretary"


def _officer_of(state: ChaseState, action: ActionInfo, lead_code: str) -> str:
    """Whom a silent action escalates to: its area's senior responsible officer, or
    ``"secretary"`` when the lead is their own officer or the officer is not in the directory."""
    code = action.sro_code or ""
    if not code or code == lead_code or code not in state.people:
        return SECRETARY
    return code


def _escalations(
    state: ChaseState,
    cycles: CyclesConfig,
    meeting: Meeting,
    silent_leads: list[tuple[PersonInfo, list[ActionInfo]]],
    today: date,
    now: datetime,
) -> Iterable[Chase]:
    """One message per senior responsible officer (or the secretary) per meeting, listing each
    silent lead of theirs and that lead's silent actions; the secretary copied.

    A lead already escalated to the same officer for this meeting under the per-lead keys used
    before escalations were grouped (``escalation:{lead}:{meeting}:{officer}``) is left out, so
    an upgrade on escalation day sends nobody a second escalation.
    """
    secretary = cycles.group(meeting.group).secretary
    cc: tuple[Who, ...] = ()
    if secretary is not None and secretary.email:
        cc = (Who(code=SECRETARY, name=secretary.name, email=secretary.email),)
    by_officer: dict[str, list[ChasedAction]] = defaultdict(list)
    for lead, silent in sorted(silent_leads, key=lambda x: (x[0].name.casefold(), x[0].code)):
        for action in silent:
            officer_code = _officer_of(state, action, lead.code)
            if (meeting.key, lead.code, officer_code) in state.escalated:
                continue  # already escalated under its per-lead key
            listed = dataclasses.replace(action.listed(), lead=lead.who())
            by_officer[officer_code].append(listed)
    for officer_code, actions in sorted(by_officer.items()):
        officer = state.people.get(officer_code) if officer_code != SECRETARY else None
        if officer is not None:
            to, delegated = _route(state.people, officer, today)
            recipient, about, copies = to.who(), officer.who(), cc
        elif cc:
            recipient, about, copies, delegated = cc[0], cc[0], (), False
        else:
            continue  # nobody to escalate to: the meeting has no secretary with an address
        yield Chase(
            key=outbox_key(state.plan_code, f"{Step.ESCALATION}:{officer_code}:{meeting.key}"),
            step=Step.ESCALATION,
            plan_code=state.plan_code,
            to=recipient,
            lead=about,
            cc=copies,
            actions=tuple(actions),
            channels=("email",),
            group_code=meeting.group,
            group_name=meeting.group_name,
            meeting_key=meeting.key,
            meeting_date=meeting.date,
            papers_deadline=meeting.papers_deadline,
            send_at=now,
            delegated=delegated,
        )


def _cycle_start(cycles: CyclesConfig, groups: list[str], meeting: Meeting) -> datetime:
    """Updates count for a meeting from the day after the previous chased meeting."""
    earlier = meetings(cycles, meeting.date - timedelta(days=120), meeting.date, groups=groups)
    before = [m.date for m in earlier if m.date < meeting.date]
    start = before[-1] + timedelta(days=1) if before else meeting.date - timedelta(days=21)
    return datetime.combine(start, time(0, 0), tzinfo=LONDON)


def _answered(action: ActionInfo, since: datetime, now: datetime) -> bool:
    """Updated this cycle, or answered by a reply received this cycle that waits for review."""
    waiting = action.awaiting_review
    return _updated_since(action, since, now) or (waiting is not None and since <= waiting <= now)


def _updated_since(action: ActionInfo, since: datetime, now: datetime) -> bool:
    """Whether the action was updated between ``since`` and ``now`` (a snapshot replayed for an
    earlier day must not count updates that had not happened yet)."""
    return action.last_update is not None and since <= action.last_update <= now


def _route(
    people: Mapping[str, PersonInfo], person: PersonInfo, today: date
) -> tuple[PersonInfo, bool]:
    """The person, or their delegate while they are away (if the delegate is not away too)."""
    if person.away_until is None or person.away_until < today:
        return person, False
    delegate = people.get(person.delegate_code) if person.delegate_code else None
    if delegate is None or (delegate.away_until is not None and delegate.away_until >= today):
        return person, False
    return delegate, True


# -- nudges about due dates --------------------------------------------------------------------


def nudge_days(config: ChasingConfig, due: date) -> list[tuple[Step, date, date]]:
    """(step, first day, last day) of each nudge window for an action due on ``due``."""
    nudges = config.nudges
    on_due = working_day_on_or_before(due)
    overdue = add_working_days(due, nudges.overdue_working_days or 1)
    windows: list[tuple[Step, date, date]] = []
    if nudges.before_due_days:
        start = working_day_on_or_before(due - timedelta(days=nudges.before_due_days))
        windows.append((Step.NUDGE_BEFORE, start, on_due - timedelta(days=1)))
    if nudges.on_due:
        windows.append((Step.NUDGE_DUE, on_due, overdue - timedelta(days=1)))
    if nudges.overdue_working_days:
        windows.append((Step.NUDGE_OVERDUE, overdue, add_working_days(overdue, OVERDUE_CATCH_UP)))
    return windows


def _nudges(
    state: ChaseState, config: ChasingConfig, today: date, now: datetime
) -> Iterable[Chase]:
    """One message per person per day, listing every action they are nudged about that day,
    each with its kind (due soon, due today, overdue).

    An action is due a nudge from the first day of its window to the last (so a day the service
    missed is caught up), but only once per window: not when a nudge under another key already
    listed it on a day of that window (``state.nudged``). The person is the lead, or the
    delegate covering them while they are away, so a delegate covering two away leads gets one
    message."""
    grouped: dict[str, list[tuple[ActionInfo, Step]]] = defaultdict(list)
    for action in state.actions:
        if action.withdrawn or action.embedded or action.status == "complete":
            continue
        if action.due is None or action.lead_code is None:
            continue
        lead = state.people.get(action.lead_code)
        if lead is None:
            continue
        to, _ = _route(state.people, lead, today)
        key = nudge_key(to.code, today)
        for step, first, last in nudge_days(config, action.due):
            if not first <= today <= last:
                continue
            if not _nudged_in_window(state, action.ref, step, first, today, key):
                grouped[to.code].append((action, step))
    order = {step: n for n, step in enumerate(NUDGE_KINDS)}
    for to_code, items in sorted(grouped.items()):
        to = state.people[to_code]
        items.sort(key=lambda item: order[item[1]])  # most urgent first, else plan order
        leads = {a.lead_code: state.people[a.lead_code or ""] for a, _ in items}
        several = len(leads) > 1
        kinds = {step for _, step in items}
        yield Chase(
            key=outbox_key(state.plan_code, nudge_key(to_code, today)),
            step=kinds.pop() if len(kinds) == 1 else Step.NUDGE,
            plan_code=state.plan_code,
            to=to.who(),
            lead=next(iter(leads.values())).who(),
            cc=(),
            actions=tuple(
                dataclasses.replace(
                    a.listed(),
                    nudge=str(step),
                    lead=state.people[a.lead_code or ""].who() if several else None,
                )
                for a, step in items
            ),
            channels=("email",),
            send_at=now,
            delegated=any(code != to_code for code in leads),
        )


def nudge_key(person_code: str, day: date) -> str:
    """The key (after ``{plan}/``) of the one nudge ``person_code`` gets on ``day``."""
    return f"nudge:{person_code}:{day.isoformat()}"


def _nudged_in_window(
    state: ChaseState, ref: str, step: Step, first: date, today: date, key: str
) -> bool:
    """Whether a nudge other than ``key`` listed ``ref`` on a day from ``first`` to ``today``
    (one under the old per-kind keys only counts for the same kind)."""
    return any(
        day_ref == ref and kind in ("", step) and first <= day <= today and other != key
        for day_ref, kind, day, other in state.nudged
    )
