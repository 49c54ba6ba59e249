"""The flags the secretary's pages show, kept in the store (:mod:`workflows.store.read_models`).

A page never rebuilds the next digest. Each change to a plan records, in its own transaction,
which actions it made stale (:func:`workflows.store.read_models.touch`); :func:`refresh`
recomputes only those (or the whole plan on a new London day, when the next meeting is another,
or after an import) and keeps the result. The tick refreshes every plan; a page refreshes its
plan only if a change came since, so a page costs one indexed read however large the plan.

:class:`FlagRules` is what the composition root gives: which meeting's digest the flags are of
at a moment, and how to compute them (the digest's own rules, :func:`workflows.digest.build.
action_flags`), so a refresh and a full rebuild agree by construction (tests check they do).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON
from workflows.digest.contents import Flag, Severity
from workflows.store.models import Action, Delivery
from workflows.store.read_models import ActionFlags, ReadModelDirty, ReadModelState

#: Flags by action id, as a refresh computes them: (ref, flags), flags empty when none.
Computed = Mapping[int, tuple[str, Sequence[Flag]]]
#: How many actions a refresh computes at once.
SLICE = 2000


@dataclass(frozen=True)
class FlagRules:
    """How one plan's flags are found (given by the composition root)."""

    #: The key of the meeting whose digest the flags are those of at a moment ("" when no
    #: meeting with a digest is ahead: then nothing is flagged).
    meeting_key: Callable[[datetime], str]
    #: The flags of the given actions (None: every action) at a moment.
    compute: Callable[[Session, datetime, Collection[int] | None], Computed]


def refresh(session: Session, plan_id: int, now: datetime, rules: FlagRules) -> bool:
    """Bring plan ``plan_id``'s flags up to date at ``now``; False when they already were.

    Commits. Safe to run in two processes at once: both compute, the rows end the same."""
    today = now.astimezone(LONDON).date()
    key = rules.meeting_key(now)
    state = session.get(ReadModelState, plan_id)
    dirty = list(
        session.exec(
            select(ReadModelDirty.id, ReadModelDirty.action_id).where(
                ReadModelDirty.plan_id == plan_id
            )
        )
    )
    whole = (
        state is None
        or state.as_of != today
        or state.meeting_key != key
        or any(action_id is None for _, action_id in dirty)
    )
    if not whole and not dirty:
        return False
    only = None if whole else {action_id for _, action_id in dirty if action_id is not None}
    computed: dict[int, tuple[str, Sequence[Flag]]] = {}
    if key:
        # A whole plan is computed a slice at a time: each action's flags depend only on its
        # own rows, and memory stays that of one slice however large the plan.
        ids = sorted(only) if only is not None else _action_ids(session, plan_id)
        for start in range(0, len(ids), SLICE):
            found = rules.compute(session, now, ids[start : start + SLICE])
            computed.update((a, (ref, flags)) for a, (ref, flags) in found.items() if flags)
            session.expunge_all()  # the slice's rows are not kept in the session
    table = ActionFlags.__table__  # type: ignore[attr-defined]
    clear = delete(table).where(table.c.plan_id == plan_id)
    if only is not None:
        clear = clear.where(table.c.action_id.in_(sorted(only)))
    session.execute(clear)
    rows = [
        {
            "plan_id": plan_id,
            "action_id": action_id,
            "ref": ref,
            "flagged": True,
            "flags": [_stored(f) for f in flags],
        }
        for action_id, (ref, flags) in computed.items()
    ]
    if rows:
        session.execute(insert(table), rows)
    if dirty:
        seen = max(row_id for row_id, _ in dirty if row_id is not None)
        session.execute(
            delete(ReadModelDirty).where(
                col(ReadModelDirty.plan_id) == plan_id, col(ReadModelDirty.id) <= seen
            )
        )
    values: dict[str, Any] = {"as_of": today, "meeting_key": key, "refreshed_at": now}
    if state is None:
        try:
            with session.begin_nested():
                session.add(ReadModelState(plan_id=plan_id, revision=1, **values))
        except IntegrityError:  # another process made it first: ours is as good
            session.execute(
                update(ReadModelState)
                .where(col(ReadModelState.plan_id) == plan_id)
                .values(**values)
            )
    else:
        session.execute(
            update(ReadModelState).where(col(ReadModelState.plan_id) == plan_id).values(**values)
        )
    session.commit()
    return True


def _action_ids(session: Session, plan_id: int) -> list[int]:
    return [a for a in session.exec(select(Action.id).where(Action.plan_id == plan_id)) if a]


def stored_flags(
    session: Session, plan_id: int, refs: Collection[str] | None = None
) -> dict[str, tuple[Flag, ...]]:
    """The flags kept for the plan's flagged actions, by ref (of ``refs`` only, when given)."""
    chosen = select(ActionFlags.ref, ActionFlags.flags).where(
        ActionFlags.plan_id == plan_id, col(ActionFlags.flagged).is_(True)
    )
    if refs is not None:
        if not refs:
            return {}
        chosen = chosen.where(col(ActionFlags.ref).in_(sorted(refs)))
    return {ref: tuple(_flag(f) for f in flags or ()) for ref, flags in session.exec(chosen)}


def flagged_action_ids(plan_id: int) -> Select[Any]:
    """The ids of the plan's flagged actions, as a subquery for a page's "flagged" filter:
    ``select(Action).where(col(Action.id).in_(flagged_action_ids(plan_id)))``."""
    return select(ActionFlags.action_id).where(
        ActionFlags.plan_id == plan_id, col(ActionFlags.flagged).is_(True)
    )


def plan_stamp(session: Session, plan_id: int) -> tuple[Any, ...]:
    """What says a view of the plan computed earlier still holds: the plan's revision (moved by
    every change to its actions, history, replies and people) and the last change to its
    outbox. Two index lookups, whatever the plan's size."""
    revision = session.exec(
        select(ReadModelState.revision).where(ReadModelState.plan_id == plan_id)
    ).first()
    outbox = session.exec(
        select(func.max(Delivery.updated_at)).where(Delivery.plan_id == plan_id)
    ).one()
    return (revision, outbox)


def _stored(flag: Flag) -> dict[str, Any]:
    return {"rule": flag.rule, "severity": int(flag.severity), "reason": flag.reason}


def _flag(stored: Mapping[str, Any]) -> Flag:
    return Flag(
        rule=str(stored["rule"]),
        severity=Severity(int(stored["severity"])),
        reason=str(stored["reason"]),
    )
