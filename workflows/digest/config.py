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


class BoardPaper(BaseModel):
    """The board paper's cover report, in the council's own words (``board_paper:`` in
    digest.yaml). Every field is optional; what is left out is left off the front sheet, except
    the classification, which is always printed in the header and footer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    meeting: str = ""  # "Local Area SEND Improvement Board"; default: the group's name
    title: str = ""  # "SEND improvement plan: progress report"
    lead_member: str = ""  # "Cllr Jane Smith, Cabinet Member for Children's Services"
    director: str = ""  # "Director of Children's Services"
    author: str = ""
    contact: str = ""  # "send.improvement@plymouth.gov.uk, 01752 000000"
    classification: str = Field(default="OFFICIAL", min_length=1, max_length=60)
    purpose: str = ""
    #: "The board is asked to note…", "…and agree…": one line each.
    recommendations: tuple[str, ...] = ()
    sign_off: str = ""  # who signed the report off ("Director of Children's Services")
    #: The council's own Word file (.docx), relative to digest.yaml: its styles, header and
    #: footer are used and its body replaced by the paper. Resolved when the file is loaded.
    template: str = ""


class DigestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: tuple[str, ...] = Field(min_length=1)
    cycle_groups: tuple[str, ...] = ()
    send: DigestSend = DigestSend()
    #: Thresholds and severities, read by workflows.digest.slippage.SlippageConfig.from_mapping
    #: (and checked when the file is loaded).
    slippage: dict[str, Any] = Field(default_factory=dict)
    #: The board paper's front sheet, purpose and recommendations.
    board_paper: BoardPaper = BoardPaper()


class DigestConfigError(ConfigFileError):
    """digest.yaml is missing or wrong; each problem names the file, line, key and fix."""


def load_digest_config(path: Path, *, groups: Collection[str] | None = None) -> DigestConfig:
    """digest.yaml, checked, slippage rules included; with ``groups`` (cycles.yaml's codes),
    its groups too."""
    checks: list[Check] = [
        lambda data: slippage_problems(data.get("slippage")),
        lambda data: _template_problems(data, path.parent),
    ]
    if groups is not None:
        checks.append(unknown_codes(["groups", "cycle_groups"], groups))
    config = load_model(
        path,
        DigestConfig,
        DigestConfigError,
        missing="copy config/digest.yaml and edit it",
        expected="keys such as groups, send, slippage",
        checks=checks,
    )
    if config.board_paper.template:
        resolved = (path.parent / config.board_paper.template).resolve()
        paper = config.board_paper.model_copy(update={"template": str(resolved)})
        config = config.model_copy(update={"board_paper": paper})
    return config


def _template_problems(data: dict[str, Any], folder: Path) -> list[tuple[list[str | int], str]]:
    paper = data.get("board_paper")
    template = paper.get("template") if isinstance(paper, dict) else None
    if not template or not isinstance(template, str):
        return []
    found = folder / template
    if not template.lower().endswith(".docx"):
        return [
            (
                ["board_paper", "template"],
                f"{template!r} is not a Word file; expected the path of a .docx (relative to "
                "digest.yaml) whose styles, header and footer the board paper should use",
            )
        ]
    if not found.is_file():
        return [
            (
                ["board_paper", "template"],
                f"{template!r}: there is no such file ({found}); put the council's .docx there "
                "or correct the path (it is relative to digest.yaml)",
            )
        ]
    return []


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
