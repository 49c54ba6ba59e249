"""``config/chasing.yaml``: the chase ladder, nudges, send window, sender and channels.

Documented for admins in ``docs/chasing.md``. :func:`load_chasing` names the file, key and fix
for every mistake.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.yaml_files import ConfigFileError, load_model, unknown_codes

ChannelName = Literal["email", "teams"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ladder(_Strict):
    """Working days relative to the papers deadline (negative: before it)."""

    request: int = Field(default=-5, le=0)
    reminder: int | None = -2
    final_reminder: int | None = 0
    escalation: int | None = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _in_order(self) -> Ladder:
        days = [
            d
            for d in (self.request, self.reminder, self.final_reminder, self.escalation)
            if d is not None
        ]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError(
                "the ladder's steps must come in order on different days: request before "
                "reminder before final_reminder before escalation, e.g. -5, -2, 0, 1"
            )
        return self


class Nudges(_Strict):
    before_due_days: int | None = Field(default=14, ge=1)
    on_due: bool = True
    overdue_working_days: int | None = Field(default=1, ge=1)


class SendWindow(_Strict):
    start: time = time(9, 0)
    end: time = time(17, 30)
    working_days_only: bool = True

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        if isinstance(value, int):  # YAML reads 09:00 unquoted as a base-60 number
            raise ValueError('write times in quotes, e.g. "09:00"')
        if isinstance(value, str) and not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            raise ValueError(f'time {value!r} is not understood; write e.g. "09:00"')
        return value

    @model_validator(mode="after")
    def _order(self) -> SendWindow:
        if self.end <= self.start:
            raise ValueError("send_window.end must be after send_window.start")
        if time(1, 0) <= self.start < time(3, 0):
            raise ValueError(
                "send_window.start between 01:00 and 03:00 is skipped or repeated when the "
                "clocks change; start at 09:00"
            )
        return self


class Sender(_Strict):
    mailbox: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = "Chaser"
    #: None means no pacing (only for a local test sink).
    rate_per_minute: int | None = Field(default=30, ge=1)


class Channels(_Strict):
    default: tuple[ChannelName, ...] = ("email",)
    people: dict[str, tuple[ChannelName, ...]] = Field(default_factory=dict)

    def for_person(self, code: str) -> tuple[ChannelName, ...]:
        return self.people.get(code, self.default)


class Retry(_Strict):
    max_attempts: int = Field(default=8, ge=1, le=50)
    first_delay_seconds: float = Field(default=60, gt=0)
    max_delay_seconds: float = Field(default=3600, gt=0)


class ChasingConfig(_Strict):
    plan: str
    #: Whose people directory the plan's leads are in: plans naming the same partnership share
    #: one ("" is the deployment's default directory).
    partnership: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9._-]*$")
    meetings: tuple[str, ...] = Field(min_length=1)
    ladder: Ladder = Ladder()
    nudges: Nudges = Nudges()
    send_window: SendWindow = SendWindow()
    sender: Sender
    form_url: str = Field(pattern=r"^https?://")
    channels: Channels = Channels()
    retry: Retry = Retry()


class ChasingConfigError(ConfigFileError):
    """chasing.yaml is missing or wrong; each problem names the file, line, key and fix."""


def load_chasing(path: Path, *, groups: Collection[str] | None = None) -> ChasingConfig:
    """chasing.yaml, checked; with ``groups`` (cycles.yaml's codes), its meetings too."""
    return load_model(
        path,
        ChasingConfig,
        ChasingConfigError,
        missing="copy config/chasing.yaml and edit it",
        expected="keys such as plan, meetings, ladder, sender",
        checks=[unknown_codes(["meetings"], groups)] if groups is not None else [],
    )
