"""`chaser run`: the scheduler ticks, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from chaser.cli import cli
from tests.conftest import PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink, free_port


def test_it_ticks_every_interval_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    runner = CliRunner()
    for args in (["people", "import", str(PEOPLE_CSV)], ["plan", "import", str(PLAN_XLSX)]):
        assert runner.invoke(cli, ["--db", db, *args]).exit_code == 0
    web_port = free_port()
    health = 0
    with SmtpSink() as sink:
        env = {
            **os.environ,
            "CHASER_SECRET_KEY": "k" * 40,
            "CHASER_DATA_DIR": str(tmp_path / "data"),
            "CHASER_SMTP_HOST": sink.host,
            "CHASER_SMTP_PORT": str(sink.port),
            "CHASER_SMTP_STARTTLS": "no",
            "CHASER_LOG_FORMAT": "json",
            "CHASER_WEB_LISTEN": f"127.0.0.1:{web_port}",
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chaser",
                "--db",
                db,
                "--config",
                str(ROOT / "config"),
                "run",
                "--interval",
                "1",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        events: list[dict[str, object]] = []
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            events.append(json.loads(line))
            if events[-1]["event"] == "tick" and not health:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/health") as answer:
                    health = answer.status  # the reply form is served while the ticks run
            if sum(1 for e in events if e["event"] == "tick") >= 2:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    events.extend(json.loads(line) for line in rest.splitlines() if line.startswith("{"))
    names = [e["event"] for e in events]
    assert process.returncode == 0
    assert names.count("tick") >= 2  # the scheduler ran the tick more than once
    assert "reply_form_listening" in names and health == 200
    assert names[-1] == "service_stopped"
    assert "tick_failed" not in names
