"""Regression tests for the faults a probe of 2,000 fuzzed replies found: replies cannot poison the
store or stall the loop.

- A NUL byte crashed ingest on PostgreSQL; the SMTP listener then answered 451 forever and the
  Graph inbox stopped on that message every tick. Now the text is stored clean, the bytes kept
  exactly, and whatever cannot be read is quarantined while the messages behind it come in.
- About 1,000 ``References`` crashed SQLite ("Expression tree is too large") in the request
  lookup. Now any number are looked up.
- Reading was super-linear (50 KB of "on track not on track ..." took over a minute; huge
  headers ten seconds). Now it is linear and bounded; the timings are asserted in
  ``bench/fuzz_replies.py``, here only that it completes and what it reads.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import inbound_listener
from tests.clock import Clock
from tests.fake_graph import FakeGraph, exchange_stamp, fake_graph_fixture  # noqa: F401
from tests.mail_servers import SmtpSink, free_port
from tests.signin import sign_in
from tests.test_cli_admin_verbs import _url as cli_url
from tests.test_replies import (
    AISHA,
    GATEWAY,
    PLAN,
    TRUSTED,
    _action,
    _request_to,
    gateway_stamp,
    reply_to,
    send_requests,
)
from tests.test_secretary_pages import _app
from workflows.replies import intake
from workflows.replies.intake import ingest_email
from workflows.replies.parsing import MAX_HEADER_BYTES, MAX_TEXT_CHARS, parse_reply
from workflows.replies.review import ReviewError, decide, raw_bytes
from workflows.store.models import Reply

WHEN = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
REQUEST_KEY = f"{PLAN}/request:AP:SIB:2025-09-30"


@pytest.fixture
def sent(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Runtime:
    """The Plymouth plan, with the SIB update requests of 16 Sep 2025 sent."""
    return send_requests(engine, tmp_path, sink)


def _stored(engine: Engine, reply_id: int) -> Reply:
    with Session(engine) as s:
        reply = s.get(Reply, reply_id)
    assert reply is not None
    return reply


def _huge_headers(sender: str = AISHA) -> bytes:
    """A reply whose header section is over the limit (thousands of ``X-`` lines)."""
    line = b"X-Padding: " + b"p" * 100 + b"\r\n"
    padding = line * (MAX_HEADER_BYTES // len(line) + 10)
    return (
        (
            f"From: {sender}\r\nSubject: Re: update\r\nMessage-ID: <huge@mail.example.org>\r\n"
            f"Date: {format_datetime(WHEN)}\r\n"
        ).encode()
        + padding
        + b"\r\n2.5: complete\r\n"
    )


def _nul_reply(request: EmailMessage, *, message_id: str = "<nul@mail.example.org>") -> bytes:
    """A reply with NUL and other control bytes in its (8-bit) text, as a fuzzer sends them."""
    raw = reply_to(
        request,
        sender=AISHA,
        body="2.5: Red - no staff NUL at all CTRL, none",
        when=WHEN,
        message_id=message_id,
    )
    return raw.replace(b" NUL", b"\x00").replace(b" CTRL", b"\x01")


# -- NUL bytes ----------------------------------------------------------------------------------


def test_it_stores_a_reply_with_a_nul_byte_clean_and_keeps_its_bytes(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = _nul_reply(_request_to(sink, "aisha.pendleford@example.org"))
    assert b"\x00" in raw
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "applied", outcome.reason
    assert _action(engine, "2.5").status_label == "Red"
    reply = _stored(engine, outcome.reply_id)
    assert raw_bytes(reply.raw) == raw  # the original, byte for byte
    assert reply.raw.startswith("base64:")  # not text: PostgreSQL refuses NUL in text
    assert "no staff at all, none" in reply.parsed["body"]  # NUL and \x01 gone from the text
    assert "\x00" not in json.dumps(reply.parsed) and "\\u0000" not in json.dumps(reply.parsed)


def test_it_stores_a_nul_in_the_headers_too(engine: Engine, sent: Runtime, sink: SmtpSink) -> None:
    raw = reply_to(
        _request_to(sink, "aisha.pendleford@example.org"),
        sender="Aisha NUL Pendleford <aisha.pendleford@example.org>",
        body="2.5: Red",
        when=WHEN,
        message_id="<nul-NUL-id@mail.example.org>",
    ).replace(b"NUL", b"\x00")
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "applied", outcome.reason
    reply = _stored(engine, outcome.reply_id)
    assert reply.message_id == "<nul--id@mail.example.org>" and raw_bytes(reply.raw) == raw
    assert reply.parsed["sender_name"] == "Aisha Pendleford"


def test_it_keeps_a_message_that_merely_starts_like_base64_exactly(
    engine: Engine, sent: Runtime
) -> None:
    raw = b"base64: not really\r\nFrom: a@example.org\r\n\r\nhello\r\n"
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert raw_bytes(_stored(engine, outcome.reply_id).raw) == raw


def test_it_takes_in_the_good_replies_behind_a_poisoned_one_on_the_same_graph_tick(
    engine: Engine,
    sent: Runtime,
    sink: SmtpSink,
    fake_graph: FakeGraph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_graph_inbox import inbox

    sent.inbox = inbox(fake_graph)
    request = _request_to(sink, "aisha.pendleford@example.org")
    day = datetime(2025, 9, 17, 8, 0, tzinfo=UTC)
    tick(sent, day)  # starts reading now
    stamp = exchange_stamp("example.org")
    nul = reply_to(
        request, sender=AISHA, body="2.5: Red\x00", when=day, message_id="<a@m.org>", auth=None
    )
    breaks = reply_to(
        request, sender=AISHA, body="BREAKS THE READER", when=day, message_id="<b@m>", auth=None
    )
    good = reply_to(
        request, sender=AISHA, body="6.6: complete", when=day, message_id="<c@m.org>", auth=None
    )
    for raw in (nul, _huge_headers(), breaks, good):
        fake_graph.deliver(raw, stamp=stamp)

    # A bug in reading, for one message only: it must not stop the others.
    real = parse_reply

    def reader(raw: bytes, **kwargs: Any) -> Any:
        if b"BREAKS THE READER" in raw:
            raise RuntimeError("a bug")
        return real(raw, **kwargs)

    monkeypatch.setattr(intake, "parse_reply", reader)
    assert tick(sent, day + timedelta(minutes=1)).ingested == 4
    assert _action(engine, "2.5").status_label == "Red"  # the NUL one, read and applied
    assert _action(engine, "6.6").status == "complete"  # the one behind them all
    with Session(engine) as s:
        quarantined = s.exec(select(Reply).where(Reply.verdict == "quarantined")).all()
    assert sorted(r.message_id for r in quarantined) == ["<b@m>", "<huge@mail.example.org>"]
    reasons = {r.message_id: r.reason for r in quarantined}
    assert "256 KB" in reasons["<huge@mail.example.org>"]
    assert reasons["<b@m>"] == (
        "Chaser could not take this message in (RuntimeError); it is kept exactly as it arrived"
    )
    assert all(raw_bytes(r.raw).endswith(b"\r\n") for r in quarantined)
    assert all(m["isRead"] for m in fake_graph.in_folder("inbox"))
    assert tick(sent, day + timedelta(minutes=2)).ingested == 0  # the cursor moved on


def test_it_reads_on_when_marking_a_graph_message_read_is_refused(
    engine: Engine, sent: Runtime, sink: SmtpSink, fake_graph: FakeGraph
) -> None:
    from tests.test_graph_inbox import MESSAGE_PATH, inbox

    sent.inbox = inbox(fake_graph)
    request = _request_to(sink, "aisha.pendleford@example.org")
    day = datetime(2025, 9, 17, 8, 0, tzinfo=UTC)
    tick(sent, day)
    stamp = exchange_stamp("example.org")
    for body, mid in (("2.5: Red", "<1@m.org>"), ("6.6: complete", "<2@m.org>")):
        fake_graph.deliver(
            reply_to(request, sender=AISHA, body=body, when=day, message_id=mid, auth=None),
            stamp=stamp,
        )
    fake_graph.fail("PATCH", MESSAGE_PATH, 403)  # Mail.Read only: marking read is refused
    assert tick(sent, day + timedelta(minutes=1)).ingested == 2
    assert _action(engine, "6.6").status == "complete"


# -- the SMTP listener -----------------------------------------------------------------------


def test_it_answers_250_for_a_nul_reply_and_an_unreadable_one_and_keeps_both(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    port = free_port()
    settings = Settings.from_env(
        {"CHASER_INBOUND_SMTP": f"127.0.0.1:{port}", "CHASER_INBOUND_AUTHSERV_IDS": GATEWAY}
    )
    listener = inbound_listener(settings, sent)
    assert listener is not None
    sent.clock = lambda: WHEN
    nul = _nul_reply(_request_to(sink, "aisha.pendleford@example.org"))
    huge = _huge_headers()
    with listener, smtplib.SMTP("127.0.0.1", port) as smtp:
        assert smtp.sendmail(AISHA, ["send.improvement@example.org"], nul) == {}
        assert smtp.sendmail(AISHA, ["send.improvement@example.org"], huge) == {}
    assert _action(engine, "2.5").status_label == "Red"
    with Session(engine) as s:
        kept = {r.message_id: r for r in s.exec(select(Reply))}
    assert kept["<huge@mail.example.org>"].verdict == "quarantined"
    assert raw_bytes(kept["<nul@mail.example.org>"].raw).replace(b"\r\n", b"\n") == (
        nul.replace(b"\r\n", b"\n")
    )


def test_it_answers_451_only_when_the_message_cannot_even_be_stored(
    sqlite_engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    runtime = send_requests(sqlite_engine, tmp_path, sink)
    port = free_port()
    settings = Settings.from_env(
        {"CHASER_INBOUND_SMTP": f"127.0.0.1:{port}", "CHASER_INBOUND_AUTHSERV_IDS": GATEWAY}
    )
    listener = inbound_listener(settings, runtime)
    assert listener is not None
    runtime.clock = lambda: WHEN
    raw = _nul_reply(_request_to(sink, "aisha.pendleford@example.org"))
    with sqlite_engine.begin() as conn:  # the store breaks: replies cannot be kept at all
        conn.execute(text("ALTER TABLE reply RENAME TO reply_away"))
    with listener, smtplib.SMTP("127.0.0.1", port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail(AISHA, ["send.improvement@example.org"], raw)
        assert refused.value.smtp_code == 451  # the sending server keeps it and tries again
        with sqlite_engine.begin() as conn:
            conn.execute(text("ALTER TABLE reply_away RENAME TO reply"))
        assert smtp.sendmail(AISHA, ["send.improvement@example.org"], raw) == {}
    assert _action(sqlite_engine, "2.5").status_label == "Red"


# -- References ------------------------------------------------------------------------------


def test_it_finds_the_request_among_1500_references(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    thread = [f"<{n}.thread@mail.example.org>" for n in range(1500)]
    reply = EmailMessage()
    reply["Authentication-Results"] = gateway_stamp(AISHA)
    reply["From"] = AISHA
    reply["Subject"] = "Re: our long thread"  # no reference anywhere: only the thread
    reply["Date"] = format_datetime(WHEN)
    reply["Message-ID"] = "<long-thread@mail.example.org>"
    reply["In-Reply-To"] = thread[-1]
    # The request is the thread's root: the first of 1,501, its id in upper case
    reply["References"] = " ".join([str(request["Message-ID"]).upper(), *thread])
    reply.set_content("2.5: Red - recruitment stalled")
    outcome = ingest_email(engine, bytes(reply), now=WHEN, receiver=TRUSTED)
    assert (outcome.verdict, outcome.request) == ("applied", REQUEST_KEY), outcome.reason
    assert _action(engine, "2.5").status_label == "Red"


# -- bounded sizes --------------------------------------------------------------------------------


def test_it_quarantines_a_header_section_over_the_limit_naming_it(
    engine: Engine, sent: Runtime
) -> None:
    raw = _huge_headers()
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "quarantined"
    assert outcome.reason == (
        "not read: its header section is over 256 KB, the most Chaser reads (MAX_HEADER_BYTES)"
    )
    reply = _stored(engine, outcome.reply_id)
    assert raw_bytes(reply.raw) == raw and reply.sender == "aisha.pendleford@example.org"
    assert reply.parsed["subject"] == "Re: update"
    again = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert (again.verdict, again.reply_id) == ("duplicate", outcome.reply_id)


def test_it_quarantines_a_message_over_25_mb(engine: Engine, sent: Runtime) -> None:
    raw = b"From: a@example.org\r\nMessage-ID: <big@x>\r\n\r\n" + b"x" * (26 * 1024 * 1024)
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "quarantined"
    assert "over the 25.0 MB Chaser reads" in outcome.reason
    assert "(the first 25 MB of it are kept)" in outcome.reason


def test_it_sends_a_text_over_the_limit_to_review_naming_it(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    words = "Recruitment continues. " * (MAX_TEXT_CHARS // 23 + 100)
    raw = reply_to(
        _request_to(sink, "aisha.pendleford@example.org"),
        sender=AISHA,
        body=f"2.5: Red\n\n{words}",
        when=WHEN,
    )
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "review"
    assert outcome.reason == (
        "the text is longer than the 200,000 characters Chaser reads: only its start was read"
    )
    assert _action(engine, "2.5").status is None


def test_it_reads_huge_headers_within_the_limit(engine: Engine, sent: Runtime) -> None:
    """Long Subject, From and Content-Type values (the email package's parsers are slow or
    recursive on them) are read, cut to a bounded length."""
    raw = (
        b"From: " + b"(" * 20_000 + b"a@example.org\r\n"
        b"To: " + b'"x" <a@b.example>, ' * 3_000 + b"\r\n"
        b"Subject: " + b"=?utf-8?q?a?= " * 5_000 + b"\r\n"
        b"Content-Type: text/plain; " + b"a=b; " * 20_000 + b'charset="\\"' + b"\r\n"
        b"Message-ID: <headers@x>\r\n\r\n2.5: complete\r\n"
    )
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "review"
    assert _stored(engine, outcome.reply_id).parsed["body"] == "2.5: complete"


def test_it_reads_the_adversarial_50_kb_body(engine: Engine, sent: Runtime, sink: SmtpSink) -> None:
    body = "on track not on track " * (50_000 // 22)
    raw = reply_to(
        _request_to(sink, "aisha.pendleford@example.org"), sender=AISHA, body=body, when=WHEN
    )
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "review"
    assert outcome.reason == "two different statuses for the reply: on track and not on track"


# -- the secretary sees what was quarantined ------------------------------------------------------


@pytest.fixture
def quarantined(engine: Engine, sent: Runtime) -> Iterator[int]:
    outcome = ingest_email(engine, _huge_headers(), now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "quarantined"
    yield outcome.reply_id


def test_it_lists_a_quarantined_message_on_the_review_page_with_its_reason(
    engine: Engine, quarantined: int
) -> None:
    with TestClient(_app(engine, Clock(WHEN)), base_url="http://127.0.0.1:8080") as client:
        sign_in(client, engine)
        html = client.get("/review").text
        assert "1 reply waiting for review, 1 of them could not be read" in html
        assert f"Reply {quarantined} from aisha.pendleford@example.org" in html
        assert "Could not be read" in html and "256 KB" in html
        assert 'value="apply"' not in html  # it can only be rejected
        csrf = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        done = client.post(
            f"/review/{quarantined}",
            data={"csrf_token": csrf, "decision": "reject"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert "There are no replies waiting for review" in client.get("/review").text


def test_it_lists_a_quarantined_message_in_replies_review_and_refuses_to_apply_it(
    engine: Engine, quarantined: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = cli_url(engine)  # on PostgreSQL, the test's own schema
    listing = CliRunner().invoke(cli, ["--db", db, "replies", "review", "--json"])
    assert listing.exit_code == 0, listing.output
    (item,) = json.loads(listing.stdout)
    assert item["reply"] == quarantined and item["quarantined"] is True
    assert "256 KB" in item["reason"]
    text_listing = CliRunner().invoke(cli, ["--db", db, "replies", "review"])
    assert f"quarantined message {quarantined} from aisha.pendleford@example.org" in (
        text_listing.output
    )
    assert "1 of 1 could not be read" in text_listing.output
    with pytest.raises(ReviewError, match="could not be read"):
        decide(engine, quarantined, apply=True, by="Board secretary", now=WHEN)
    rejected = decide(engine, quarantined, apply=False, by="Board secretary", now=WHEN)
    assert rejected.verdict == "rejected"
