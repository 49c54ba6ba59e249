"""Read models the secretary's pages show, kept in the store and updated when the plan changes
(:mod:`workflows.views.flag_model` writes and reads them), so no page rebuilds a digest.

``action_flags`` holds, for each action of a plan, the flags the plan's next digest would
raise: the rules of :mod:`workflows.digest.slippage` applied once per change (a reply, a form
post, an import, a review decision, a re-baseline, a milestone met) and once each day (the
passing of a due date), never per request. ``read_model_state`` says, per plan, as of which
London day and for which meeting the rows were computed, and the plan's revision (raised on
every refresh), which the tick uses to know that nothing changed since it last looked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, insert, update
from sqlmodel import Field, SQLModel, col

from workflows.store.types import UTCDateTime


class ActionFlags(SQLModel, table=True):
    """The flags one action carries in its plan's next digest (none: ``flagged`` is false)."""

    __tablename__ = "action_flags"
    __table_args__ = (
        UniqueConstraint("plan_id", "action_id"),
        Index("ix_action_flags_plan_flagged", "plan_id", "flagged"),
        Index("ix_action_flags_plan_ref", "plan_id", "ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")
    action_id: int = Field(foreign_key="action.id", index=True)
    ref: str = Field(max_length=32)
    flagged: bool = False
    #: ``[{"rule": "overdue", "severity": "red", "reason": "Overdue by 3 months"}, …]``
    flags: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))


class ReadModelState(SQLModel, table=True):
    """As of when one plan's read model was computed."""

    __tablename__ = "read_model_state"

    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    #: The London day the flags are true of (a new day makes them stale).
    as_of: date | None = None
    #: The meeting whose digest the flags are those of ("SIB:2025-09-30"); "" when none is ahead.
    meeting_key: str = Field(default="", max_length=64)
    #: Raised on every refresh: a change to the plan's actions, replies or history.
    revision: int = 0
    refreshed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ReadModelDirty(SQLModel, table=True):
    """An action whose flags a change made stale (``action_id`` None: the whole plan, as after an
    import). The next refresh recomputes these and deletes the rows it has seen."""

    __tablename__ = "read_model_dirty"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    action_id: int | None = None


class TickMarker(SQLModel, table=True):
    """The tick found every chase due in one window already in the outbox, at a plan revision:
    until the plan changes or the window moves on (another day, another step), the tick need not
    read the plan again."""

    __tablename__ = "tick_marker"
    __table_args__ = (UniqueConstraint("plan_id", "signature"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")
    #: A digest of the window (London day, the ladder steps current, the chasing rules).
    signature: str = Field(max_length=64)
    revision: int
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def touch(executor: Any, plan_id: int, action_ids: Iterable[int] | None = None) -> None:
    """Record that a change to plan ``plan_id`` makes its read model stale: the given actions'
    flags (None: every action's, as after an import; an empty list: none, but the plan's
    revision still moves, for the tick). Call it in the transaction that makes the change:
    ``executor`` is a Session or a Connection."""
    executor.execute(
        update(ReadModelState)
        .where(col(ReadModelState.plan_id) == plan_id)
        .values(revision=ReadModelState.revision + 1)
    )
    ids = None if action_ids is None else sorted(set(action_ids))
    if ids == []:
        return
    table = ReadModelDirty.__table__  # type: ignore[attr-defined]
    rows = (
        [{"plan_id": plan_id, "action_id": None}]
        if ids is None
        else [{"plan_id": plan_id, "action_id": i} for i in ids]
    )
    executor.execute(insert(table), rows)
