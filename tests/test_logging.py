"""One log format for the whole process, and nothing personal or secret in any line."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from chaser.logging import configure_logging, redact_text

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhaXNoYSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def json_lines(capsys: pytest.CaptureFixture[str]) -> object:
    configure_logging(fmt="json", level="INFO")
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    configure_logging(fmt="console", level="WARNING")


def test_it_writes_the_libraries_lines_in_chasers_json(json_lines: object) -> None:
    structlog.get_logger("chaser.service").info("tick", due=3)
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:8080")
    logging.getLogger("apscheduler.executors.default").warning(
        'Execution of job "tick" skipped: maximum number of running instances reached (1)'
    )
    logging.getLogger("alembic.runtime.migration").warning("Running upgrade 0003 -> 0004")
    logging.getLogger("msal.application").error("token request failed")
    lines = json_lines()  # type: ignore[operator]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("chaser.service", "info"),
        ("uvicorn.error", "info"),
        ("apscheduler.executors.default", "warning"),
        ("alembic.runtime.migration", "warning"),
        ("msal.application", "error"),
    ]
    assert lines[0]["event"] == "tick" and lines[0]["due"] == 3
    assert all("timestamp" in line for line in lines)


def test_it_keeps_the_libraries_chatter_out(json_lines: object) -> None:
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /r/abc.def HTTP/1.1" 200')
    logging.getLogger("apscheduler.scheduler").info('Running job "tick"')
    logging.getLogger("aiosmtpd.smtp").info("Peer: ('127.0.0.1', 40000)")
    assert json_lines() == []  # type: ignore[operator]


def test_no_line_carries_an_address_a_token_or_a_secret_in_a_url(json_lines: object) -> None:
    logging.getLogger("mail.log").warning("recip: aisha.pendleford@example.org rejected")
    logging.getLogger("urllib3.connectionpool").warning(
        "POST https://prod.westeurope.logic.azure.com/workflows/1/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sig=AbCdEf123_secret-SIG HTTP/1.1 500"
    )
    structlog.get_logger("integrations.graph").warning(
        "refused",
        header=f"Authorization: Bearer {TOKEN}",
        link="https://c.example/r/" + "a" * 20 + "." + "b" * 20,
    )
    text = json.dumps(json_lines())  # type: ignore[operator]
    for secret in ("aisha.pendleford@example.org", "AbCdEf123_secret-SIG", TOKEN, "a" * 20):
        assert secret not in text
    assert "[email]" in text and "sig=[redacted]" in text and "Bearer [redacted]" in text


def test_an_exception_is_logged_by_its_type_and_place_not_its_words(json_lines: object) -> None:
    try:
        raise ValueError("INSERT INTO reply (sender) VALUES ('aisha.pendleford@example.org')")
    except ValueError:
        structlog.get_logger("chaser.commands.run").exception("tick_failed")
    (line,) = json_lines()  # type: ignore[operator]
    assert line["event"] == "tick_failed" and line["error"] == "ValueError"
    assert line["error_where"].startswith("tests.test_logging:")
    assert "INSERT" not in json.dumps(line)


def test_redaction_leaves_ordinary_words_alone() -> None:
    text = "reply 12 applied for 2.5 (Amber) at 09:30; meeting SIB:2025-09-30"
    assert redact_text(text) == text


def test_a_database_error_never_quotes_what_was_being_written(tmp_path: object) -> None:
    """At DEBUG an exception's text is written out; the store's errors carry no parameters."""
    from sqlalchemy import text

    from workflows.store.db import make_engine

    engine = make_engine("sqlite:///:memory:")
    with pytest.raises(Exception) as caught, engine.begin() as conn:
        conn.execute(text("INSERT INTO nope VALUES (:who)"), {"who": "aisha.pendleford@x.org"})
    assert "aisha" not in str(caught.value)
    assert "parameters hidden" in str(caught.value)


def test_a_dead_letter_is_logged_with_the_servers_code_not_its_words(json_lines: object) -> None:
    from datetime import UTC, datetime

    from notifications.channel import Address, OutgoingMessage, PermanentError, Receipt
    from notifications.outbox import Dispatcher, NewDelivery, enqueue
    from workflows.store.db import make_engine, upgrade

    class Refuses:
        name = "email"

        def send(self, message: OutgoingMessage) -> Receipt:
            raise PermanentError(
                "the mail server refused every recipient: recipient 1 of 1 (550 5.1.1 "
                "Mailbox of Aisha Pendleford <aisha.pendleford@example.org> is full): check "
                "these people's email addresses in the people directory"
            )

        def find_sent(self, message: OutgoingMessage) -> Receipt | None:
            return None

        def close(self) -> None:
            pass

    engine = make_engine("sqlite:///:memory:")
    upgrade(engine)
    now = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)
    message = OutgoingMessage(
        key="k", channel="email", sender="s@x.org", to=(Address("A", "a@x.org"),), subject="s",
        text="t",
    )  # fmt: skip
    with engine.begin() as conn:
        enqueue(conn, [NewDelivery(message, "CHS-1", "request", now)], now=now)
    Dispatcher(engine, {"email": Refuses()}, clock=lambda: now).dispatch()
    (line,) = [x for x in json_lines() if x["event"] == "delivery_dead"]  # type: ignore[operator]
    assert line["reason"] == (
        "the mail server refused every recipient: recipient 1 of 1 (550 5.1.1 …): check "
        "these people's email addresses in the people directory"
    )
