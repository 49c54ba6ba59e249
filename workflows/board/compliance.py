"""Evidence of the improvement notice's monitoring duties over a period, with the gaps named.

Each duty is checked against the records that prove it: the plan's actions and their leads, the
history of updates (before each papers deadline), the risk register's changes, the invitations
sent, the digests (the action and impact log) sent before each board meeting, and the impact
measures' readings. A duty is met when it has no gap; each gap says what is missing, where.
Pure but for the store: the period, the meetings and the time are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from workflows.board.baselines import meeting_words
from workflows.calendar.cycles import LONDON, CyclesConfig
from workflows.calendar.meetings import Meeting, meetings, scope_of
from workflows.store.invitation_models import Invitation
from workflows.store.measures_models import RiskChange
from workflows.store.models import (
    Action,
    Area,
    ChangeKind,
    Delivery,
    DeliveryState,
    Measure,
    MeasureReading,
    Plan,
    Risk,
    StatusChange,
)

#: Channels a lead's update comes by (imports and the secretary's edits are not updates).
LEAD_CHANNELS = ("form", "email", "teams")


@dataclass(frozen=True)
class Duty:
    """One duty of the notice: what proves it over the period, and every gap."""

    code: str  # "accountable_owner", "updates_before_deadline", …
    title: str  # the duty in the notice's words
    evidence: tuple[str, ...]  # what the records show, one line each
    gaps: tuple[str, ...]  # what is missing, one line each, named

    @property
    def met(self) -> bool:
        return not self.gaps


@dataclass(frozen=True)
class Compliance:
    plan_code: str
    start: date
    end: date
    board: str  # the group whose meetings are the improvement board's ("SIB")
    duties: tuple[Duty, ...]

    @property
    def gaps(self) -> int:
        return sum(len(d.gaps) for d in self.duties)


def board_groups(cycles: CyclesConfig) -> list[str]:
    """The groups the notice's invitation duty applies to: those with mandatory invitees."""
    return [g.code for g in cycles.groups if g.mandatory_invitees]


def compliance(
    session: Session,
    plan_code: str,
    cycles: CyclesConfig,
    *,
    start: date,
    end: date,
    now: datetime,
) -> Compliance:
    """Every duty over ``start``..``end`` (inclusive) as the store stands at ``now``."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None or plan.id is None:
        raise LookupError(f"plan {plan_code!r} is not in the store; import it first")
    today = now.astimezone(LONDON).date()
    groups = board_groups(cycles)
    held = [
        m
        for m in meetings(cycles, start, min(end, today), groups=groups)
        if m.goes_ahead and m.date <= today
    ]
    actions = list(
        session.exec(
            select(Action)
            .where(Action.plan_id == plan.id, col(Action.withdrawn).is_(False))
            .order_by(col(Action.position))
        )
    )
    return Compliance(
        plan_code=plan_code,
        start=start,
        end=end,
        board=", ".join(groups),
        duties=(
            _owners(actions),
            _updates(session, cycles, plan.id, actions, held),
            _risks(session, cycles, plan.id, held),
            _invitations(session, cycles, plan.id, held),
            _log(session, plan.id, held),
            _measures(session, plan.id, start, end),
        ),
    )


def _owners(actions: Sequence[Action]) -> Duty:
    without = [a.ref for a in actions if a.accountable_id is None]
    return Duty(
        "accountable_owner",
        "An accountable owner for every action",
        (f"{len(actions) - len(without)} of {len(actions)} actions have an accountable owner",),
        tuple(f"Action {ref} has no accountable owner in the people directory" for ref in without),
    )


def _deadline(meeting: Meeting) -> datetime:
    end_of_day = datetime.combine(meeting.papers_deadline, time(23, 59, 59), tzinfo=LONDON)
    return end_of_day.astimezone(UTC)


def _previous(cycles: CyclesConfig, meeting: Meeting) -> date:
    earlier = meetings(cycles, meeting.date - timedelta(days=200), meeting.date - timedelta(days=1),
                       groups=[meeting.group])  # fmt: skip
    return earlier[-1].date if earlier else meeting.date - timedelta(days=42)


def _since(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)


def _updates(
    session: Session,
    cycles: CyclesConfig,
    plan_id: int,
    actions: Sequence[Action],
    held: Sequence[Meeting],
) -> Duty:
    areas = {a.id: a.number for a in session.exec(select(Area).where(Area.plan_id == plan_id))}
    evidence: list[str] = []
    gaps: list[str] = []
    for m in held:
        scope = scope_of(cycles, m.group)
        due = [
            a
            for a in actions
            if scope.covers(area=areas.get(a.area_id), task_and_finish_group=a.reporting_group)
            and not a.embedded
            and a.status != "complete"
            and a.created_at < _deadline(m)
        ]
        ids = [a.id for a in due]
        updated = set(
            session.exec(
                select(StatusChange.action_id).where(
                    col(StatusChange.action_id).in_(ids),
                    StatusChange.kind == ChangeKind.UPDATE,
                    col(StatusChange.channel).in_(LEAD_CHANNELS),
                    col(StatusChange.recorded_at) >= _since(_previous(cycles, m)),
                    col(StatusChange.recorded_at) <= _deadline(m),
                )
            )
        )
        missing = [a.ref for a in due if a.id not in updated]
        words = meeting_words(m.key)
        evidence.append(
            f"{words}: {len(due) - len(missing)} of {len(due)} actions updated by the papers "
            f"deadline ({m.papers_deadline:%a} {m.papers_deadline.day} {m.papers_deadline:%b})"
        )
        if missing:
            gaps.append(f"{words}: no update before the papers deadline on {_refs(missing)}")
    return Duty(
        "updates_before_deadline",
        "Updates from every lead before each papers deadline, by meeting",
        tuple(evidence) or ("No board meeting was held in the period",),
        tuple(gaps),
    )


def _risks(session: Session, cycles: CyclesConfig, plan_id: int, held: Sequence[Meeting]) -> Duty:
    risks = list(session.exec(select(Risk).where(Risk.plan_id == plan_id)))
    evidence: list[str] = []
    gaps: list[str] = []
    for m in held:
        since, until = _since(_previous(cycles, m)), _deadline(m) + timedelta(days=7)
        meeting_end = datetime.combine(m.date, time(23, 59, 59), tzinfo=LONDON).astimezone(UTC)
        open_then = [
            r
            for r in risks
            if r.created_at <= meeting_end and not (r.closed_at and r.closed_at < since)
        ]
        ids = [r.id for r in open_then]
        reviewed = set(
            session.exec(
                select(RiskChange.risk_id).where(
                    col(RiskChange.risk_id).in_(ids),
                    col(RiskChange.recorded_at) >= since,
                    col(RiskChange.recorded_at) <= min(until, meeting_end),
                )
            )
        )
        missing = [r.code or f"risk {r.id}" for r in open_then if r.id not in reviewed]
        words = meeting_words(m.key)
        evidence.append(
            f"{words}: {len(open_then) - len(missing)} of {len(open_then)} open risks reviewed"
        )
        if not open_then:
            gaps.append(f"{words}: no risk on the register to review")
        elif missing:
            gaps.append(f"{words}: not reviewed this cycle: {', '.join(missing)}")
    return Duty(
        "risks_reviewed",
        "Risks reviewed each cycle",
        tuple(evidence) or ("No board meeting was held in the period",),
        tuple(gaps),
    )


def _invitations(
    session: Session, cycles: CyclesConfig, plan_id: int, held: Sequence[Meeting]
) -> Duty:
    evidence: list[str] = []
    gaps: list[str] = []
    for m in held:
        group = cycles.group(m.group)
        invited = {
            i.email.lower()
            for i in session.exec(
                select(Invitation).where(
                    Invitation.plan_id == plan_id,
                    Invitation.meeting_key == m.key,
                    Invitation.method == "REQUEST",
                )
            )
        }
        words = meeting_words(m.key)
        missing = [p for p in group.mandatory_invitees if (p.email or "").lower() not in invited]
        evidence.append(
            f"{words}: {len(group.mandatory_invitees) - len(missing)} of "
            f"{len(group.mandatory_invitees)} mandatory invitees invited"
        )
        gaps.extend(
            f"{words}: {p.name}{f' ({p.role})' if p.role else ''} was not invited" for p in missing
        )
    return Duty(
        "advisers_invited",
        "Invitations sent on each occasion to the DfE adviser, the NHS England adviser and the "
        "Department's case lead",
        tuple(evidence) or ("No board meeting was held in the period",),
        tuple(gaps),
    )


def _log(session: Session, plan_id: int, held: Sequence[Meeting]) -> Duty:
    evidence: list[str] = []
    gaps: list[str] = []
    for m in held:
        sent = session.exec(
            select(Delivery).where(
                Delivery.plan_id == plan_id,
                Delivery.kind == "digest",
                Delivery.meeting_key == m.key,
                Delivery.state == DeliveryState.SENT,
            )
        ).first()
        words = meeting_words(m.key)
        if sent is not None and sent.sent_at is not None:
            on = sent.sent_at.astimezone(LONDON)
            evidence.append(f"{words}: the action and impact log sent {on.day} {on:%b %Y}")
        else:
            gaps.append(f"{words}: no action and impact log was sent for the meeting")
    return Duty(
        "log_updated",
        "An action and impact log updated at each meeting",
        tuple(evidence) or ("No board meeting was held in the period",),
        tuple(gaps),
    )


def _measures(session: Session, plan_id: int, start: date, end: date) -> Duty:
    measures = list(
        session.exec(select(Measure).where(Measure.plan_id == plan_id).order_by(col(Measure.id)))
    )
    ids = [m.id for m in measures]
    reported = set(
        session.exec(
            select(MeasureReading.measure_id).where(
                col(MeasureReading.measure_id).in_(ids),
                col(MeasureReading.period_end) >= start,
                col(MeasureReading.period_end) <= end,
            )
        )
    )
    missing = [m for m in measures if m.id not in reported]
    return Duty(
        "measures_reported",
        "Impact measures reported",
        (
            f"{len(measures) - len(missing)} of {len(measures)} measures have a figure for "
            "the period",
        ),
        tuple(f"{m.code or m.name}: no figure reported for the period" for m in missing)
        or (("No impact measure is on the scorecard",) if not measures else ()),
    )


def _refs(refs: Sequence[str]) -> str:
    return ", ".join(refs)  # every one: a gap is named, never summarised
