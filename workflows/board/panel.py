"""What the action page shows of the board's records: every baseline in order, the meetings a
new one may be agreed at, and the milestones still open (a read model; nothing is changed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from workflows.board.baselines import BaselineLine, baseline_line, baselines_of, meeting_words
from workflows.calendar.meetings import Meeting
from workflows.store.board_models import Baseline, Decision, MeetingRecord
from workflows.store.models import Action, Milestone, Plan

#: The query flags the board's posts return to the action page with.
BOARD_NOTICES = ("rebaselined", "milestone_done")
#: How many past meetings the page offers for a new baseline.
MEETINGS_OFFERED = 6


@dataclass(frozen=True)
class MeetingChoice:
    key: str  # "SIB:2025-09-30"
    words: str  # "Local Area SEND Improvement Board, 30 Sep 2025"


@dataclass(frozen=True)
class OpenMilestone:
    position: int
    name: str  # "Milestone 2 (due Apr 2024)"


@dataclass(frozen=True)
class BoardPanel:
    ref: str
    baselines: tuple[BaselineLine, ...]  # oldest first; empty until re-baselined
    meetings: tuple[MeetingChoice, ...]  # newest first
    open_milestones: tuple[OpenMilestone, ...]

    @property
    def original(self) -> BaselineLine | None:
        return self.baselines[0] if self.baselines else None

    @property
    def current(self) -> BaselineLine | None:
        return self.baselines[-1] if self.baselines else None


def board_panel(
    session: Session, plan_code: str, ref: str, meetings: Sequence[Meeting], today: date
) -> BoardPanel | None:
    """The board's records of action ``ref``; None if the plan has no such action."""
    action = session.exec(
        select(Action)
        .join(Plan, col(Plan.id) == col(Action.plan_id))
        .where(Plan.code == plan_code, Action.ref == ref)
    ).first()
    if action is None or action.id is None:
        return None
    held = sorted(
        (m for m in meetings if m.goes_ahead and m.date <= today),
        key=lambda m: m.date,
        reverse=True,
    )[:MEETINGS_OFFERED]
    open_ones = tuple(
        OpenMilestone(
            m.position,
            f"Milestone {m.position}"
            + (f": {m.label}" if m.label and not m.label.isdigit() else ""),
        )
        for m in session.exec(
            select(Milestone)
            .where(Milestone.action_id == action.id)
            .order_by(col(Milestone.position))
        )
        if not m.complete
    )
    return BoardPanel(
        ref=action.ref,
        baselines=baselines_of(session, action.id),
        meetings=tuple(
            MeetingChoice(m.key, f"{m.group_name or m.group}, {m.date.day} {m.date:%b %Y}")
            for m in held
        ),
        open_milestones=open_ones,
    )


@dataclass(frozen=True)
class DecisionLine:
    position: int
    text: str
    ref: str  # the action it set, "" if none
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class MeetingBoard:
    """One meeting's records: who attended, what it decided, the baselines it agreed."""

    key: str
    words: str  # "SIB on 19 Aug 2025"
    present: tuple[str, ...]
    apologies: tuple[str, ...]
    attendance_by: str
    decisions: tuple[DecisionLine, ...]
    baselines: tuple[tuple[str, BaselineLine], ...]  # (action ref, the baseline agreed)


def meeting_board(session: Session, plan_code: str, key: str) -> MeetingBoard | None:
    """What the store holds of meeting ``key``; None if the plan is not in the store."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None or plan.id is None:
        return None
    attended = session.exec(
        select(MeetingRecord).where(
            MeetingRecord.plan_id == plan.id, MeetingRecord.meeting_key == key
        )
    ).first()
    refs = {a.id: a.ref for a in session.exec(select(Action).where(Action.plan_id == plan.id))}
    decisions = tuple(
        DecisionLine(d.position, d.text, refs.get(d.action_id, ""), d.recorded_by, d.recorded_at)
        for d in session.exec(
            select(Decision)
            .where(Decision.plan_id == plan.id, Decision.meeting_key == key)
            .order_by(col(Decision.position))
        )
    )
    agreed = tuple(
        (refs.get(b.action_id, ""), line)
        for b in session.exec(
            select(Baseline)
            .where(col(Baseline.action_id).in_(list(refs)), Baseline.meeting_key == key)
            .order_by(col(Baseline.recorded_at), col(Baseline.id))
        )
        for line in (baseline_line(b),)
    )
    return MeetingBoard(
        key=key,
        words=meeting_words(key),
        present=tuple(attended.present) if attended else (),
        apologies=tuple(attended.apologies) if attended else (),
        attendance_by=attended.recorded_by if attended else "",
        decisions=decisions,
        baselines=agreed,
    )
