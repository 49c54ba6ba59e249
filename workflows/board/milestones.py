"""Milestones marked done: by the secretary on the action page, by a lead on the reply form or
in an email ("milestone 2 done").

A milestone marked done is ``Milestone.complete``, so the digest's missed-milestone flag clears
(:func:`workflows.digest.slippage.milestone_missed` skips complete milestones); the history
records who, when and how (a ``milestone_done`` change naming the milestone).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from workflows.access.audit import record
from workflows.board.errors import BoardInputError
from workflows.plan.dates import show_date
from workflows.store.models import Action, Channel, Milestone, Reply, StatusChange

#: The history's kind for a milestone marked done.
MILESTONE_DONE = "milestone_done"


@dataclass(frozen=True)
class MilestoneDone:
    """A milestone someone said is done: its number on the action, and the action's ref when the
    words named one (None: the action the message was about)."""

    position: int
    ref: str | None = None


@dataclass(frozen=True)
class OpenMilestone:
    """A milestone not yet done, as the reply form offers it."""

    position: int
    name: str  # "Milestone 2: Programme roll out (due Jul 2024)"


def open_milestones(
    session: Session, action_ids: Collection[int]
) -> dict[int, tuple[OpenMilestone, ...]]:
    """The milestones not yet done of each action, in order, by action id."""
    found: dict[int, list[OpenMilestone]] = {}
    if not action_ids:
        return {}
    for m in session.exec(
        select(Milestone)
        .where(col(Milestone.action_id).in_(list(action_ids)), col(Milestone.complete).is_(False))
        .order_by(col(Milestone.action_id), col(Milestone.position))
    ):
        label = m.label if m.label and not m.label.isdigit() else ""
        due = show_date(m.forecast_due, m.forecast_due_precision)
        found.setdefault(m.action_id, []).append(
            OpenMilestone(
                m.position,
                f"Milestone {m.position}"
                + (f": {label}" if label else "")
                + (f" (due {due})" if due else ""),
            )
        )
    return {k: tuple(v) for k, v in found.items()}


def milestone_name(m: Milestone) -> str:
    label = m.label if m.label and not m.label.isdigit() else ""
    due = show_date(m.baseline_due, m.baseline_due_precision)
    return f"Milestone {m.position}" + (f" ({label})" if label else f" (due {due})" if due else "")


def mark_done(
    session: Session,
    action: Action,
    position: int,
    *,
    now: datetime,
    channel: str,
    person_id: int | None = None,
    reply: Reply | None = None,
    by: str = "",
) -> StatusChange | None:
    """Mark milestone ``position`` of ``action`` done; None if it already was. Does not commit.

    Raises :class:`BoardInputError` naming the action's milestones when it has no such one."""
    assert action.id is not None
    milestones = list(
        session.exec(
            select(Milestone)
            .where(Milestone.action_id == action.id)
            .order_by(col(Milestone.position))
        )
    )
    found = next((m for m in milestones if m.position == position), None)
    if found is None:
        have = ", ".join(str(m.position) for m in milestones) or "none"
        raise BoardInputError(
            "milestone",
            f"milestone: action {action.ref} has no milestone {position}. Expected one of its "
            f"milestones by number (it has: {have}); check the number on the action page.",
        )
    if found.complete:
        return None
    found.complete = True
    session.add(found)
    who = f" by {by}" if by else ""
    change = StatusChange(
        action_id=action.id,
        recorded_at=now,
        person_id=person_id if person_id is not None else (reply.person_id if reply else None),
        channel=channel,
        kind=MILESTONE_DONE,
        status_before=action.status,
        status_after=action.status,
        status_label_after=action.status_label,
        note=f"{milestone_name(found)} marked done{who}.",
        late=reply.late if reply else False,
        reply_id=reply.id if reply else None,
    )
    session.add(change)
    action.updated_at = now
    session.add(action)
    session.flush()
    return change


# -- "milestone 2 done" in an email -------------------------------------------------------------

_NUMBERS = r"(\d{1,2}(?:\s*(?:,|&|and)\s*\d{1,2})*)"
_DONE = r"(?:done|complete|completed|met|achieved|delivered|finished)"
_AFTER = re.compile(
    rf"\bmilestones?\s*(?:no\.?\s*|number\s*|#\s*)?{_NUMBERS}\s*(?:is|are|has been|have been|"
    rf"was|were|now)?\s*(?:now\s*)?{_DONE}\b",
    re.IGNORECASE,
)
_BEFORE = re.compile(
    rf"\b(?:completed|met|achieved|delivered|finished|done)\s+(?:the\s+)?milestones?\s*"
    rf"(?:no\.?\s*|number\s*|#\s*)?{_NUMBERS}\b",
    re.IGNORECASE,
)
_NOT = re.compile(r"\b(?:not|n't|never|yet to be|nearly|almost)\b", re.IGNORECASE)


def milestones_done_in(text: str, refs: Collection[str] = ()) -> tuple[MilestoneDone, ...]:
    """The milestones an emailed reply says are done ("milestone 2 done", "milestones 1 and 3
    are complete", "we have met milestone 2"), with the action ref when the same line names one
    of ``refs``. A line that negates it ("milestone 2 is not done") counts for nothing. Pure."""
    found: list[MilestoneDone] = []
    for line in text.splitlines():
        if line.lstrip().startswith(">"):
            continue  # the quoted request
        for pattern in (_AFTER, _BEFORE):
            for m in pattern.finditer(line):
                if _NOT.search(m.group(0)) or _NOT.search(line[max(0, m.start() - 12) : m.start()]):
                    continue
                ref = _ref_on(line[: m.start()], refs)
                for n in re.findall(r"\d{1,2}", m.group(1)):
                    done = MilestoneDone(int(n), ref)
                    if done not in found:
                        found.append(done)
    return tuple(found)


def _ref_on(before: str, refs: Collection[str]) -> str | None:
    """The last of ``refs`` written before the match on its line, as a whole word."""
    best: tuple[int, str] | None = None
    for ref in refs:
        for m in re.finditer(rf"(?<![\w.]){re.escape(ref)}(?![\w]|\.\d)", before):
            if best is None or m.start() > best[0]:
                best = (m.start(), ref)
    return best[1] if best else None


def apply_milestones_done(
    session: Session,
    reply: Reply,
    done: Sequence[MilestoneDone],
    *,
    refs_asked: Sequence[str],
    now: datetime,
) -> tuple[list[StatusChange], list[str]]:
    """Mark done what an emailed (or posted) ``reply`` said is done. Does not commit.

    A milestone without a ref is the only action asked about (``refs_asked``); when the request
    asked about several, or the action has no such milestone, it is not applied and a problem is
    returned (for the review queue's reason) instead. Returns (changes, problems)."""
    if reply.plan_id is None:
        raise ValueError("a reply must be tied to a plan before it is applied")
    changes: list[StatusChange] = []
    problems: list[str] = []
    for item in done:
        ref = item.ref or (refs_asked[0] if len(refs_asked) == 1 else None)
        if ref is None:
            problems.append(
                f"milestone {item.position} done, but the reply names no action and the request "
                f"asked about {len(refs_asked)}: say which action (e.g. '2.5 milestone "
                f"{item.position} done')"
            )
            continue
        action = session.exec(
            select(Action).where(Action.plan_id == reply.plan_id, Action.ref == ref)
        ).first()
        if action is None:
            problems.append(f"milestone {item.position} done, but there is no action {ref}")
            continue
        try:
            change = mark_done(
                session, action, item.position, now=now, channel=reply.channel, reply=reply
            )
        except BoardInputError as e:
            problems.append(e.message)
            continue
        if change is not None:
            changes.append(change)
    return changes, problems


def secretary_marks_done(
    session: Session, action: Action, position: int, *, by: str, now: datetime
) -> StatusChange | None:
    """The secretary marks a milestone done from the action page (recorded under their name)."""
    change = mark_done(session, action, position, now=now, channel=str(Channel.ADMIN), by=by)
    if change is not None:
        record(
            session,
            "milestone_done",
            now=now,
            by=by,
            reason=f"action {action.ref} milestone {position}",
        )
    return change
