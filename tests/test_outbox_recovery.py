"""After a mail outage longer than the retry schedule: the secretaries are told what died, and
`chaser outbox retry` sends every message once when the mail is back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from chaser.cli import cli
from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from notifications.outbox import DELIVERY
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink, free_port
from workflows.plan.mapping import load_mapping
from workflows.store.db import make_engine, upgrade

PLAN = "plymouth-send-2023"
REQUEST_DAY = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)  # 09:30 in London


def _runtime(db: str, tmp_path: Path, port: int, clock: Clock) -> Runtime:
    engine = make_engine(db)
    upgrade(engine)
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "o" * 40, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        engine,
        channels={
            "email": SmtpChannel(
                "127.0.0.1", port, sender_address="send.improvement@example.org", timeout=2
            )
        },
        clock=clock,
        sleep=clock.advance,
    )


def _states(runtime: Runtime) -> dict[str, int]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(DELIVERY.c.state, func.count()).group_by(DELIVERY.c.state)).all()
    return {state: n for state, n in rows}


def _ticks(runtime: Runtime, clock: Clock, hours: float, every: float = 600) -> None:
    end = clock.now + timedelta(hours=hours)
    while clock.now < end:
        tick(runtime, clock.now)
        clock.advance(every)


def test_it_tells_the_secretary_and_sends_everything_once_after_a_long_outage(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    port = free_port()  # nothing listens: the mail server is down
    clock = Clock(REQUEST_DAY)
    runtime = _runtime(db, tmp_path, port, clock)
    _ticks(runtime, clock, hours=6)  # longer than the retry schedule (about 2 hours)
    assert _states(runtime).get("sent", 0) == 0
    with SmtpSink(port=port) as sink:  # the mail server is back
        listed = CliRunner().invoke(
            cli, ["--db", db, "outbox", "list", "--plan", PLAN, "--channel", "email"]
        )
        requests = {line.split()[-1] for line in listed.output.splitlines() if "/request:" in line}
        assert len(requests) == 13  # the SIB update requests by email
        assert "could not reach the mail server" in listed.output
        retry = CliRunner().invoke(
            cli, ["--db", db, "outbox", "retry", "--all", "--by", "Morwenna Tregear"]
        )
        assert retry.exit_code == 0, retry.output
        # the requests, the Teams copy and the board's invitations to its 3 advisers
        assert "17 messages queued to send again" in retry.output
        _ticks(runtime, clock, hours=1)
        again = CliRunner().invoke(
            cli, ["--db", db, "outbox", "retry", "--channel", "email", "--by", "M"]
        )
        assert "0 messages match: nothing to send again." in again.output  # all went
        _ticks(runtime, clock, hours=1)
        keys = [str(m.message["X-Chaser-Key"]) for m in sink.messages]
        notices = [m for m in sink.messages if "/dead_letters:" in str(m.message["X-Chaser-Key"])]
    sent_requests = [k for k in keys if k.startswith(f"{PLAN}/request:")]
    assert len(sent_requests) == len(set(sent_requests)) == 13  # every request, once
    # to the secretary of the meeting they were for (SIB's), not every group's
    assert [n.rcpt_tos for n in notices] == [["morwenna.tregear@example.org"]]
    # the emails about the outage died with it, or were withdrawn once everything they listed
    # was sent again: none is sent late; HP's Teams copy, with no webhook configured, died
    # again once the mail was back, and that is said at once
    with runtime.engine.connect() as conn:
        outage_notices = conn.execute(
            select(DELIVERY.c.state, DELIVERY.c.last_error).where(
                DELIVERY.c.kind == "dead_letters", DELIVERY.c.state != "sent"
            )
        ).all()
    assert outage_notices and {state for state, _ in outage_notices} == {"dead"}
    bodies = "\n".join(n.body() for n in notices)
    assert "Update request (Teams) for SIB 30 Sep 2025, to Hester Pengelly" in bodies
    assert "no 'teams' channel is configured" in bodies
    assert f'chaser outbox retry --plan {PLAN} --by "YOUR NAME"' in bodies
    assert _states(runtime)["sent"] == 13 + 3 + len(notices)
    runtime.close()


def test_it_tells_the_secretary_at_once_when_an_address_is_refused(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    clock = Clock(REQUEST_DAY)
    refused = {"aisha.pendleford@example.org": "550 5.1.1 <aisha.pendleford@example.org>: no"}
    with SmtpSink(reject=refused) as sink:
        runtime = _runtime(db, tmp_path, sink.port, clock)
        _ticks(runtime, clock, hours=0.5)
        notices = [m for m in sink.messages if "/dead_letters:" in str(m.message["X-Chaser-Key"])]
        runtime.close()
    # to the secretary of the meeting they were for (SIB's), not every group's
    assert [n.rcpt_tos for n in notices] == [["morwenna.tregear@example.org"]]
    notice = notices[0]
    assert notice.message["Subject"] == (  # Aisha's request, and HP's Teams copy (no webhook)
        "2 messages could not be sent – Plymouth Local Area SEND Improvement Plan (October 2023)"
    )
    body = notice.body()
    assert "Update request for SIB 30 Sep 2025, to Aisha Pendleford" in body
    assert "refused every recipient" in body and "550 5.1.1" in body
    assert "an address corrected in the people directory" in body


def test_it_withdraws_a_waiting_notice_once_what_it_listed_is_sent_again(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    clock = Clock(REQUEST_DAY)
    refused = {"aisha.pendleford@example.org": "550 5.1.1 <aisha.pendleford@example.org>: no"}
    with SmtpSink(reject=refused) as sink:
        runtime = _runtime(db, tmp_path, sink.port, clock)
        tick(runtime, clock.now)  # Aisha's request is refused: dead at once
        port = sink.port
    clock.advance(60)
    tick(runtime, clock.now)  # the notice is written, but the mail server is down for it too
    assert _states(runtime)["pending"] == 1
    # her address is fixed and the mail is back: she is sent her request, and the secretary is
    # not told, late, about a message that has gone
    retried = CliRunner().invoke(cli, ["--db", db, "outbox", "retry", "--all", "--by", "M T"])
    assert "2 messages queued to send again" in retried.output  # and HP's Teams copy
    with SmtpSink(port=port) as sink:
        clock.advance(60)
        tick(runtime, clock.now)
        keys = [str(m.message["X-Chaser-Key"]) for m in sink.messages]
    assert keys == [f"{PLAN}/request:AP:SIB:2025-09-30"]
    with runtime.engine.connect() as conn:
        notice = conn.execute(
            select(DELIVERY.c.state, DELIVERY.c.last_error).where(DELIVERY.c.kind == "dead_letters")
        ).one()
    assert notice.state == "dead" and notice.last_error.startswith("withdrawn: every message")
    runtime.close()


def test_it_asks_which_messages_to_send_again(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    upgrade(make_engine(db))
    result = CliRunner().invoke(cli, ["--db", db, "outbox", "retry", "--by", "M"])
    assert result.exit_code == 2
    assert "choose the messages to send again" in result.output
