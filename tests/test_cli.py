"""The `chaser` command as an admin uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from chaser.cli import cli
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT


def _verbs(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            found.extend(_verbs(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("verb", _verbs(cli), ids=lambda v: " ".join(v) or "chaser")
def test_every_verb_has_help(verb: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert len(result.output.splitlines()) > 3


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _run(db_url: str, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", db_url, "--config", str(ROOT / "config"), *args])
    return result.exit_code, result.stdout, result.stderr


def test_it_imports_people_and_the_plan_then_lists_it(db_url: str) -> None:
    assert _run(db_url, "db", "upgrade")[0] == 0
    code, out, _ = _run(db_url, "people", "import", str(PEOPLE_CSV))
    assert code == 0 and "added 27" in out
    code, out, _ = _run(db_url, "plan", "import", str(PLAN_XLSX), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["actions"] == 76 and report["warnings"] == [] and report["errors"] == []
    assert report["changes"]["created"] == 76
    code, out, _ = _run(db_url, "plan", "list", "--json")
    actions = {a["ref"]: a for a in json.loads(out)}
    assert actions["1.1"]["due"] == {
        "display": "Dec 2023",
        "date": "2023-12-31",
        "precision": "month",
    }
    assert actions["2.5"]["accountable"] == "AP"
    assert actions["2.5"]["contributors"] == ["MA", "MM", "HP"]
    assert actions["P7-01"]["ref_generated"] is True
    code, out, _ = _run(db_url, "plan", "list")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("1.1 "))
    assert "TL" in line and "Dec 2023" in line


def test_a_dry_run_saves_nothing(db_url: str) -> None:
    _run(db_url, "people", "import", str(PEOPLE_CSV))
    code, out, _ = _run(db_url, "plan", "import", str(PLAN_XLSX), "--dry-run")
    assert code == 0 and out.startswith("dry run, nothing saved: 76 actions")
    assert json.loads(_run(db_url, "plan", "list", "--json")[1]) == []


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "plan.xlsx"), (b"hello", "plan.xlsx"), (b"a,b\n1,2\n", "plan.csv")],
)
def test_a_file_that_is_not_a_plan_exits_non_zero_with_one_line(
    db_url: str, tmp_path: Path, content: bytes, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = _run(db_url, "plan", "import", str(path))
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    code, out, _ = _run(db_url, "plan", "import", str(path), "--json")
    report = json.loads(out)
    assert code == 1 and report["actions"] == 0 and len(report["errors"]) == 1
    assert report["changes"] is None


def test_it_asks_for_a_mapping_when_several_are_configured(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / "mappings" / name).write_text(MAPPING.read_text())
    result = CliRunner().invoke(
        cli, ["--db", db_url, "--config", str(tmp_path), "plan", "import", str(PLAN_XLSX)]
    )
    assert result.exit_code == 1
    assert "several mappings (a.yaml, b.yaml); choose one with --mapping FILE" in result.stderr


def test_it_reports_bad_people_cells_and_exits_non_zero(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("code,name,email\nAP,Aisha,nope\n", encoding="utf-8")
    code, _, err = _run(db_url, "people", "import", str(path))
    assert code == 1 and "people.csv!C2: email 'nope' of AP is not an address" in err


def test_it_takes_the_database_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(
        cli, ["people", "import", str(PEOPLE_CSV)], env={"CHASER_DATABASE_URL": url}
    )
    assert result.exit_code == 0
    assert (tmp_path / "env.db").exists()


DEMO = [sys.executable, "-m", "chaser", "demo"]


def test_the_demo_runs_from_any_folder_with_nothing_configured_until_the_day_asked(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [*DEMO, "--speed", "0", "--port", "0", "--until", "2025-08-27", "--exit"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith("Chaser demo: the Plymouth SEND improvement plan (76 actions, 27")
    assert any(line.startswith("Open http://127.0.0.1:") for line in out)
    days = [line for line in out if line[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    assert [d[:15] for d in days][0::7] == ["Wed 20 Aug 2025", "Wed 27 Aug 2025"]
    assert "sent 13 request" in days[6]  # Tue 26 Aug: the SSDG requests (Mon was a bank holiday)
    assert out[-2].startswith("Clock stopped at the end of Wed 27 Aug 2025.")
    assert out[-1] == "Demo stopped."
    data = next(line for line in out if line.startswith("Data: "))
    assert data.endswith("(removed when the demo ends; --keep DIR keeps it)")
    assert not Path(data.removeprefix("Data: ").split(" (")[0]).exists()  # cleaned up
