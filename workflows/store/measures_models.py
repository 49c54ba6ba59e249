"""The tables of impact measures and the risk register beyond ``measure``, ``measure_reading``
and ``risk`` (in :mod:`workflows.store.models`): each risk's history, and each plan's risk
scoring bands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from workflows.store.types import UTCDateTime


class RiskChange(SQLModel, table=True):
    """One change to a risk (append-only): what changed, from what to what, who and when."""

    __tablename__ = "risk_change"

    id: int | None = Field(default=None, primary_key=True)
    risk_id: int = Field(foreign_key="risk.id", index=True)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    person_id: int | None = Field(default=None, foreign_key="person.id")
    #: Who made it when no person is known ("import by Morwenna Tregear").
    given_by: str = Field(default="", max_length=200)
    channel: str = Field(max_length=16)
    #: created | review | closed | reopened | import
    kind: str = Field(max_length=16)
    #: {"likelihood": [3, 4], "mitigation": ["old", "new"], ...}
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    score_before: int | None = None
    score_after: int | None = None
    reply_id: int | None = Field(default=None, foreign_key="reply.id")
    source: str = Field(default="", max_length=200)


class RiskScale(SQLModel, table=True):
    """A plan's risk scoring: its RAG bands by score and the rise that makes a risk escalated,
    as its register mapping set them at the last import."""

    __tablename__ = "risk_scale"

    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    #: [{"name": "Red", "min": 15, "colour": "D4351C"}, ...] highest first.
    bands: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    escalate_at: int = 15
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
