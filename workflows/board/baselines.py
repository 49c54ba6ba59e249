"""Re-baselining: a completion date the board agreed again for an action.

Every baseline is kept in order in the ``baseline`` table: position 0 is the date first imported
from the plan (written when the board first agrees another), then one row per agreement, with
the meeting, the reason and who recorded it. ``Action.baseline_due`` is always the current one,
so slippage is measured against it; the digest's log and the action page show the original
beside it. A lead's forecast never moves a baseline (:mod:`workflows.replies.apply` only sets
``forecast_due``); agreeing a new baseline sets the forecast to it, in the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from workflows.access.audit import record
from workflows.board.errors import BoardInputError
from workflows.plan.dates import FuzzyDate, parse_date_cell, show_date
from workflows.store.board_models import Baseline
from workflows.store.models import Action, ChangeKind, Channel, Plan, StatusChange

#: The history's kind for a baseline the board agreed again.
REBASELINED = "rebaselined"
FIRST_IMPORTED = "As first imported from the plan"


@dataclass(frozen=True)
class BaselineLine:
    """One baseline as the pages and the log show it."""

    position: int
    due: str  # "Dec 2024", or "" when the plan gave none
    meeting_key: str
    reason: str
    recorded_by: str
    recorded_at: datetime

    @property
    def original(self) -> bool:
        return self.position == 0

    @property
    def meeting(self) -> str:
        """ "SIB on 30 Sep 2025" ("" for the date first imported)."""
        return meeting_words(self.meeting_key) if self.meeting_key else ""


def meeting_words(key: str) -> str:
    """'SIB:2025-09-30' as 'SIB on 30 Sep 2025' (the key itself if it is not one)."""
    group, _, day = key.partition(":")
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return key
    return f"{group} on {when.day} {when:%b %Y}"


def read_due(field: str, text: str) -> FuzzyDate:
    """A completion date as a secretary writes it ("Dec 2024", "31/12/2024", "2024-12-31")."""
    parsed = parse_date_cell(text.strip())
    found = parsed.date if parsed.date is not None else parsed.earliest
    if not text.strip() or found is None or len(parsed.parts) > 1:
        raise BoardInputError(
            field,
            f"{field}: {text.strip()[:60]!r} is not one completion date. Expected a date such as "
            "'Dec 2024', '31/12/2024' or '2024-12-31'; write the date the board agreed.",
        )
    return found


def find_action(session: Session, plan_code: str, ref: str, *, field: str = "ref") -> Action:
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None:
        raise BoardInputError("plan", f"plan: there is no plan {plan_code!r} in the store.")
    action = session.exec(
        select(Action).where(Action.plan_id == plan.id, Action.ref == ref.strip())
    ).first()
    if action is None:
        raise BoardInputError(
            field,
            f"{field}: there is no action {ref.strip()[:40]!r} in plan {plan_code}. Expected the "
            "plan's own ref (as on the plan page, e.g. '2.5'); check it and try again.",
        )
    return action


def rebaseline(
    session: Session,
    plan_code: str,
    ref: str,
    due: FuzzyDate,
    *,
    meeting_key: str,
    reason: str,
    by: str,
    now: datetime,
) -> Baseline:
    """Record that the meeting ``meeting_key`` agreed ``due`` as action ``ref``'s completion
    date, for ``reason``. Does not commit. Raises :class:`BoardInputError` for bad input."""
    action = find_action(session, plan_code, ref)
    assert action.id is not None
    if not meeting_key.strip():
        raise BoardInputError(
            "meeting",
            "meeting: no meeting given. Expected the meeting that agreed the date (e.g. "
            "'SIB:2025-09-30'); choose it from the list.",
        )
    if not reason.strip():
        raise BoardInputError(
            "reason",
            "reason: no reason given. Expected the board's reason for agreeing a new date, "
            "as minuted; write it in.",
        )
    if not by.strip():
        raise BoardInputError("by", "by: no one named. Say who records it (--by NAME).")
    old = (action.baseline_due, action.baseline_due_precision)
    new = (due.last_day, str(due.precision))
    if old == new:
        raise BoardInputError(
            "due",
            f"due: {due.display} is already action {action.ref}'s baseline. Expected a different "
            "completion date; nothing was changed.",
        )
    kept = list(
        session.exec(
            select(Baseline).where(Baseline.action_id == action.id).order_by(col(Baseline.position))
        )
    )
    if not kept:
        session.add(
            Baseline(
                action_id=action.id,
                position=0,
                due=action.baseline_due,
                due_precision=action.baseline_due_precision,
                reason=FIRST_IMPORTED,
                recorded_by="plan import",
                recorded_at=action.created_at,
            )
        )
    row = Baseline(
        action_id=action.id,
        position=(kept[-1].position + 1) if kept else 1,
        due=new[0],
        due_precision=new[1],
        meeting_key=meeting_key.strip(),
        reason=reason.strip(),
        recorded_by=by.strip(),
        recorded_at=now,
    )
    session.add(row)
    before = show_date(*old) or "no date"
    session.add(
        StatusChange(
            action_id=action.id,
            recorded_at=now,
            channel=str(Channel.ADMIN),
            kind=REBASELINED,
            status_before=action.status,
            status_after=action.status,
            status_label_after=action.status_label,
            note=(
                f"Baseline {before} → {due.display}, agreed by {meeting_key.strip()}: "
                f"{reason.strip()}. Recorded by {by.strip()}."
            ),
        )
    )
    if (action.forecast_due, action.forecast_due_precision) != new:
        session.add(
            StatusChange(
                action_id=action.id,
                recorded_at=now,
                channel=str(Channel.ADMIN),
                kind=str(ChangeKind.FORECAST),
                status_before=action.status,
                status_after=action.status,
                status_label_after=action.status_label,
                due_before=action.forecast_due,
                due_before_precision=action.forecast_due_precision,
                due_after=new[0],
                due_after_precision=new[1],
                note=f"Set to the baseline the board agreed. Recorded by {by.strip()}.",
            )
        )
        action.forecast_due, action.forecast_due_precision = new
    action.baseline_due, action.baseline_due_precision = new
    if action.due_kind in ("empty", "tbc", "unreadable"):
        action.due_kind = "date"
    action.updated_at = now
    session.add(action)
    record(
        session,
        "rebaselined",
        now=now,
        by=by.strip(),
        reason=f"{plan_code} {action.ref}: {before} → {due.display} ({meeting_key.strip()})",
    )
    session.flush()
    return row


def baselines_of(session: Session, action_id: int) -> tuple[BaselineLine, ...]:
    """Every baseline of the action, oldest first (empty until the board agreed another)."""
    return tuple(
        baseline_line(b)
        for b in session.exec(
            select(Baseline).where(Baseline.action_id == action_id).order_by(col(Baseline.position))
        )
    )


def originals(
    session: Session, action_ids: Iterable[int]
) -> dict[int, tuple[date | None, str | None]]:
    """The original baseline (date, precision) of each re-baselined action, by action id."""
    ids = list(action_ids)
    if not ids:
        return {}
    found: dict[int, tuple[date | None, str | None]] = {}
    for b in session.exec(
        select(Baseline).where(col(Baseline.action_id).in_(ids), Baseline.position == 0)
    ):
        found[b.action_id] = (b.due, b.due_precision)
    return found


def agreed_at(session: Session, action_ids: Sequence[int]) -> dict[str, list[tuple[int, Baseline]]]:
    """The baselines agreed (position > 0), by meeting key: (action id, row), in order."""
    by_meeting: dict[str, list[tuple[int, Baseline]]] = defaultdict(list)
    if not action_ids:
        return {}
    for b in session.exec(
        select(Baseline)
        .where(col(Baseline.action_id).in_(list(action_ids)), Baseline.position > 0)
        .order_by(col(Baseline.recorded_at), col(Baseline.id))
    ):
        by_meeting[b.meeting_key].append((b.action_id, b))
    return dict(by_meeting)


def baseline_line(b: Baseline) -> BaselineLine:
    return BaselineLine(
        position=b.position,
        due=show_date(b.due, b.due_precision),
        meeting_key=b.meeting_key,
        reason=b.reason,
        recorded_by=b.recorded_by,
        recorded_at=b.recorded_at,
    )
