"""When digests go out, and digest.yaml's errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT
from workflows.calendar.cycles import load_cycles
from workflows.chasing.config import load_chasing
from workflows.digest.config import DigestConfigError, due_digests, load_digest_config

CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
WINDOW = load_chasing(ROOT / "config" / "chasing.yaml").send_window
CONFIG = load_digest_config(ROOT / "config" / "digest.yaml")


def test_it_sends_two_working_days_before_each_meeting_until_the_meeting() -> None:
    def due(day: date) -> list[str]:
        now = datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)
        return [m.key for m in due_digests(CYCLES, CONFIG, WINDOW, now)]

    assert due(date(2025, 9, 25)) == []  # SIB meets Tue 30 Sep
    assert due(date(2025, 9, 26)) == ["SIB:2025-09-30"]  # Friday: 2 working days before
    assert due(date(2025, 9, 29)) == ["SIB:2025-09-30"]  # still due (caught up if missed)
    assert due(date(2025, 9, 30)) == []  # the meeting day: too late
    assert due(date(2025, 9, 27)) == []  # a Saturday


def test_it_names_the_key_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "digest.yaml"
    path.write_text("groups: []\nsend: {working_days_before: -1}\n", encoding="utf-8")
    with pytest.raises(DigestConfigError) as err:
        load_digest_config(path)
    assert "groups:" in str(err.value) and "send.working_days_before" in str(err.value)
