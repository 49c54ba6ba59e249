"""The board's own records (:mod:`workflows.board`): every completion date the board agreed for
an action, in order; who attended each meeting; what it decided and the actions it set."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from workflows.store.types import UTCDateTime


class Baseline(SQLModel, table=True):
    """One baseline of an action (append-only). ``position`` 0 is the date first imported from
    the plan, kept when the board first agrees another; the highest position is the current
    baseline, which is also ``Action.baseline_due``."""

    __table_args__ = (UniqueConstraint("action_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    position: int
    due: date | None = None
    due_precision: str | None = Field(default=None, max_length=16)
    #: The meeting that agreed it ("SIB:2025-09-30"); "" for the date first imported.
    meeting_key: str = Field(default="", max_length=64)
    reason: str = ""
    recorded_by: str = Field(default="", max_length=320)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class MeetingRecord(SQLModel, table=True):
    """Who attended one meeting, as the secretary recorded it after the meeting (the latest
    record stands; each change is in the audit log)."""

    __tablename__ = "meeting_record"
    __table_args__ = (UniqueConstraint("plan_id", "meeting_key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    meeting_key: str = Field(max_length=64)  # "SIB:2025-09-30"
    present: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    apologies: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recorded_by: str = Field(default="", max_length=320)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Decision(SQLModel, table=True):
    """One resolution of a meeting (append-only), and the action it set, if any: an action the
    board set is an ordinary ``Action`` of the plan, chased like any other."""

    __table_args__ = (UniqueConstraint("plan_id", "meeting_key", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    meeting_key: str = Field(max_length=64, index=True)
    position: int  # 1, 2, … in the meeting's order
    text: str
    action_id: int | None = Field(default=None, foreign_key="action.id")
    recorded_by: str = Field(default="", max_length=320)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
