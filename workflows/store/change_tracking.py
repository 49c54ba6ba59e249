"""Every change the ORM writes marks what it makes stale in the read models
(:mod:`workflows.store.read_models`), in the same transaction, so no write path can forget to.

Registered on SQLAlchemy's ``Session`` class when this module is imported
(:mod:`workflows.store.db` imports it, so every engine Chaser makes has it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, insert, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from workflows.store.board_models import Baseline
from workflows.store.models import (
    Action,
    Measure,
    MeasureReading,
    Milestone,
    Person,
    Reply,
    StatusChange,
)
from workflows.store.read_models import ReadModelDirty, ReadModelState, touch


def touch_actions(executor: Any, action_ids: Iterable[int]) -> None:
    """:func:`touch` for actions known only by id (their plans are looked up in the store)."""
    ids = sorted(set(action_ids))
    if not ids:
        return
    actions = Action.__table__  # type: ignore[attr-defined]
    executor.execute(
        update(ReadModelState)
        .where(
            col(ReadModelState.plan_id).in_(select(actions.c.plan_id).where(actions.c.id.in_(ids)))
        )
        .values(revision=ReadModelState.revision + 1)
    )
    executor.execute(
        insert(ReadModelDirty.__table__).from_select(  # type: ignore[attr-defined]
            ["plan_id", "action_id"],
            select(actions.c.plan_id, actions.c.id).where(actions.c.id.in_(ids)),
        )
    )


def touch_all(executor: Any) -> None:
    """Move every plan's revision (a change to the people directory: whom the tick chases)."""
    executor.execute(update(ReadModelState).values(revision=ReadModelState.revision + 1))


@event.listens_for(Session, "after_flush")
def _touch_what_changed(session: Session, _context: Any) -> None:
    """Every change the ORM writes marks what it makes stale, in the same transaction: the
    actions whose history, dates, milestones, baselines or measures changed, and (for replies
    and people) the plans' revisions the tick compares. Bulk writes through SQL Core call
    :func:`touch` themselves (:func:`workflows.plan.merge.merge_plan` does)."""
    actions: set[int] = set()
    measures: set[int] = set()
    replies: set[int] = set()
    people = False
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Action) and obj.id is not None:
            actions.add(obj.id)
        elif isinstance(obj, StatusChange | Milestone | Baseline | Measure):
            if obj.action_id is not None:  # a measure may be the whole area's
                actions.add(obj.action_id)
        elif isinstance(obj, MeasureReading):
            measures.add(obj.measure_id)
        elif isinstance(obj, Reply) and obj.plan_id is not None:
            replies.add(obj.plan_id)
        elif isinstance(obj, Person):
            people = True
    if not (actions or measures or replies or people):
        return
    connection = session.connection()
    if measures:
        linked = connection.execute(
            select(Measure.action_id).where(
                col(Measure.id).in_(sorted(measures)), col(Measure.action_id).is_not(None)
            )
        )
        actions.update(a for (a,) in linked if a is not None)
    touch_actions(connection, actions)
    for plan_id in sorted(replies):
        touch(connection, plan_id, ())
    if people:
        touch_all(connection)
