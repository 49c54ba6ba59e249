"""The SMTP channel against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import re
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest

from integrations.channels.smtp import SmtpChannel, build_mime, message_id, mime_bytes
from notifications.channel import Address, OutgoingMessage, PermanentError, TransientError
from notifications.render import load_templates, render_chase
from tests.mail_servers import SmtpSink, free_port, tls_contexts
from workflows.chasing.chases import Chase, ChasedAction, Step, Who

SENDER = "chaser@council.example"
HESTER = Address("Hester Pengelly", "hester@council.example")
SECRETARY = Address("Board Secretary", "secretary@council.example")
WHEN = datetime(2025, 6, 24, 9, 0, tzinfo=UTC)


def message(key: str = "request:HP:SIB-2025-07-08", **changes: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "key": key,
        "channel": "email",
        "sender": SENDER,
        "to": (HESTER,),
        "subject": "Update needed by Tue 1 Jul [ref CHS-abc123]",
        "text": "Hello Hester,\n\nPlease send an update – thank you.\n",
        "html": "<p>Hello Hester,</p><p>Please send an update – thank you.</p>",
        "headers": {"X-Chaser-Key": key, "X-Chaser-Reference": "CHS-abc123"},
    }
    fields.update(changes)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


@pytest.fixture
def channel(sink: SmtpSink) -> Iterator[SmtpChannel]:
    ch = SmtpChannel(sink.host, sink.port, sender_address=SENDER, timeout=5)
    yield ch
    ch.close()


# -- building the MIME message (pure) -------------------------------------------------------------


def test_it_derives_the_message_id_from_the_key() -> None:
    a = message_id("request:HP:SIB-2025-07-08", "council.example")
    assert a == message_id("request:HP:SIB-2025-07-08", "council.example")
    assert a != message_id("reminder:HP:SIB-2025-07-08:1", "council.example")
    assert re.fullmatch(r"<[0-9a-f]{32}@council\.example>", a)


def test_it_builds_the_same_bytes_for_the_same_message() -> None:
    one = mime_bytes(message(), domain="council.example", date=WHEN)
    two = mime_bytes(message(), domain="council.example", date=WHEN)
    assert one == two
    assert b"\r\n" in one and b"\n" not in one.replace(b"\r\n", b"")
    assert one.isascii()  # 7-bit clean: no 8BITMIME needed


def test_it_builds_multipart_alternative_with_the_headers() -> None:
    m = message(cc=(SECRETARY,), reply_to=Address("Chaser replies", "replies@council.example"))
    mime = build_mime(m, domain="council.example", from_name="SEND improvement plan", date=WHEN)
    assert mime.get_content_type() == "multipart/alternative"
    assert mime["From"] == "SEND improvement plan <chaser@council.example>"
    assert mime["To"] == "Hester Pengelly <hester@council.example>"
    assert mime["Cc"] == "Board Secretary <secretary@council.example>"
    assert mime["Reply-To"] == "Chaser replies <replies@council.example>"
    assert mime["Subject"] == "Update needed by Tue 1 Jul [ref CHS-abc123]"
    assert mime["Message-ID"] == message_id(m.key, "council.example")
    assert mime["X-Chaser-Key"] == m.key
    assert mime["X-Chaser-Reference"] == "CHS-abc123"
    assert mime["Date"] == "Tue, 24 Jun 2025 09:00:00 +0000"
    assert mime["Auto-Submitted"] is None and mime["X-Auto-Response-Suppress"] is None
    assert _part(mime, "plain") == m.text
    assert _part(mime, "html").strip() == m.html


def test_it_sends_text_only_when_there_is_no_html() -> None:
    mime = build_mime(message(html=""), domain="council.example", date=WHEN)
    assert mime.get_content_type() == "text/plain"
    assert mime.get_content() == message().text


def test_it_encodes_non_ascii_and_folds_long_headers() -> None:
    subject = "Diweddariad sydd ei angen – " + "Bwrdd Gwella " * 12 + "[ref CHS-abc123]"
    m = message(subject=subject, to=(Address("Siân Ó Briain", "sian@council.example"),))
    raw = mime_bytes(m, domain="council.example", date=WHEN)
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    mime = build_mime(m, domain="council.example", date=WHEN)
    assert mime["Subject"] == " ".join(subject.split())
    assert mime["To"].addresses[0].display_name == "Siân Ó Briain"
    long_ascii = message(subject="Update needed " * 10)
    parsed = build_mime(long_ascii, domain="x.example", date=WHEN)
    assert parsed["Subject"] == ("Update needed " * 10).strip()


def test_it_keeps_header_injection_out() -> None:
    m = message(
        subject="Hello\r\nBcc: victim@example.org",
        headers={"X-Note": "a\nBcc: b@example.org", "From": "forged@example.org", "Bad Name": "x"},
        to=(Address("Eve\r\nBcc: c@example.org", "hester@council.example"),),
    )
    mime = build_mime(m, domain="council.example", date=WHEN)
    assert mime["Bcc"] is None
    assert mime["Subject"] == "Hello Bcc: victim@example.org"
    assert mime.get_all("From") == [SENDER]
    assert mime["Bad Name"] is None


def test_it_sends_ascii_as_is_and_the_rest_quoted_printable() -> None:
    ascii_only = mime_bytes(message(text="Plain words.\n", html=""), domain="x.example", date=WHEN)
    assert b"Content-Transfer-Encoding: 7bit\r\n\r\nPlain words.\r\n" in ascii_only
    for text in ("Amber \u2013 under way\n", "x" * 1200 + "\n", "see =_chaser_ here\n"):
        raw = mime_bytes(message(text=text, html=""), domain="x.example", date=WHEN)
        assert b"Content-Transfer-Encoding: quoted-printable" in raw
        assert max(len(line) for line in raw.split(b"\r\n")) <= 78
        assert build_mime(message(text=text, html=""), domain="x.example").get_content() == text


def test_it_quotes_lines_that_look_like_the_end_of_data() -> None:
    mime = build_mime(message(text="one\n.\ntwo\n", html=""), domain="x.example", date=WHEN)
    assert mime.get_content() == "one\n.\ntwo\n"


# -- sending --------------------------------------------------------------------------------------


def test_it_delivers_to_a_real_smtp_server(sink: SmtpSink, channel: SmtpChannel) -> None:
    m = message(cc=(SECRETARY,))
    receipt = channel.send(m)
    [got] = sink.messages
    assert got.mail_from == SENDER
    assert got.rcpt_tos == [HESTER.email, SECRETARY.email]
    assert got.message["Message-ID"] == receipt.provider_id == message_id(m.key, "council.example")
    assert got.message["X-Chaser-Key"] == m.key
    assert got.body("plain") == m.text
    assert got.body("html").strip() == m.html
    assert receipt.detail.startswith("250")


def test_it_sends_a_resend_with_the_same_message_id(sink: SmtpSink, channel: SmtpChannel) -> None:
    channel.send(message())
    channel.send(message())
    ids = {m.message["Message-ID"] for m in sink.messages}
    assert len(sink.messages) == 2 and len(ids) == 1


def test_it_keeps_one_connection_open(sink: SmtpSink, channel: SmtpChannel) -> None:
    for i in range(25):
        channel.send(message(key=f"k{i}"))
    assert len(sink.messages) == 25
    assert sink.connections == 1 and channel.connections_opened == 1
    assert {m.connection for m in sink.messages} == {sink.messages[0].connection}


def test_it_reconnects_when_the_server_dropped_the_connection(
    sink: SmtpSink, channel: SmtpChannel
) -> None:
    channel.send(message(key="a"))
    sink.disconnect_all()  # as a server does to idle clients
    channel.send(message(key="b"))  # no error: nothing had been sent on the dead connection
    assert [m.message["X-Chaser-Key"] for m in sink.messages] == ["a", "b"]
    assert sink.connections == 2


def test_it_quits_on_close_and_reopens_on_the_next_send(
    sink: SmtpSink, channel: SmtpChannel
) -> None:
    channel.send(message(key="a"))
    channel.close()
    channel.close()  # twice is fine
    channel.send(message(key="b"))
    assert channel.connections_opened == 2 and len(sink.messages) == 2


def test_it_sends_the_rendered_chase(sink: SmtpSink, channel: SmtpChannel) -> None:
    hester = Who("HP", "Hester Pengelly", HESTER.email)
    chase = Chase(
        key="request:HP:SIB-2025-07-08",
        step=Step.REQUEST,
        plan_code="PLY",
        to=hester,
        lead=hester,
        cc=(),
        actions=(ChasedAction("2.5", "Recruit <teachers>", "Dec 2023", "", "Amber", None),),
        channels=("email",),
        group_name="SEND Improvement Board",
        papers_deadline=date(2025, 7, 1),
    )
    m = render_chase(
        chase,
        link="https://x.example/u/t",
        reference="CHS-1",
        sender=SENDER,
        templates=load_templates(None),
    )
    channel.send(m)
    got = sink.messages[0]
    assert got.message["Subject"] == m.subject
    assert got.body("plain") == m.text
    assert "Recruit &lt;teachers&gt;" in got.body("html")


# -- failures -------------------------------------------------------------------------------------


def test_it_reports_a_451_as_transient_and_then_sends(sink: SmtpSink, channel: SmtpChannel) -> None:
    sink.fail("data", "451 4.3.0 Try again later")
    with pytest.raises(TransientError, match="451"):
        channel.send(message())
    channel.send(message())  # the retry succeeds, on the same connection
    assert len(sink.messages) == 1 and channel.connections_opened == 1


def test_it_sends_each_plans_messages_from_that_plans_mailbox(
    sink: SmtpSink, channel: SmtpChannel
) -> None:
    # Two plans on one server: each plan's bounces must come back to its own mailbox, and the
    # envelope must match the From header that relays check it against.
    channel.send(message("request:HP:SIB-2025-07-08", sender="send.board@county.example"))
    channel.send(message("request:HP:SSDG-2025-07-15"))
    channel.send(message("request:HP:TFG-2025-07-22", sender=""))  # none given: the channel's
    assert [(m.mail_from, m.message["From"].addresses[0].addr_spec) for m in sink.messages] == [
        ("send.board@county.example", "send.board@county.example"),
        (SENDER, SENDER),
        (SENDER, SENDER),
    ]
    assert channel.connections_opened == 1  # one connection, a MAIL FROM per message


def test_it_reports_a_451_at_mail_from_as_transient(sink: SmtpSink, channel: SmtpChannel) -> None:
    sink.fail("mail", "451 4.7.1 Greylisted")
    with pytest.raises(TransientError, match="Greylisted"):
        channel.send(message())
    channel.send(message())
    assert len(sink.messages) == 1


def test_it_reports_a_refused_recipient_as_permanent(channel: SmtpChannel) -> None:
    with SmtpSink(reject={"gone@council.example": "550 5.1.1 No such user"}) as sink:
        ch = SmtpChannel(sink.host, sink.port, sender_address=SENDER, timeout=5)
        gone = message(to=(Address("Gone", "gone@council.example"),))
        with pytest.raises(PermanentError) as caught:
            ch.send(gone)
        assert "550" in str(caught.value) and "people directory" in str(caught.value)
        assert "gone@council.example" not in str(caught.value)  # addresses stay out of errors
        ch.send(message())  # the connection is still good
        assert len(sink.messages) == 1 and ch.connections_opened == 1
        ch.close()


def test_it_counts_a_partly_refused_message_as_sent() -> None:
    with SmtpSink(reject={"gone@council.example": "550 5.1.1 No such user"}) as sink:
        ch = SmtpChannel(sink.host, sink.port, sender_address=SENDER, timeout=5)
        m = message(cc=(Address("Gone", "gone@council.example"),))
        receipt = ch.send(m)
        assert sink.messages[0].rcpt_tos == [HESTER.email]
        assert "refused: recipient 2 of 2 (550 5.1.1 No such user)" in receipt.detail
        ch.close()


def test_it_reports_a_5xx_after_data_as_permanent(sink: SmtpSink, channel: SmtpChannel) -> None:
    sink.fail("data", "554 5.6.0 Message rejected as spam")
    with pytest.raises(PermanentError, match="554"):
        channel.send(message())


def test_it_reports_a_dropped_connection_during_data_as_transient(
    sink: SmtpSink, channel: SmtpChannel
) -> None:
    channel.send(message(key="a"))
    sink.fail("data", "disconnect")
    with pytest.raises(TransientError):
        channel.send(message(key="b"))  # the data went: not retried here, the outbox decides
    channel.send(message(key="c"))
    assert [m.message["X-Chaser-Key"] for m in sink.messages] == ["a", "c"]
    assert channel.connections_opened == 2


def test_it_waits_for_a_slow_server_to_accept_rather_than_sending_again() -> None:
    """Past the per-command timeout, but within RFC 5321's ten minutes for the final dot: one
    message, accepted (before, the retry after the timeout sent it again)."""
    with SmtpSink(data_delay=1.0) as slow:
        ch = SmtpChannel(
            slow.host, slow.port, sender_address=SENDER, starttls=False, timeout=0.3, data_timeout=5
        )
        receipt = ch.send(message())
        ch.send(message(key="next"))  # and the connection goes back to the command timeout
        ch.close()
    assert [m.message["X-Chaser-Key"] for m in slow.messages] == [
        "request:HP:SIB-2025-07-08",
        "next",
    ]
    assert receipt.detail.startswith("250")


def test_it_reports_a_refused_connection_as_transient() -> None:
    ch = SmtpChannel("127.0.0.1", free_port(), sender_address=SENDER, timeout=2)
    with pytest.raises(TransientError, match="could not reach the mail server"):
        ch.send(message())


def test_it_reports_a_silent_server_as_a_transient_timeout() -> None:
    with socket.socket() as listener:  # accepts connections, never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        ch = SmtpChannel("127.0.0.1", listener.getsockname()[1], sender_address=SENDER, timeout=0.3)
        with pytest.raises(TransientError, match="timed out"):
            ch.send(message())


def test_it_refuses_an_address_it_cannot_send_to(sink: SmtpSink, channel: SmtpChannel) -> None:
    for bad in ("no-at-sign", "two words@council.example", "sîan@council.example"):
        with pytest.raises(PermanentError, match="people directory"):
            channel.send(message(to=(Address("X", bad),)))
    assert sink.messages == [] and channel.connections_opened == 0


# -- authentication and TLS -----------------------------------------------------------------------


def test_it_logs_in_over_starttls() -> None:
    server_tls, client_tls = tls_contexts()
    with SmtpSink(users={"chaser": "s3cret"}, tls_context=server_tls, require_starttls=True) as s:
        ch = SmtpChannel(
            s.host,
            s.port,
            sender_address=SENDER,
            username="chaser",
            password="s3cret",
            starttls=True,
            ssl_context=client_tls,
            timeout=5,
        )
        ch.send(message())
        ch.send(message(key="second"))
        assert [m.authenticated_as for m in s.messages] == ["chaser", "chaser"]
        assert ch.connections_opened == 1
        ch.close()


def test_it_uses_starttls_when_offered_in_auto_mode() -> None:
    server_tls, client_tls = tls_contexts()
    with SmtpSink(tls_context=server_tls, require_starttls=True) as s:
        ch = SmtpChannel(s.host, s.port, sender_address=SENDER, ssl_context=client_tls, timeout=5)
        ch.send(message())  # the server insists on STARTTLS, so it must have been used
        assert len(s.messages) == 1
        ch.close()


def test_it_speaks_implicit_tls() -> None:
    server_tls, client_tls = tls_contexts()
    with SmtpSink(users={"chaser": "s3cret"}, tls_context=server_tls, implicit_tls=True) as s:
        ch = SmtpChannel(
            s.host,
            s.port,
            sender_address=SENDER,
            username="chaser",
            password="s3cret",
            ssl=True,
            ssl_context=client_tls,
            timeout=5,
        )
        ch.send(message())
        assert s.messages[0].authenticated_as == "chaser"
        ch.close()


def test_it_reports_a_wrong_password_as_permanent_without_the_password() -> None:
    with SmtpSink(users={"chaser": "s3cret"}) as s:
        ch = SmtpChannel(
            s.host,
            s.port,
            sender_address=SENDER,
            username="chaser",
            password="wrong-pw",
            starttls=False,
            timeout=5,
        )
        with pytest.raises(PermanentError) as caught:
            ch.send(message())
        assert "535" in str(caught.value) and "username or password" in str(caught.value)
        assert "wrong-pw" not in str(caught.value) and "wrong-pw" not in repr(ch)
        assert s.messages == []


def test_it_logs_in_without_tls_only_when_told_to() -> None:
    with SmtpSink(users={"chaser": "s3cret"}) as s:
        careful = SmtpChannel(
            s.host, s.port, sender_address=SENDER, username="chaser", password="s3cret", timeout=5
        )
        with pytest.raises(PermanentError, match="password would travel unencrypted"):
            careful.send(message())
        relay = SmtpChannel(
            s.host,
            s.port,
            sender_address=SENDER,
            username="chaser",
            password="s3cret",
            starttls=False,
            timeout=5,
        )
        relay.send(message())
        assert s.messages[0].authenticated_as == "chaser"
        relay.close()


def test_it_refuses_to_go_on_when_starttls_is_required_but_missing(sink: SmtpSink) -> None:
    ch = SmtpChannel(sink.host, sink.port, sender_address=SENDER, starttls=True, timeout=5)
    with pytest.raises(PermanentError, match="does not offer STARTTLS"):
        ch.send(message())


def test_it_reports_an_untrusted_certificate_as_permanent() -> None:
    server_tls, _ = tls_contexts()
    with SmtpSink(tls_context=server_tls) as s:
        ch = SmtpChannel(
            s.host,
            s.port,
            sender_address=SENDER,
            starttls=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )
        with pytest.raises(PermanentError, match="certificate was not trusted"):
            ch.send(message())


def test_it_rejects_contradictory_tls_settings() -> None:
    with pytest.raises(ValueError, match="not both"):
        SmtpChannel("127.0.0.1", 465, sender_address=SENDER, ssl=True, starttls=True)


def _part(mime: EmailMessage, subtype: str) -> str:
    part = mime.get_body(preferencelist=(subtype,))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def test_it_sends_attachments_byte_for_byte_beside_the_text_and_html() -> None:
    from notifications.channel import Attachment

    xlsx = bytes(range(256)) * 40
    message = dataclasses.replace(
        _digest_like_message(),
        attachments=(
            Attachment("SIB-2025-09-30-log.xlsx", XLSX_TYPE, xlsx),
            Attachment('bad"name\r\n.docx', "not a type", b"docx bytes"),
        ),
    )
    parsed = build_mime(message, domain="example.org")
    assert parsed.get_content_type() == "multipart/mixed"
    parts = list(parsed.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("SIB-2025-09-30-log.xlsx", XLSX_TYPE),
        ("bad_name__.docx", "application/octet-stream"),
    ]
    assert parts[0].get_content() == xlsx and parts[1].get_content() == b"docx bytes"
    body = parsed.get_body(preferencelist=("html", "plain"))
    assert body is not None and "Digest" in body.get_content()
    raw = mime_bytes(message, domain="example.org")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _digest_like_message() -> OutgoingMessage:
    return OutgoingMessage(
        key="digest:SIB:2025-09-30",
        channel="email",
        sender="send.improvement@example.org",
        to=(Address("Morwenna Tregear", "morwenna.tregear@example.org"),),
        subject="Digest for the Local Area SEND Improvement Board",
        text="Digest: 3 actions flagged.",
        html="<p>Digest: 3 actions flagged.</p>",
    )
