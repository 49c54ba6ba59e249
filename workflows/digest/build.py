"""The board secretary's digest for one meeting: what slipped, and why, in the leads' own words.

:func:`build_digest` reads a plain :class:`PlanSnapshot` from the store (:func:`load_snapshot`)
and hands it to :func:`assemble`, which is pure: every date comes from the meeting and ``now``, so
a digest can be rebuilt for any past day and tests need no database for most of it.

* Scope: the actions reporting to the group through its reporting lines
  (:func:`workflows.calendar.meetings.scope_of`), withdrawn ones left out.
* "This cycle" is the rule the chasing uses: updates by form, email or Teams from the day after
  the previous meeting of the chased groups (``cycle_groups``) up to ``now``.
* "At the previous meeting" is what the append-only history said at the end of that day.
* Status labels are the plan's own values ("Amber"); the history keeps only meanings, so an
  earlier label is the action's current label when the meaning is the same, else the first
  value of the plan's scale with that meaning.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from workflows.board.baselines import meeting_words
from workflows.calendar.cycles import LONDON, CyclesConfig
from workflows.calendar.meetings import Meeting, Scope, meeting_date, meetings, scope_of
from workflows.chasing.state import awaiting_review
from workflows.digest.contents import (
    AreaCount,
    DeadLetter,
    Digest,
    Flag,
    Invitee,
    LogRow,
    MeetingDecisions,
    PersonLine,
    RiskLine,
    Trend,
)
from workflows.digest.scorecard import with_scorecard
from workflows.digest.slippage import (
    ActionFacts,
    CycleState,
    MeasureFacts,
    MilestoneFacts,
    SlippageConfig,
    flags_for,
    slip_days,
    status_change,
)
from workflows.plan.dates import FuzzyDate, show_date
from workflows.replies.apply import NO_CHANGE
from workflows.store.board_models import Baseline, Decision
from workflows.store.models import (
    Action,
    Area,
    Channel,
    Delivery,
    DeliveryState,
    Measure,
    MeasureReading,
    Milestone,
    Person,
    Plan,
    Risk,
    StatusChange,
)

NOT_REPORTED = "Not reported"
#: Changes that count as a lead's update (imports and admin edits do not), as in chase_state.
UPDATE_CHANNELS = frozenset({str(Channel.FORM), str(Channel.EMAIL), str(Channel.TEAMS)})
#: How many earlier meetings the history is read at (for "no change for N cycles").
HISTORY_MEETINGS = 6
TREND_MEETINGS = 4
_ADDRESS = re.compile(r"[^\s<>()\"',;:]+@[^\s<>()\"',;:]+")


# -- the snapshot (plain data read from the store) -----------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    """One row of the append-only history."""

    action_id: int
    at: datetime  # aware
    channel: str
    status_after: str | None
    status_label_after: str = ""  # the plan's own value then, when the history recorded it
    narrative: str = ""
    evidence: str = ""
    late: bool = False


@dataclass(frozen=True)
class ActionRow:
    id: int
    ref: str
    title: str
    area: int | None
    area_title: str
    reporting_group: str
    lead_code: str
    lead_name: str
    status: str | None
    status_label: str
    baseline: FuzzyDate | None
    forecast: FuzzyDate | None
    due_kind: str = "date"
    progress: str = ""
    evidence: str = ""
    embedded: bool = False
    withdrawn: bool = False
    milestones: tuple[MilestoneFacts, ...] = ()
    measures: tuple[MeasureFacts, ...] = ()
    #: The baseline first imported, when the board has agreed another since (``baseline`` is
    #: the current one); None if never re-baselined.
    original_baseline: FuzzyDate | None = None
    baseline_note: str = ""  # the latest agreement, in words


@dataclass(frozen=True)
class AgreedBaseline:
    """A completion date the board agreed again (workflows/board/baselines.py)."""

    action_id: int
    meeting_key: str
    before: str  # "Mar 2024"
    after: str  # "Dec 2024"
    reason: str
    at: datetime


@dataclass(frozen=True)
class RiskRow:
    ref: str  # the action's ref, "Area N", or "" for the whole plan
    action_id: int | None
    area: int | None
    description: str
    mitigation: str
    owner: str
    closed: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeliveryRow:
    kind: str
    state: str
    person_code: str
    recipient_code: str
    meeting_key: str
    last_error: str
    updated_at: datetime
    action_refs: tuple[str, ...] = ()  # what it asked about (an escalation: whose leads)


@dataclass(frozen=True)
class PlanSnapshot:
    plan_code: str
    plan_title: str
    #: The plan's status scale as stored (dicts with value, meaning, label, embedded, colour).
    scale: tuple[Mapping[str, Any], ...]
    actions: tuple[ActionRow, ...]  # in plan order
    changes: tuple[ChangeRow, ...]
    people: Mapping[str, str] = field(default_factory=dict)  # code -> name
    risks: tuple[RiskRow, ...] = ()
    deliveries: tuple[DeliveryRow, ...] = ()
    #: (reply number, received) of replies waiting for review, by the refs they answer.
    awaiting_review: Mapping[str, tuple[tuple[int, datetime], ...]] = field(default_factory=dict)
    agreed_baselines: tuple[AgreedBaseline, ...] = ()  # oldest first
    #: The board's decisions (workflows/board/decisions.py): (meeting key, at, words), in order.
    decisions: tuple[tuple[str, datetime, str], ...] = ()


# -- building the digest -------------------------------------------------------------------------


def build_digest(
    session: Session,
    *,
    plan_code: str,
    cycles: CyclesConfig,
    group_code: str,
    meeting: Meeting,
    now: datetime,
    config: SlippageConfig,
    invited: Collection[str] = (),
    cycle_groups: Sequence[str] | None = None,
) -> Digest:
    """The digest for ``meeting`` of ``group_code`` as the store stands at ``now``."""
    digest = assemble(
        load_snapshot(session, plan_code),
        cycles=cycles,
        group_code=group_code,
        meeting=meeting,
        now=now,
        config=config,
        invited=invited,
        cycle_groups=cycle_groups,
    )
    return with_scorecard(session, digest)  # the impact measures and the risk register


def assemble(
    snapshot: PlanSnapshot,
    *,
    cycles: CyclesConfig,
    group_code: str,
    meeting: Meeting,
    now: datetime,
    config: SlippageConfig,
    invited: Collection[str] = (),
    cycle_groups: Sequence[str] | None = None,
) -> Digest:
    """The digest from a snapshot (pure). ``cycle_groups`` are the groups whose meetings mark a
    cycle (default: the group itself); pass ``("SIB", "SSDG")`` where they alternate."""
    frame = _Frame.of(snapshot, cycles, group_code, meeting, now, cycle_groups)
    today, earlier, previous = frame.today, frame.earlier, frame.previous
    cycle_start, history, labels, in_scope = (
        frame.cycle_start,
        frame.history,
        frame.labels,
        frame.in_scope,
    )
    group = cycles.group(group_code)
    scope = frame.scope

    log = tuple(
        _log_row(a, history, labels, earlier, previous, cycle_start, now, today, config)
        for a in in_scope
    )
    order = {row.ref: i for i, row in enumerate(log)}
    exceptions = tuple(
        sorted(
            (row for row in log if row.flags),
            key=lambda r: (-(r.worst or 0), -len(r.flags), order[r.ref]),
        )
    )
    not_replied, escalated = _people(snapshot, in_scope, log, meeting, cycle_start, now)
    trend_dates = _earlier_meetings(cycles, (group_code,), meeting.date, TREND_MEETINGS)
    group_earlier = _earlier_meetings(cycles, (group_code,), meeting.date, 1)
    trend = (
        *(
            Trend(meeting=d, counts=_counts_by_area(in_scope, history, labels, d))
            for d in reversed(trend_dates)
        ),
        Trend(meeting=meeting.date, counts=_counts_by_area(in_scope, history, labels, None)),
    )
    return Digest(
        plan_code=snapshot.plan_code,
        plan_title=snapshot.plan_title,
        group_code=group.code,
        group_name=group.name,
        meeting_date=meeting.date,
        papers_deadline=meeting.papers_deadline,
        previous_meeting=previous,
        generated_at=now,
        scale=tuple(
            (str(s.get("value", "")), str(s.get("label", "")), str(s.get("colour", "")))
            for s in snapshot.scale
        ),
        exceptions=exceptions,
        log=log,
        areas=_areas(in_scope, history, labels, previous),
        not_replied=not_replied,
        escalated=escalated,
        escalations=_escalations(snapshot, meeting),
        decisions=_decisions(
            snapshot,
            in_scope,
            group_earlier[0] if group_earlier else meeting.date - timedelta(days=42),
            meeting.date,
        ),
        risks=_risks(snapshot, scope, in_scope, cycle_start, now),
        dead_letters=_dead_letters(snapshot, cycle_start, now),
        invitees=tuple(
            Invitee(name=p.name, role=p.role or "", invited=_is_invited(p.name, p.email, invited))
            for p in group.mandatory_invitees
        ),
        trend=trend,
    )


#: The flags of each action a digest would carry, by action id: (ref, flags).
ActionFlagsMap = dict[int, tuple[str, tuple[Flag, ...]]]


def action_flags(
    session: Session,
    *,
    plan_code: str,
    cycles: CyclesConfig,
    group_code: str,
    meeting: Meeting,
    now: datetime,
    config: SlippageConfig,
    cycle_groups: Sequence[str] | None = None,
    only: Collection[int] | None = None,
) -> ActionFlagsMap:
    """The flags :func:`build_digest` would give each action (of ``only``, else of the whole
    plan), without building the rest of the digest: what the pages' read model keeps. Actions
    outside the meeting's scope, or withdrawn, carry none (they are not in the log)."""
    snapshot = load_snapshot(session, plan_code, only=only, flags_only=True)
    return flags_of(
        snapshot,
        cycles=cycles,
        group_code=group_code,
        meeting=meeting,
        now=now,
        config=config,
        cycle_groups=cycle_groups,
    )


def flags_of(
    snapshot: PlanSnapshot,
    *,
    cycles: CyclesConfig,
    group_code: str,
    meeting: Meeting,
    now: datetime,
    config: SlippageConfig,
    cycle_groups: Sequence[str] | None = None,
) -> ActionFlagsMap:
    """Each action's flags, as :func:`assemble` computes them for its log (pure)."""
    frame = _Frame.of(snapshot, cycles, group_code, meeting, now, cycle_groups)
    found: ActionFlagsMap = {a.id: (a.ref, ()) for a in snapshot.actions}
    for a in frame.in_scope:
        row = _log_row(
            a,
            frame.history,
            frame.labels,
            frame.earlier,
            frame.previous,
            frame.cycle_start,
            now,
            frame.today,
            config,
        )
        found[a.id] = (a.ref, row.flags)
    return found


@dataclass(frozen=True)
class _Frame:
    """What every log row of one meeting's digest is computed against."""

    today: date
    scope: Scope
    earlier: list[date]
    previous: date | None
    cycle_start: datetime
    history: _History
    labels: _Labels
    in_scope: list[ActionRow]

    @classmethod
    def of(
        cls,
        snapshot: PlanSnapshot,
        cycles: CyclesConfig,
        group_code: str,
        meeting: Meeting,
        now: datetime,
        cycle_groups: Sequence[str] | None,
    ) -> _Frame:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        cycles.group(group_code)  # an unknown group fails here, as before
        scope = scope_of(cycles, group_code)
        earlier = _earlier_meetings(cycles, cycle_groups or (group_code,), meeting.date)
        previous = earlier[0] if earlier else None
        cycle_start = datetime.combine(
            previous + timedelta(days=1) if previous else meeting.date - timedelta(days=21),
            time(0, 0),
            tzinfo=LONDON,
        )
        return cls(
            today=now.astimezone(LONDON).date(),
            scope=scope,
            earlier=earlier,
            previous=previous,
            cycle_start=cycle_start,
            history=_History(snapshot, now),
            labels=_Labels(snapshot.scale),
            in_scope=[a for a in snapshot.actions if not a.withdrawn and _covers(scope, a)],
        )


def _covers(scope: Scope, action: ActionRow) -> bool:
    return scope.covers(area=action.area, task_and_finish_group=action.reporting_group)


def _earlier_meetings(
    cycles: CyclesConfig, groups: Sequence[str], before: date, limit: int = HISTORY_MEETINGS
) -> list[date]:
    """Dates of the groups' meetings before ``before``, most recent first (distinct days)."""
    found = meetings(
        cycles, before - timedelta(days=800), before - timedelta(days=1), groups=groups
    )
    days = sorted({m.date for m in found}, reverse=True)
    return days[:limit]


class _History:
    """The snapshot's history, per action, as it stood at ``now`` (later rows are ignored)."""

    def __init__(self, snapshot: PlanSnapshot, now: datetime) -> None:
        self.by_action: dict[int, list[ChangeRow]] = defaultdict(list)
        for change in sorted(snapshot.changes, key=lambda c: c.at):
            if change.at <= now:
                self.by_action[change.action_id].append(change)

    def upto(self, action_id: int, day: date | None) -> list[ChangeRow]:
        """Rows recorded by the end of ``day`` (London), or all of them for ``None``."""
        rows = self.by_action.get(action_id, [])
        if day is None:
            return rows
        return [c for c in rows if c.at.astimezone(LONDON).date() <= day]

    def status_at(self, action: ActionRow, day: date | None) -> tuple[bool, str | None, str]:
        """(whether the action existed by then, its status then, its label then if recorded)."""
        if day is None:
            return True, action.status, action.status_label
        rows = self.upto(action.id, day)
        if not rows:
            return False, None, ""
        # The last row that records a status: imports before 2 December 2026 wrote their
        # forecast, milestone, withdrawn and reinstated rows without one. No change takes a
        # status back to none, so a row without one never means "not reported".
        for row in reversed(rows):
            if row.status_after is not None:
                return True, row.status_after, row.status_label_after
        return True, None, ""

    def narrative_at(self, action_id: int, day: date | None) -> ChangeRow | None:
        """The last row with words from the lead ("No change since…" keeps the earlier words)."""
        for change in reversed(self.upto(action_id, day)):
            if change.narrative and change.narrative != NO_CHANGE:
                return change
        return None

    def updates_since(self, action_id: int, since: datetime) -> list[ChangeRow]:
        return [
            c
            for c in self.by_action.get(action_id, [])
            if c.channel in UPDATE_CHANNELS and c.at >= since
        ]


class _Labels:
    """The plan's own status values and colours, by meaning."""

    def __init__(self, scale: Sequence[Mapping[str, Any]]) -> None:
        self.colours = {str(s.get("value", "")): str(s.get("colour", "")) for s in scale}
        self.by_meaning: dict[str, str] = {}
        for s in sorted(scale, key=lambda s: bool(s.get("embedded"))):
            self.by_meaning.setdefault(str(s.get("meaning", "")), str(s.get("value", "")))

    def label(self, action: ActionRow, status: str | None, recorded: str = "") -> str:
        if status is None:
            return ""
        if recorded:
            return recorded
        if status == action.status and action.status_label:
            return action.status_label
        return self.by_meaning.get(status) or status.replace("_", " ").capitalize()


def _log_row(
    action: ActionRow,
    history: _History,
    labels: _Labels,
    earlier: list[date],
    previous: date | None,
    cycle_start: datetime,
    now: datetime,
    today: date,
    config: SlippageConfig,
) -> LogRow:
    states = []
    for day in earlier:
        existed, status, recorded = history.status_at(action, day)
        if not existed:
            break
        said = history.narrative_at(action.id, day)
        states.append(
            CycleState(
                meeting=day,
                status=status,
                status_label=labels.label(action, status, recorded),
                narrative=said.narrative if said else "",
            )
        )
    said_now = history.narrative_at(action.id, None)
    updates = history.updates_since(action.id, cycle_start)
    facts = ActionFacts(
        ref=action.ref,
        status=action.status,
        status_label=action.status_label,
        withdrawn=action.withdrawn,
        baseline=action.baseline,
        original_baseline=action.original_baseline,
        forecast=action.forecast,
        due_kind=action.due_kind,
        narrative=said_now.narrative if said_now else "",
        updated_this_cycle=bool(updates),
        previous_meeting=previous,
        history=tuple(states),
        milestones=action.milestones,
        measures=action.measures,
    )
    before = states[0] if states and states[0].meeting == previous else None
    prev_status = before.status if before else None
    due = action.baseline.display if action.baseline else _no_date(action.due_kind)
    forecast = action.forecast.display if action.forecast else ""
    original = action.original_baseline.display if action.original_baseline else ""
    evidence = next(
        (c.evidence for c in reversed(history.upto(action.id, None)) if c.evidence),
        action.evidence,
    )
    return LogRow(
        ref=action.ref,
        title=action.title,
        area=action.area,
        area_title=action.area_title,
        lead_code=action.lead_code,
        lead_name=action.lead_name,
        status=action.status,
        status_label=action.status_label,
        status_colour=labels.colours.get(action.status_label, ""),
        previous_status_label=before.status_label if before else "",
        change=status_change(prev_status, action.status),
        due=due,
        forecast="" if forecast == due else forecast,
        slip_days=slip_days(action.baseline, action.forecast),
        narrative=action.progress,
        narrative_on=said_now.at.astimezone(LONDON).date() if said_now else None,
        evidence=evidence,
        updated_this_cycle=bool(updates),
        late=updates[-1].late if updates else False,
        flags=flags_for(facts, config, today),
        original_due=original if original != due else "",
        baseline_note=action.baseline_note,
    )


def _no_date(kind: str) -> str:
    return {"tbc": "TBC", "completed": "Completed", "unreadable": "(unreadable)"}.get(kind, "")


def _counts_by_area(
    actions: Sequence[ActionRow], history: _History, labels: _Labels, day: date | None
) -> dict[str, dict[str, int]]:
    """Area title -> status label -> actions, as at the end of ``day`` (``None``: now)."""
    out: dict[str, dict[str, int]] = {}
    for action in actions:
        existed, status, recorded = history.status_at(action, day)
        if not existed:
            continue
        label = labels.label(action, status, recorded) or NOT_REPORTED
        counts = out.setdefault(action.area_title, {})
        counts[label] = counts.get(label, 0) + 1
    return out


def _areas(
    actions: Sequence[ActionRow], history: _History, labels: _Labels, previous: date | None
) -> tuple[AreaCount, ...]:
    now = _counts_by_area(actions, history, labels, None)
    before = _counts_by_area(actions, history, labels, previous) if previous else {}
    seen: dict[str, int | None] = {}
    for action in actions:
        seen.setdefault(action.area_title, action.area)
    ordered = sorted(seen.items(), key=lambda kv: (kv[1] is None, kv[1] or 0, kv[0]))
    return tuple(
        AreaCount(
            area=number, title=title, counts=now.get(title, {}), previous=before.get(title, {})
        )
        for title, number in ordered
    )


def _decisions(
    snapshot: PlanSnapshot, in_scope: Sequence[ActionRow], since: date, until: date
) -> tuple[MeetingDecisions, ...]:
    """What each meeting held from ``since`` (the group's previous meeting) to before ``until``
    (this one) decided: its resolutions, and the baselines it agreed for actions in scope."""

    def held(key: str) -> bool:
        day = meeting_date(key)
        return day is not None and since <= day < until

    refs = {a.id: a.ref for a in in_scope}
    by_meeting: dict[str, list[str]] = {}
    for key, _, words in snapshot.decisions:
        if held(key):
            by_meeting.setdefault(key, []).append(words)
    for agreed in snapshot.agreed_baselines:
        if agreed.action_id in refs and held(agreed.meeting_key):
            by_meeting.setdefault(agreed.meeting_key, []).append(
                f"{refs[agreed.action_id]}: baseline {agreed.before or 'none'} → {agreed.after}"
                + (f" ({agreed.reason})" if agreed.reason else "")
            )
    return tuple(
        MeetingDecisions(meeting_key=key, meeting=meeting_words(key), lines=tuple(lines))
        for key, lines in sorted(
            by_meeting.items(), key=lambda kv: (kv[0].partition(":")[2], kv[0])
        )
    )


def _escalations(snapshot: PlanSnapshot, meeting: Meeting) -> int:
    """Escalation messages for ``meeting`` that were not dead, one per officer: the number the
    meeting page shows (an escalation listing three leads counts once)."""
    return len(
        {
            d.recipient_code or d.person_code
            for d in snapshot.deliveries
            if d.kind == "escalation"
            and d.meeting_key == meeting.key
            and d.state != DeliveryState.DEAD
        }
    )


def _people(
    snapshot: PlanSnapshot,
    in_scope: Sequence[ActionRow],
    log: Sequence[LogRow],
    meeting: Meeting,
    cycle_start: datetime,
    now: datetime,
) -> tuple[tuple[PersonLine, ...], tuple[PersonLine, ...]]:
    """Leads who have not updated every chased action this cycle, and leads escalated for it.

    A lead whose every action not updated is answered by a reply received this cycle that
    waits for review is listed as replied, awaiting review (with the replies' numbers)."""
    updated = {row.ref: row.updated_this_cycle for row in log}
    chased: dict[str, list[ActionRow]] = defaultdict(list)
    for action in in_scope:
        if action.lead_code and not action.embedded:
            chased[action.lead_code].append(action)
    lead_of = {a.ref: a.lead_code for a in snapshot.actions if a.lead_code}
    escalated: set[str] = set()
    for d in snapshot.deliveries:
        if d.kind != "escalation" or d.meeting_key != meeting.key:
            continue
        if d.state != DeliveryState.DEAD:  # one names each silent lead whose actions it lists
            about = {lead_of[r] for r in d.action_refs if r in lead_of}
            escalated |= about or ({d.person_code} if d.person_code else set())

    def waiting(ref: str) -> list[int]:
        return [n for n, at in snapshot.awaiting_review.get(ref, ()) if cycle_start <= at <= now]

    def review_replies(code: str) -> tuple[int, ...]:
        silent = [a.ref for a in chased.get(code, []) if not updated[a.ref]]
        answers = [waiting(ref) for ref in silent]
        if not silent or not all(answers):
            return ()
        return tuple(sorted({n for found in answers for n in found}))

    lines = {
        code: PersonLine(
            code=code,
            name=snapshot.people.get(code, ""),
            actions=len(chased.get(code, [])),
            replied=all(updated[a.ref] for a in chased.get(code, [])),
            escalated=code in escalated,
            review_replies=review_replies(code),
        )
        for code in sorted(set(chased) | escalated)
    }
    return (
        tuple(p for p in lines.values() if p.actions and not p.replied),
        tuple(p for p in lines.values() if p.escalated),
    )


def _risks(
    snapshot: PlanSnapshot,
    scope: Scope,
    in_scope: Sequence[ActionRow],
    since: datetime,
    now: datetime,
) -> tuple[RiskLine, ...]:
    """Risks added, updated or closed this cycle, for actions and areas in scope (and plan-wide)."""
    ids = {a.id for a in in_scope}
    out = []
    for risk in sorted(snapshot.risks, key=lambda r: (r.updated_at, r.ref)):
        if not since <= risk.updated_at <= now:
            continue
        if risk.action_id is not None and risk.action_id not in ids:
            continue
        if risk.action_id is None and risk.area is not None and not scope.covers(area=risk.area):
            continue
        change = "closed" if risk.closed else "new" if risk.created_at >= since else "updated"
        out.append(
            RiskLine(
                ref=risk.ref,
                description=risk.description,
                mitigation=risk.mitigation,
                owner=risk.owner,
                change=change,
            )
        )
    return tuple(out)


def _dead_letters(snapshot: PlanSnapshot, since: datetime, now: datetime) -> tuple[DeadLetter, ...]:
    """Messages given up on this cycle; addresses in the provider's error are blanked out."""
    return tuple(
        DeadLetter(
            kind=d.kind,
            recipient=d.recipient_code or d.person_code,
            reason=_ADDRESS.sub("[address]", d.last_error),
            at=d.updated_at,
        )
        for d in sorted(snapshot.deliveries, key=lambda d: d.updated_at)
        if d.state == DeliveryState.DEAD and since <= d.updated_at <= now
    )


def _is_invited(name: str, email: str | None, invited: Collection[str]) -> bool:
    wanted = {i.strip().casefold() for i in invited}
    return bool(email and email.strip().casefold() in wanted) or name.strip().casefold() in wanted


# -- reading the store ---------------------------------------------------------------------------


#: What the digest reads of an action (every other column stays unread).
SNAPSHOT_COLUMNS: tuple[Any, ...] = (
    Action.id,
    Action.ref,
    Action.title,
    Action.position,
    Action.area_id,
    Action.accountable_id,
    Action.lead_raw,
    Action.reporting_group,
    Action.status,
    Action.status_label,
    Action.baseline_due,
    Action.baseline_due_precision,
    Action.forecast_due,
    Action.forecast_due_precision,
    Action.due_kind,
    Action.progress,
    Action.evidence,
    Action.embedded,
    Action.withdrawn,
)


class UnknownPlan(LookupError):
    pass


def load_snapshot(
    session: Session,
    plan_code: str,
    *,
    only: Collection[int] | None = None,
    flags_only: bool = False,
) -> PlanSnapshot:
    """Everything :func:`assemble` needs about one plan, read in a handful of queries.

    ``only`` reads just those actions (by id) and their history; ``flags_only`` leaves out
    what only the rest of the digest needs (risks, dead letters, decisions, the review queue):
    together they are what a refresh of the pages' flags reads."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None or plan.id is None:
        raise UnknownPlan(f"plan {plan_code!r} is not in the store")
    people = {p.id: p for p in session.exec(select(Person))}
    areas = {a.id: a for a in session.exec(select(Area).where(Area.plan_id == plan.id))}
    chosen = (
        select(Action)
        .options(load_only(*SNAPSHOT_COLUMNS))  # not the raw cells nor the outcomes' text
        .where(Action.plan_id == plan.id)
    )
    if only is not None:
        chosen = chosen.where(col(Action.id).in_(sorted(only)))
    actions = list(session.exec(chosen.order_by(col(Action.position))))
    # The plan's actions as a subquery, not a list of ids: a plan of 50,000 actions would pass
    # SQLite's limit of bound parameters.
    action_ids: Any = (
        [a.id for a in actions if a.id is not None]
        if only is not None
        else select(Action.id).where(Action.plan_id == plan.id)
    )
    milestones: dict[int, list[MilestoneFacts]] = defaultdict(list)
    for m in session.exec(
        select(Milestone)
        .where(col(Milestone.action_id).in_(action_ids))
        .order_by(col(Milestone.action_id), col(Milestone.position))
    ):
        milestones[m.action_id].append(
            MilestoneFacts(
                position=m.position,
                label=m.label,
                due=FuzzyDate.from_stored(m.forecast_due, m.forecast_due_precision, end=True),
                complete=m.complete,
            )
        )
    measures = _measures(session, plan.id, only)
    first_baselines: dict[int, tuple[date | None, str | None]] = {}
    baseline_notes: dict[int, str] = {}
    agreed: list[AgreedBaseline] = []
    previous_due: dict[int, str] = {}
    for b in session.exec(
        select(Baseline)
        .where(col(Baseline.action_id).in_(action_ids))
        .order_by(col(Baseline.action_id), col(Baseline.position))
    ):
        shown = show_date(b.due, b.due_precision)
        if b.position == 0:
            first_baselines[b.action_id] = (b.due, b.due_precision)
        else:
            agreed.append(
                AgreedBaseline(
                    action_id=b.action_id,
                    meeting_key=b.meeting_key,
                    before=previous_due.get(b.action_id, ""),
                    after=shown,
                    reason=b.reason,
                    at=b.recorded_at,
                )
            )
            baseline_notes[b.action_id] = f"agreed by {meeting_words(b.meeting_key)}" + (
                f": {b.reason}" if b.reason else ""
            )
        previous_due[b.action_id] = shown
    changes = tuple(
        ChangeRow(
            action_id=c.action_id,
            at=c.recorded_at,
            channel=c.channel,
            status_after=c.status_after,
            status_label_after=c.status_label_after,
            narrative=c.narrative,
            evidence=c.evidence,
            late=c.late,
        )
        for c in session.exec(
            select(StatusChange)
            .where(col(StatusChange.action_id).in_(action_ids))
            .order_by(col(StatusChange.recorded_at), col(StatusChange.id))
        )
    )
    refs = {a.id: a.ref for a in actions}
    rows = [
        _action_row(a, areas, people, milestones, measures, first_baselines, baseline_notes)
        for a in actions
    ]
    if flags_only:
        return PlanSnapshot(
            plan_code=plan.code,
            plan_title=plan.title,
            scale=tuple(plan.status_scale),
            actions=tuple(rows),
            changes=changes,
        )
    risks = tuple(
        RiskRow(
            ref=refs.get(r.action_id, "")
            if r.action_id is not None
            else _area_ref(areas, r.area_id),
            action_id=r.action_id,
            area=areas[r.area_id].number if r.area_id in areas else None,
            description=r.description,
            mitigation=r.mitigation,
            owner=_name(people, r.owner_id),
            closed=r.closed,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in session.exec(select(Risk).where(Risk.plan_id == plan.id))
    )
    deliveries = tuple(
        DeliveryRow(
            kind=d.kind,
            state=d.state,
            person_code=d.person_code,
            recipient_code=d.recipient_code,
            meeting_key=d.meeting_key,
            last_error=d.last_error,
            updated_at=d.updated_at,
            action_refs=tuple(d.action_refs or ()),
        )
        for d in session.exec(
            select(Delivery)
            .where((col(Delivery.plan_id) == plan.id) | (col(Delivery.plan_id).is_(None)))
            .where(
                (col(Delivery.state) == DeliveryState.DEAD) | (col(Delivery.kind) == "escalation")
            )
        )
    )
    return PlanSnapshot(
        plan_code=plan.code,
        plan_title=plan.title,
        scale=tuple(plan.status_scale),
        actions=tuple(rows),
        changes=changes,
        people={p.code: p.name for p in people.values()},
        risks=risks,
        deliveries=deliveries,
        awaiting_review={
            ref: tuple((w.reply_id, w.received_at) for w in found)
            for ref, found in awaiting_review(session, plan.id).items()
        },
        agreed_baselines=tuple(sorted(agreed, key=lambda x: x.at)),
        decisions=tuple(
            (d.meeting_key, d.recorded_at, _decision_words(d, refs))
            for d in session.exec(
                select(Decision)
                .where(Decision.plan_id == plan.id)
                .order_by(col(Decision.meeting_key), col(Decision.position))
            )
        ),
    )


def _action_row(
    a: Action,
    areas: Mapping[int | None, Area],
    people: Mapping[int | None, Person],
    milestones: Mapping[int, list[MilestoneFacts]],
    measures: Mapping[int, list[MeasureFacts]],
    first_baselines: Mapping[int, tuple[date | None, str | None]],
    baseline_notes: Mapping[int, str],
) -> ActionRow:
    assert a.id is not None
    area = areas.get(a.area_id) if a.area_id is not None else None
    lead = people.get(a.accountable_id) if a.accountable_id is not None else None
    return ActionRow(
        id=a.id,
        ref=a.ref,
        title=a.title,
        area=area.number if area else None,
        area_title=area.title if area else "",
        reporting_group=a.reporting_group,
        lead_code=lead.code if lead else "",
        lead_name=lead.name if lead else a.lead_raw,
        status=a.status,
        status_label=a.status_label,
        baseline=_fuzzy(a.baseline_due, a.baseline_due_precision),
        forecast=_fuzzy(a.forecast_due, a.forecast_due_precision),
        due_kind=a.due_kind,
        progress=a.progress,
        evidence=a.evidence,
        embedded=a.embedded,
        withdrawn=a.withdrawn,
        milestones=tuple(milestones.get(a.id, ())),
        measures=tuple(measures.get(a.id, ())),
        original_baseline=_fuzzy(*first_baselines[a.id]) if a.id in first_baselines else None,
        baseline_note=baseline_notes.get(a.id, ""),
    )


def _decision_words(d: Decision, refs: Mapping[int | None, str]) -> str:
    """'Decision 2: … (new action 2.12)'."""
    return f"Decision {d.position}: {d.text}" + (
        f" (new action {refs[d.action_id]})" if d.action_id in refs else ""
    )


def _measures(
    session: Session, plan_id: int, only: Collection[int] | None = None
) -> dict[int, list[MeasureFacts]]:
    """Impact measures linked to an action (area-wide measures are not flagged per action)."""
    chosen = select(Measure).where(Measure.plan_id == plan_id)
    if only is not None:
        chosen = chosen.where(col(Measure.action_id).in_(sorted(only)))
    found = list(session.exec(chosen))
    ids = [m.id for m in found if m.id is not None]
    readings: dict[int, list[tuple[date, float]]] = defaultdict(list)
    for r in session.exec(select(MeasureReading).where(col(MeasureReading.measure_id).in_(ids))):
        readings[r.measure_id].append((r.period_end, r.value))
    out: dict[int, list[MeasureFacts]] = defaultdict(list)
    for m in found:
        if m.action_id is None or m.id is None:
            continue
        out[m.action_id].append(
            MeasureFacts(
                name=m.name,
                unit=m.unit,
                higher_is_better=m.higher_is_better,
                trajectory=tuple(_trajectory(m.trajectory)),
                readings=tuple(readings.get(m.id, ())),
            )
        )
    return out


def _trajectory(points: list[dict[str, Any]]) -> list[tuple[date, float]]:
    out = []
    for p in points:
        try:
            out.append((date.fromisoformat(str(p["date"])), float(p["value"])))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed point is skipped rather than sinking the whole digest
    return out


def _fuzzy(d: date | None, precision: str | None) -> FuzzyDate | None:
    return FuzzyDate.from_stored(d, precision, end=True) if d and precision else None


def _name(people: Mapping[int | None, Person], person_id: int | None) -> str:
    person = people.get(person_id) if person_id is not None else None
    return person.name if person else ""


def _area_ref(areas: Mapping[int | None, Area], area_id: int | None) -> str:
    area = areas.get(area_id) if area_id is not None else None
    return f"Area {area.number}" if area else ""
