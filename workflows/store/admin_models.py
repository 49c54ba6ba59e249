"""The tables of the admin pages: each saved version of an admin-edited configuration file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from workflows.store.types import UTCDateTime


class ConfigVersion(SQLModel, table=True):
    """One save of a configuration file from the admin pages (append-only): the text it
    replaced, the unified diff from that text to the one saved, who saved it and when."""

    __tablename__ = "config_version"

    id: int | None = Field(default=None, primary_key=True)
    #: The plan whose file it is ("" with one plan).
    plan_code: str = Field(default="", max_length=64, index=True)
    #: Which file: "cycles.yaml".
    file: str = Field(max_length=64)
    saved_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    #: The admin's name and address, as the audit log writes them.
    saved_by: str = Field(max_length=400)
    sha256_before: str = Field(max_length=64)
    sha256_after: str = Field(max_length=64)
    #: The file as it was before this save (the version kept).
    previous_text: str = Field(sa_column=Column(Text, nullable=False))
    diff: str = Field(sa_column=Column(Text, nullable=False))
