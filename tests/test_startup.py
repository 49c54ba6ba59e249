"""The CLI starts at once: a verb imports the heavy libraries only when it needs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from chaser.cli import COMMANDS, cli
from tests.conftest import ROOT

HEAVY = ("matplotlib", "fastapi", "openpyxl", "O365", "msal", "docx", "uvicorn")
PROBE = """
import json, sys
sys.argv = ["chaser", *sys.argv[1:]]
from chaser.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def _loaded(*args: str, cwd: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [("--help",), ("plan", "list"), ("people", "list"), ("cycles", "validate")],
    ids=" ".join,
)
def test_it_imports_no_heavy_library_for_a_verb_that_does_not_need_it(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    extra = () if args == ("--help",) else ("--db", db, "--config", str(ROOT / "config"))
    loaded = _loaded(*extra, *args, cwd=tmp_path)
    assert "click" in loaded  # the probe ran the CLI
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_help_lists_each_verb_with_its_own_words() -> None:
    """``chaser --help`` does not import the verbs, so their summaries are written in the table;
    they must say what the verbs themselves say."""
    ctx = click.Context(cli)
    for name, (_, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None
        assert summary == command.get_short_help_str(limit=200), name
    listed = CliRunner().invoke(cli, ["--help"]).output
    for name in COMMANDS:
        assert f"  {name} " in listed
