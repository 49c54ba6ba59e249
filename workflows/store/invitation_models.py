"""The record of every calendar invitation sent (:mod:`workflows.calendar.invitations`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from workflows.store.types import UTCDateTime


class Invitation(SQLModel, table=True):
    """One invitation, update or cancellation of one meeting, to one person (append-only).

    The latest ``sequence`` for a (``uid``, ``email``) is what that person's calendar holds; the
    message itself is the outbox row ``delivery_key``. ``response`` is their answer (accepted,
    declined, tentative) when one comes back.

    ``via`` says how it went: ``email`` (an iMIP message to this one person), or ``graph`` (the
    meeting's one calendar event in the shared mailbox, every invitee on it; then several
    records share one ``delivery_key``, and ``graph_event_id`` is the event's Graph ``id``,
    copied from the outbox row's receipt once it is sent; Exchange keeps the answers on the
    event, and ``graph_checked_at`` is when Chaser last read them from it)."""

    __table_args__ = (UniqueConstraint("plan_id", "uid", "email", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    meeting_key: str = Field(max_length=64, index=True)  # "SIB:2025-09-30" (its slot)
    uid: str = Field(max_length=255)
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=200)
    mandatory: bool = False
    sequence: int = 0
    method: str = Field(max_length=16)  # REQUEST | CANCEL
    why: str = Field(default="", max_length=16)  # new | moved | cancelled | uninvited
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    location: str = Field(default="", max_length=300)
    delivery_key: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    response: str = Field(default="", max_length=16)
    responded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    via: str = Field(default="email", max_length=16)  # email | graph
    graph_event_id: str = Field(default="", max_length=255)
    graph_checked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
