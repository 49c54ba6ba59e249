"""chasing.yaml and digest.yaml are checked like cycles.yaml: every problem at once, with its line,
against the calendar beside them, by a `validate` verb and whenever the service loads them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaser.cli import cli
from tests.conftest import ROOT


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    return folder


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_it_says_the_shipped_files_are_valid_and_what_they_mean(config: Path) -> None:
    code, out, _ = _run(config, "chasing", "validate")
    assert code == 0, out
    assert "chasing.yaml: valid (chases for SIB, SSDG)" in out
    assert "request 5 working days before" in out and "at most 30 a minute" in out
    code, out, _ = _run(config, "digest", "validate")
    assert code == 0, out
    assert "digest.yaml: valid (a digest before each SIB, SSDG meeting)" in out


def test_it_lists_every_problem_in_chasing_yaml_with_its_line(config: Path) -> None:
    path = config / "chasing.yaml"
    _edit(path, "meetings: [SIB, SSDG]", "meetings: [SIB, BOARD]")
    _edit(path, "  rate_per_minute: 30", "  rate_per_minute: 0")
    code, _, err = _run(config, "chasing", "validate")
    lines = err.splitlines()
    assert code == 1
    assert lines[0].startswith(
        f"{path}:10: meetings.1: no group 'BOARD' in cycles.yaml (groups: SIB"
    )
    assert lines[1].startswith(f"{path}:34: sender.rate_per_minute: ")
    assert lines[2] == f"{path}: 2 problems; fix the file and validate it again."


def test_it_lists_every_problem_in_digest_yaml_with_its_line(config: Path) -> None:
    path = config / "digest.yaml"
    _edit(path, "\ngroups: [SIB, SSDG]", "\ngroups: [SIB, BOARD]")
    _edit(path, "slippage: {}", "slippage:\n  no_change: {cycles: two}\n  overdue: {grace: 1}")
    code, _, err = _run(config, "digest", "validate")
    assert code == 1
    assert err.splitlines() == [
        f"{path}:5: groups.1: no group 'BOARD' in cycles.yaml (groups: "
        + err.split("(groups: ")[1].split(")")[0]
        + ")",
        f"{path}:14: slippage.no_change.cycles: expected a whole number of 0 or more, got 'two'",
        f"{path}:15: slippage.overdue.grace: unknown setting (settings: enabled, severity, "
        "grace_days)",
        f"{path}: 3 problems; fix the file and validate it again.",
    ]


def test_the_service_refuses_to_start_on_a_file_that_does_not_match_the_calendar(
    config: Path, tmp_path: Path
) -> None:
    _edit(config / "chasing.yaml", "meetings: [SIB, SSDG]", "meetings: [SIB, BOARD]")
    result = CliRunner().invoke(
        cli,
        ["--db", f"sqlite:///{tmp_path / 'c.db'}", "--config", str(config), "chase", "--dry-run"],
        env={"CHASER_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.exit_code == 1
    assert "chasing.yaml:10: meetings.1: no group 'BOARD' in cycles.yaml" in result.stderr


def test_a_bad_slippage_threshold_is_refused_when_the_file_is_loaded(config: Path) -> None:
    from workflows.digest.config import DigestConfigError, load_digest_config

    _edit(config / "digest.yaml", "slippage: {}", "slippage: {no_change: {severity: urgent}}")
    with pytest.raises(DigestConfigError, match=r"slippage\.no_change\.severity: expected low"):
        load_digest_config(config / "digest.yaml")
