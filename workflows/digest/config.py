"""``config/digest.yaml``: which meetings get a digest, when it is sent, slippage thresholds."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.calendar.cycles import LONDON, CyclesConfig
from workflows.calendar.meetings import Meeting, meetings
from workflows.calendar.working_days import add_working_days, is_working_day
from workflows.chasing.config import SendWindow
from workflows.digest.slippage import slippage_problems
from workflows.yaml_files import Check, ConfigFileError, load_model, unknown_codes


class DigestSend(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    working_days_before: int = Field(default=2, ge=0, le=20)


class DigestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: tuple[str, ...] = Field(min_length=1)
    cycle_groups: tuple[str, ...] = ()
    send: DigestSend = DigestSend()
    #: Thresholds and severities, read by workflows.digest.slippage.SlippageConfig.from_mapping
    #: (and checked when the file is loaded).
    slippage: dict[str, Any] = Field(default_factory=dict)


class DigestConfigError(ConfigFileError):
    """digest.yaml is missing or wrong; each problem names the file, line, key and fix."""


def load_digest_config(path: Path, *, groups: Collection[str] | None = None) -> DigestConfig:
    """digest.yaml, checked, slippage rules included; with ``groups`` (cycles.yaml's codes),
    its groups too."""
    checks: list[Check] = [lambda data: slippage_problems(data.get("slippage"))]
    if groups is not None:
        checks.append(unknown_codes(["groups", "cycle_groups"], groups))
    return load_model(
        path,
        DigestConfig,
        DigestConfigError,
        missing="copy config/digest.yaml and edit it",
        expected="keys such as groups, send, slippage",
        checks=checks,
    )


def send_day(config: DigestConfig, meeting: Meeting) -> date:
    """The working day the digest for ``meeting`` goes out."""
    return add_working_days(meeting.date, -config.send.working_days_before)


def due_digests(
    cycles: CyclesConfig, config: DigestConfig, window: SendWindow, now: datetime
) -> list[Meeting]:
    """Meetings whose digest should have gone by ``now`` (and whose meeting is still ahead).

    Like the chase ladder, a digest stays due until its meeting, so a day the service missed is
    caught up; the outbox key (digest:{group}:{slot}) keeps it to one.
    """
    local = now.astimezone(LONDON)
    today = local.date()
    if window.working_days_only and not is_working_day(today):
        return []
    if not window.start <= local.time() < window.end:
        return []
    ahead = meetings(cycles, today, today + timedelta(days=60), groups=list(config.groups))
    return [m for m in ahead if m.date > today and send_day(config, m) <= today]
