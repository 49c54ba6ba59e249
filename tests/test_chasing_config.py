"""chasing.yaml: the shipped file is valid, and each mistake names the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from workflows.chasing.config import ChasingConfigError, load_chasing

SHIPPED = (ROOT / "config" / "chasing.yaml").read_text(encoding="utf-8")


def test_the_shipped_file_is_valid() -> None:
    config = load_chasing(ROOT / "config" / "chasing.yaml")
    assert config.meetings == ("SIB", "SSDG")
    assert (config.ladder.request, config.ladder.escalation) == (-5, 1)
    assert config.channels.for_person("HP") == ("email", "teams")
    assert config.channels.for_person("AP") == ("email",)


@pytest.mark.parametrize(
    ("old", "new", "fix"),
    [
        ("  reminder: -2", "  reminder: -7", "ladder: the ladder's steps must come in order"),
        ('  start: "09:00"', "  start: 9:00", "send_window.start: write times in quotes"),
        ('  start: "09:00"', '  start: "01:30"', "skipped or repeated when the clocks change"),
        ("  default: [email]", "  default: [fax]", "channels.default.0"),
        ("plan: plymouth-send-2023", "plan: plymouth-send-2023\nchase: yes", "chase: Extra"),
        ("  rate_per_minute: 30", "  rate_per_minute: 0", "sender.rate_per_minute"),
        ("form_url: http://127.0.0.1:8080", "form_url: chaser.example.org", "form_url"),
    ],
)
def test_it_names_the_key_and_the_fix(tmp_path: Path, old: str, new: str, fix: str) -> None:
    assert old in SHIPPED
    path = tmp_path / "chasing.yaml"
    path.write_text(SHIPPED.replace(old, new), encoding="utf-8")
    with pytest.raises(ChasingConfigError) as err:
        load_chasing(path)
    assert str(path) in str(err.value) and fix in str(err.value)


def test_it_says_what_to_do_when_the_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ChasingConfigError, match=r"copy config/chasing\.yaml"):
        load_chasing(tmp_path / "chasing.yaml")


def test_it_points_at_the_line_of_broken_yaml(tmp_path: Path) -> None:
    path = tmp_path / "chasing.yaml"
    path.write_text("plan: x\nmeetings: [SIB\n", encoding="utf-8")
    with pytest.raises(ChasingConfigError, match=r"chasing.yaml:\d+: not valid YAML"):
        load_chasing(path)
