"""What the board secretary's digest holds: plain data, built by workflows/digest/build.py and
rendered by notifications/digest_render.py (HTML email, XLSX log, DOCX board paper)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum

from workflows.digest.scorecard_contents import ScorecardSection


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True)
class Flag:
    """Why an action is slow to progress, in plain words ("Overdue by 3 months")."""

    rule: str  # "overdue", "forecast_slipped", "milestone_missed", "no_update", "status_worse",
    #            "no_change", "measure_off_track", "no_due_date"
    severity: Severity
    reason: str


@dataclass(frozen=True)
class LogRow:
    """One action in the action and impact log."""

    ref: str
    title: str
    area: int | None
    area_title: str
    lead_code: str
    lead_name: str
    status: str | None  # complete / on_track / at_risk / off_track / not_due, None = never reported
    status_label: str  # the plan's own value ("Amber"), "" if never reported
    status_colour: str  # hex "FFC000" from the plan's scale, "" if none
    previous_status_label: str  # at the previous meeting
    change: str  # "better", "worse", "same", "new" (first report) or "none" (never reported)
    due: str  # the baseline, as the plan wrote it ("Dec 2023", "TBC")
    forecast: str  # "" when the same as the baseline
    slip_days: int | None  # forecast minus baseline, in days
    narrative: str  # the latest words from the lead
    narrative_on: date | None
    evidence: str
    updated_this_cycle: bool
    late: bool  # the latest update came after the papers deadline
    flags: tuple[Flag, ...]
    #: The baseline first imported, when the board has since agreed another ("" if not).
    original_due: str = ""
    #: The latest agreement: "agreed by SIB on 30 Sep 2025: funding moved" ("" if none).
    baseline_note: str = ""

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.flags), default=None)


@dataclass(frozen=True)
class AreaCount:
    area: int | None
    title: str
    counts: dict[str, int]  # status label (or "Not reported") -> actions now
    previous: dict[str, int]  # the same at the previous meeting


@dataclass(frozen=True)
class PersonLine:
    code: str
    name: str
    actions: int  # in scope
    replied: bool  # updated every in-scope action this cycle
    escalated: bool  # an escalation went to their senior responsible officer
    #: Replied, awaiting review: every action not updated this cycle is answered by a reply
    #: received this cycle that waits on the review queue; these are those replies' numbers.
    review_replies: tuple[int, ...] = ()

    @property
    def awaiting_review(self) -> bool:
        return bool(self.review_replies)


@dataclass(frozen=True)
class RiskLine:
    ref: str  # the action's ref, or "Area N"
    description: str
    mitigation: str
    owner: str
    change: str  # "new", "updated" or "closed" since the previous meeting


@dataclass(frozen=True)
class DeadLetter:
    kind: str
    recipient: str  # a person code, never an address
    reason: str
    at: datetime


@dataclass(frozen=True)
class Invitee:
    name: str
    role: str
    invited: bool  # on the meeting's invitation (the calendar feed's attendees)


@dataclass(frozen=True)
class Trend:
    """Status counts by area at one past meeting, for the chart."""

    meeting: date
    counts: dict[str, dict[str, int]]  # area title -> status label -> actions


@dataclass(frozen=True)
class MeetingDecisions:
    """What one meeting decided, for the log: each line says what and for which action."""

    meeting_key: str  # "SIB:2025-09-30"
    meeting: str  # "SIB on 30 Sep 2025"
    lines: tuple[str, ...]  # "2.5: baseline Mar 2024 → Dec 2024 (funding moved)"


@dataclass(frozen=True)
class Digest:
    plan_code: str
    plan_title: str
    group_code: str
    group_name: str
    meeting_date: date
    papers_deadline: date
    previous_meeting: date | None
    generated_at: datetime
    scale: tuple[tuple[str, str, str], ...]  # (value, label, colour) of the plan's scale, in order
    exceptions: tuple[LogRow, ...]  # only what is flagged, worst first
    log: tuple[LogRow, ...]  # every action in scope, in plan order
    areas: tuple[AreaCount, ...]
    not_replied: tuple[PersonLine, ...]
    escalated: tuple[PersonLine, ...]
    risks: tuple[RiskLine, ...]
    dead_letters: tuple[DeadLetter, ...]
    invitees: tuple[Invitee, ...]
    trend: tuple[Trend, ...]  # oldest first, the current meeting last
    #: The scorecard and the risk register (workflows/digest/scorecard.py), None if neither.
    scorecard: ScorecardSection | None = None
    #: Escalation messages sent for this meeting, one per officer (as the meeting page counts
    #: them); ``escalated`` lists the leads they named.
    escalations: int = 0
    #: What the board decided, per meeting, since the previous one (workflows/board/).
    decisions: tuple[MeetingDecisions, ...] = ()
