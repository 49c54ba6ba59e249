"""`chaser run`: the scheduler ticks, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.cli import cli
from chaser.importing import import_people, import_plan
from chaser.service import plan_tick
from chaser.settings import Settings
from chaser.store import open_store
from chaser.wiring import build_runtime
from notifications.outbox import NewDelivery, enqueue
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT, unpaced_config
from tests.mail_servers import SmtpSink, free_port
from workflows.plan.mapping import load_mapping
from workflows.store.models import Delivery

CHASER = [sys.executable, "-m", "chaser"]
REQUEST_DAY = datetime(2025, 9, 16, 9, 30, tzinfo=ZoneInfo("Europe/London"))


def test_it_ticks_every_interval_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    # unpaced: the first tick sends the day's messages, two seconds apart at the shipped pace
    config = unpaced_config(tmp_path)
    runner = CliRunner()
    for args in (
        ["people", "import", str(PEOPLE_CSV)],
        ["plan", "import", str(PLAN_XLSX)],
        ["users", "add", "secretary@example.org", "--role", "secretary"],
    ):
        assert runner.invoke(cli, ["--db", db, *args]).exit_code == 0
    web_port = free_port()
    health, plan_page = 0, ""
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
                str(config),
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
                plan_page = _signed_in_page(runner, db, web_port, "/plan")  # and the pages
            if sum(1 for e in events if e["event"] == "tick") >= 2:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    events.extend(json.loads(line) for line in rest.splitlines() if line.startswith("{"))
    names = [e["event"] for e in events]
    assert process.returncode == 0
    assert names.count("tick") >= 2  # the scheduler ran the tick more than once
    assert "reply_form_listening" in names and health == 200
    assert "2.5" in plan_page and "Aisha Pendleford" in plan_page
    where = next(e for e in events if e["event"] == "secretary_pages")
    assert where["url"] == f"http://127.0.0.1:{web_port}/plan"
    assert names[-1] == "service_stopped"
    assert "tick_failed" not in names


def _signed_in_page(runner: CliRunner, db: str, port: int, path: str) -> str:
    """Sign in with a link from `chaser users signin-link` (GET shows a button, POST signs in)."""
    printed = runner.invoke(cli, ["--db", db, "users", "signin-link", "secretary@example.org"])
    assert printed.exit_code == 0, printed.output
    link = printed.stdout.strip().replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(link) as answer:
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', answer.read().decode())
    assert csrf is not None
    form = urllib.parse.urlencode({"csrf_token": csrf.group(1), "next": path}).encode()
    with browser.open(urllib.request.Request(link, data=form)) as answer:
        assert answer.url == f"http://127.0.0.1:{port}{path}"
        return str(answer.read().decode())


def _request_day_in_the_outbox(
    tmp_path: Path,
) -> tuple[str, dict[str, str], Engine, list[NewDelivery]]:
    """A store with Plymouth's plan and the 14 SIB requests of 16 Sep 2025 in its outbox: the
    database URL, the service's environment, the store, and the deliveries."""
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    engine = open_store(db)
    env = {"CHASER_SECRET_KEY": "k" * 40, "CHASER_DATA_DIR": str(tmp_path / "data")}
    import_people(engine, PEOPLE_CSV, now=REQUEST_DAY)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=REQUEST_DAY)
    runtime = build_runtime(
        Settings.from_env(env, config_dir=ROOT / "config", database_url=db), engine, channels={}
    )
    planned = [p.delivery for p in plan_tick(runtime, REQUEST_DAY)]
    with engine.begin() as conn:
        queued = enqueue(conn, planned, now=REQUEST_DAY)
    assert queued == 14  # the SIB requests of 16 Sep 2025, waiting in the outbox
    return db, env, engine, planned


def _service_env(env: dict[str, str], sink: SmtpSink, web_port: int) -> dict[str, str]:
    """``chaser run``'s environment: ``env``, sending to ``sink``, logging JSON lines."""
    return {
        **os.environ,
        **env,
        "CHASER_SMTP_HOST": sink.host,
        "CHASER_SMTP_PORT": str(sink.port),
        "CHASER_SMTP_STARTTLS": "no",
        "CHASER_LOG_FORMAT": "json",
        "CHASER_WEB_LISTEN": f"127.0.0.1:{web_port}",
    }


def test_it_finishes_the_message_in_hand_and_sends_no_more_when_stopped(tmp_path: Path) -> None:
    """SIGTERM while a slow server takes a message: that one is sent and recorded, the rest stay
    in the outbox for the next start, and nothing is half-sent or left claimed."""
    db, env, engine, planned = _request_day_in_the_outbox(tmp_path)
    with SmtpSink(data_delay=1.0) as sink:
        process = subprocess.Popen(
            [*CHASER, "--db", db, "--config", str(ROOT / "config"), "run", "--interval", "3600"],
            env=_service_env(env, sink, free_port()),
            stderr=subprocess.PIPE,
            text=True,
        )
        sink.wait_for(1, timeout=60)  # the first message is in; the second is being taken
        process.send_signal(signal.SIGTERM)
        _, logs = process.communicate(timeout=60)
        received = len(sink.messages)
    events = [json.loads(line)["event"] for line in logs.splitlines() if line.startswith("{")]
    assert process.returncode == 0, logs
    assert events[-1] == "service_stopped"
    with Session(engine) as session:
        # Only the 14 queued here: on the real clock the service's own tick may enqueue more.
        queued_keys = [d.message.key for d in planned]
        states = Counter(
            d.state
            for d in session.exec(select(Delivery).where(col(Delivery.key).in_(queued_keys)))
        )
        leased = session.exec(select(Delivery).where(Delivery.lease_owner != "")).all()
    assert 1 <= received < 14
    assert states == {"sent": received, "pending": 14 - received}  # each accepted one recorded
    assert leased == []  # nothing left claimed by the stopped process


def test_a_day_with_more_to_send_than_one_tick_allows_goes_over_several_ticks(
    tmp_path: Path,
) -> None:
    """At the mailbox's pace a big send day takes longer than a tick: each tick sends for three
    quarters of its interval and ends, so ticks keep finishing (and /health stays healthy),
    and the next ticks carry on until every message has gone, each once."""
    db, env, _, planned = _request_day_in_the_outbox(tmp_path)
    # 120 a minute, a message every half second: a one-second tick sends for 0.75 s, so two
    config = unpaced_config(tmp_path, rate=120)
    web_port = free_port()
    healthy: list[int] = []
    with SmtpSink() as sink:
        process = subprocess.Popen(
            [*CHASER, "--db", db, "--config", str(config), "run", "--interval", "1"],
            env=_service_env(env, sink, web_port),
            stderr=subprocess.PIPE,
            text=True,
        )
        ticks: list[dict[str, object]] = []
        # by email (the lead who is chased on Teams too has no Teams channel here)
        queued = {d.message.key for d in planned if d.message.channel == "email"}
        assert len(queued) == 13
        assert process.stderr is not None
        deadline = time.monotonic() + 90
        for line in process.stderr:
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if event["event"] == "tick":
                ticks.append(event)
                if event.get("pending"):  # mid-way through the day's messages
                    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/health") as answer:
                        healthy.append(answer.status)
            arrived = {m.message["X-Chaser-Key"] for m in sink.messages}
            if arrived >= queued or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
        keys = Counter(m.message["X-Chaser-Key"] for m in sink.messages)
    assert process.returncode == 0
    assert set(keys) >= queued and all(keys[k] == 1 for k in queued)  # each sent once
    sending = [t for t in ticks if t["sent"]]
    assert len(sending) >= 5  # the day went over several ticks...
    assert all(int(str(t["sent"])) <= 2 for t in sending)  # ...each sending what fits in 0.75 s
    assert healthy and set(healthy) == {200}
    # the log says how many still wait (on the real clock, the service may add today's)
    waiting = [int(str(t["pending"])) for t in ticks if t.get("pending") is not None]
    assert waiting[0] >= 10 and len(waiting) >= 4


def test_on_a_public_address_it_serves_the_reply_form_but_not_the_secretarys_pages(
    tmp_path: Path,
) -> None:
    """As in the Docker image (CHASER_WEB_LISTEN=0.0.0.0:8080), until sign-in exists; and a
    fresh store, with no plan imported yet, gets a warning naming the fix on each tick."""
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    port = free_port()
    process = subprocess.Popen(
        [*CHASER, "--db", db, "--config", str(ROOT / "config"), "run", "--interval", "3600"],
        env={
            **os.environ,
            "CHASER_SECRET_KEY": "k" * 40,
            "CHASER_DATA_DIR": str(tmp_path / "data"),
            "CHASER_LOG_FORMAT": "json",
            "CHASER_WEB_LISTEN": f"0.0.0.0:{port}",
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen: list[str] = []
        for line in process.stderr:  # until the first tick has run (on an empty store)
            if not line.startswith("{"):
                continue  # not a log line (a warning from a library)
            seen.append(json.loads(line)["event"])
            if seen[-1] in ("plan_not_imported", "tick_failed"):
                break
        assert "secretary_pages_local_only" in seen and "reply_form_listening" in seen
        assert seen[-1] == "plan_not_imported"  # says what to import, not a traceback
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/health") as answer:
            assert answer.status == 200
        with urllib.request.urlopen(base + "/") as answer:
            assert "Update your actions" in answer.read().decode()
        for path in ("/plan", "/meetings", "/review", "/actions/2.5"):
            try:
                urllib.request.urlopen(base + path)
            except urllib.error.HTTPError as refused:
                assert refused.code == 403, path
                assert "only available on the computer running Chaser" in refused.read().decode()
            else:
                raise AssertionError(f"{path} was served on 0.0.0.0")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0
