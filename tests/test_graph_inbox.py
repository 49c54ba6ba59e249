"""The Graph inbox, through the real msal and O365 code paths, against a fake Graph over TLS.

Nothing inside :class:`GraphInbox` is mocked: msal discovers the fake tenant and fetches a token,
O365's connection makes the delta, ``$value`` and PATCH requests, and the fake records them.
"""

from __future__ import annotations

import email
import email.policy
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.graph.client import ENV_CLIENT_SECRET
from integrations.graph.inbox import GraphInbox, InboundMessage, StaleCursorError
from notifications.channel import PermanentError, TransientError
from tests.fake_graph import FakeGraph, fake_graph_fixture, graph_client  # noqa: F401

DELTA_PATH = r"/mailFolders/inbox/messages/delta$"
VALUE_PATH = r"/messages/[^/]+/\$value$"
MESSAGE_PATH = r"/users/[^/]+/messages/[^/]+$"

#: A reply with plain-text and HTML alternatives (quoted-printable UTF-8), as Outlook sends them.
MULTIPART_REPLY = (
    b"From: Imogen Castellane <imogen.castellane@example.gov.uk>\r\n"
    b"To: Chaser <chaser@council.example>\r\n"
    b"Subject: RE: Update needed: action 3.2 before the SEND Board on 8 July\r\n"
    b"Date: Tue, 01 Jul 2025 09:14:03 +0100\r\n"
    b"Message-ID: <DB9PR01MB1234.reply-1@example.gov.uk>\r\n"
    b"In-Reply-To: <request-P017-SIB@council.example>\r\n"
    b"References: <request-P017-SIB@council.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="_000_alt_"\r\n'
    b"\r\n"
    b"--_000_alt_\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Status: on track. Caf=C3=A9 audit done =E2=80=93 report to follow.\r\n"
    b"\r\n"
    b"--_000_alt_\r\n"
    b'Content-Type: text/html; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<html><body><p>Status: <b>on track</b>. Caf=C3=A9 audit done =E2=80=93 report t=\r\n"
    b"o follow.</p></body></html>\r\n"
    b"\r\n"
    b"--_000_alt_--\r\n"
)
#: An HTML-only reply in a legacy 8-bit charset: the bytes must survive untouched.
HTML_ONLY_REPLY = (
    b"From: Beatrix Oduya <beatrix.oduya@example.gov.uk>\r\n"
    b"To: chaser@council.example\r\n"
    b"Subject: RE: Update needed: action 4.1\r\n"
    b"Date: Tue, 01 Jul 2025 10:02:41 +0100\r\n"
    b"Message-ID: <reply-2.html-only@example.gov.uk>\r\n"
    b"In-Reply-To: <request-P017-ADU@council.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/html; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"<html><body><p>Status: <b>delayed</b> by a \xa3200 overspend.</p></body></html>\r\n"
)


def inbox(fake: FakeGraph, **overrides: Any) -> GraphInbox:
    own = {k: overrides.pop(k) for k in ("mailbox", "folder", "page_size") if k in overrides}
    return GraphInbox(graph_client(fake, **overrides), **{"mailbox": fake.mailbox, **own})


def reply(number: int) -> bytes:
    """A small plain-text reply with its own Message-ID."""
    return (
        f"From: lead{number}@example.gov.uk\r\n"
        f"To: chaser@council.example\r\n"
        f"Subject: RE: update {number}\r\n"
        f"Message-ID: <reply-{number}@example.gov.uk>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n"
        f"\r\n"
        f"Status: complete ({number}).\r\n"
    ).encode()


def assert_secret_free(exc: BaseException, *secrets: str) -> None:
    """Neither the exception nor anything chained to it mentions a secret."""
    seen: BaseException | None = exc
    while seen is not None:
        for secret in secrets:
            assert secret not in str(seen)
            assert secret not in repr(seen)
        seen = seen.__cause__ or seen.__context__


def test_it_starts_now_so_an_existing_inbox_is_not_reread(fake_graph: FakeGraph) -> None:
    fake_graph.deliver(reply(0), received_at=datetime.now(UTC) - timedelta(days=1))
    started = datetime.now(UTC)

    with inbox(fake_graph) as reader:
        messages, cursor = reader.fetch(None)

    assert messages == []
    assert cursor.startswith(f"{fake_graph.graph_url}/") and "$deltatoken=" in cursor
    (delta,) = fake_graph.calls("GET", DELTA_PATH)
    assert delta.path == f"/v1.0/users/{fake_graph.mailbox}/mailFolders/inbox/messages/delta"
    assert delta.query["changeType"] == "created"
    assert {"id", "internetMessageId", "receivedDateTime", "isDraft"} <= set(
        delta.query["$select"].split(",")
    )
    op, since = delta.query["$filter"].removeprefix("receivedDateTime ").split(" ")
    assert op == "ge"
    start = datetime.fromisoformat(since)
    assert timedelta(minutes=4) < started - start < timedelta(minutes=6)
    prefer = delta.header("Prefer") or ""
    assert 'IdType="ImmutableId"' in prefer and "odata.maxpagesize=50" in prefer
    assert delta.header("Authorization") == f"Bearer {next(iter(fake_graph.tokens))}"
    assert fake_graph.calls("GET", VALUE_PATH) == []


def test_it_returns_each_new_reply_once_with_its_exact_mime(fake_graph: FakeGraph) -> None:
    reader = inbox(fake_graph)
    _, cursor = reader.fetch(None)
    multipart = fake_graph.deliver(MULTIPART_REPLY)
    html_only = fake_graph.deliver(HTML_ONLY_REPLY)

    messages, next_cursor = reader.fetch(cursor)

    assert [m.raw for m in messages] == [MULTIPART_REPLY, HTML_ONLY_REPLY]
    first, second = messages
    assert first == InboundMessage(
        id=multipart["id"],
        internet_message_id="<DB9PR01MB1234.reply-1@example.gov.uk>",
        received_at=datetime.fromisoformat(multipart["receivedDateTime"]),
        raw=MULTIPART_REPLY,
        headers=tuple((h["name"], h["value"]) for h in multipart["_headers"]),
    )
    # ...with the headers Exchange holds for it, in order, as Graph lists them when asked
    assert first.headers[:2] == (
        ("From", "Imogen Castellane <imogen.castellane@example.gov.uk>"),
        ("To", "Chaser <chaser@council.example>"),
    )
    described = fake_graph.calls("GET", MESSAGE_PATH)
    assert [d.query.get("$select") for d in described] == ["internetMessageHeaders"] * 2
    assert "headers" not in repr(first)  # nor do a message's headers
    assert (second.id, second.internet_message_id) == (
        html_only["id"],
        "<reply-2.html-only@example.gov.uk>",
    )
    assert all(m.received_at.tzinfo is not None for m in messages)
    assert "raw" not in repr(first)  # a whole message does not belong in log lines

    # The fixtures are what they claim to be: alternatives, and HTML with no text part.
    parsed = [email.message_from_bytes(m.raw, policy=email.policy.default) for m in messages]
    assert parsed[0].get_body(preferencelist=("plain",)) is not None
    assert parsed[0].get_body(preferencelist=("html",)) is not None
    assert parsed[1].get_body(preferencelist=("plain",)) is None
    assert "£200" in parsed[1].get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]

    downloads = fake_graph.calls("GET", VALUE_PATH)
    assert [d.path for d in downloads] == [
        f"/v1.0/users/{fake_graph.mailbox}/messages/{multipart['id']}/$value",
        f"/v1.0/users/{fake_graph.mailbox}/messages/{html_only['id']}/$value",
    ]

    again, _ = reader.fetch(next_cursor)
    assert again == []
    assert len(fake_graph.calls("GET", VALUE_PATH)) == 2
    reader.close()


def test_it_can_read_the_whole_inbox_or_from_a_given_moment(fake_graph: FakeGraph) -> None:
    now = datetime.now(UTC)
    old = fake_graph.deliver(reply(1), received_at=now - timedelta(days=2))
    recent = fake_graph.deliver(reply(2), received_at=now - timedelta(hours=1))
    reader = inbox(fake_graph)

    everything, _ = reader.fetch(None, initial="all")
    since, _ = reader.fetch(None, initial=now - timedelta(hours=3))

    assert [m.id for m in everything] == [old["id"], recent["id"]]
    assert [m.id for m in since] == [recent["id"]]
    assert "$filter" not in fake_graph.calls("GET", DELTA_PATH)[0].query
    with pytest.raises(ValueError, match="timezone-aware"):
        reader.fetch(None, initial=datetime(2025, 7, 1, 9, 0))


def test_it_follows_next_links_across_pages(fake_graph: FakeGraph) -> None:
    reader = inbox(fake_graph, page_size=2)
    _, cursor = reader.fetch(None)
    delivered = [fake_graph.deliver(reply(n)) for n in range(5)]

    messages, next_cursor = reader.fetch(cursor)

    assert [m.id for m in messages] == [d["id"] for d in delivered]
    assert [m.raw for m in messages] == [reply(n) for n in range(5)]
    _, *pages = fake_graph.calls("GET", DELTA_PATH)
    assert len(pages) == 3
    assert "$deltatoken" in pages[0].query
    assert all("$skiptoken" in page.query for page in pages[1:])
    assert all("odata.maxpagesize=2" in (page.header("Prefer") or "") for page in pages)
    assert reader.fetch(next_cursor)[0] == []


def test_it_marks_a_message_processed_and_it_does_not_come_back(fake_graph: FakeGraph) -> None:
    reader = inbox(fake_graph)
    _, cursor = reader.fetch(None)
    delivered = fake_graph.deliver(MULTIPART_REPLY)
    (message,), cursor = reader.fetch(cursor)
    assert fake_graph.messages[delivered["id"]]["isRead"] is False

    reader.mark_processed(message.id)

    assert fake_graph.messages[delivered["id"]]["isRead"] is True
    (patch,) = fake_graph.calls("PATCH", MESSAGE_PATH)
    assert patch.path == f"/v1.0/users/{fake_graph.mailbox}/messages/{delivered['id']}"
    assert patch.body == {"isRead": True}
    assert 'IdType="ImmutableId"' in (patch.header("Prefer") or "")
    assert reader.fetch(cursor)[0] == []  # an update, not an arrival

    del fake_graph.messages[delivered["id"]]  # someone deleted it meanwhile: nothing to do
    reader.mark_processed(message.id)


def test_it_skips_drafts_and_messages_deleted_before_download(fake_graph: FakeGraph) -> None:
    reader = inbox(fake_graph)
    _, cursor = reader.fetch(None)
    draft = fake_graph.deliver(reply(1))
    draft["isDraft"] = True
    fake_graph.deliver(reply(2))  # deleted between the delta listing and the download
    kept = fake_graph.deliver(reply(3))
    fake_graph.fail("GET", VALUE_PATH, 404)

    messages, _ = reader.fetch(cursor)

    assert [m.id for m in messages] == [kept["id"]]
    assert len(fake_graph.calls("GET", VALUE_PATH)) == 2  # never the draft


@pytest.mark.parametrize("path", [DELTA_PATH, VALUE_PATH])
def test_it_honours_retry_after_on_429_and_keeps_the_cursor(
    fake_graph: FakeGraph, path: str
) -> None:
    reader = inbox(fake_graph)
    _, cursor = reader.fetch(None)
    delivered = fake_graph.deliver(HTML_ONLY_REPLY)
    fake_graph.fail("GET", path, 429, retry_after=7)

    with pytest.raises(TransientError) as caught:
        reader.fetch(cursor)

    assert caught.value.retry_after == 7.0
    assert "429" in str(caught.value)
    messages, _ = reader.fetch(cursor)  # the same cursor still returns the reply
    assert [m.id for m in messages] == [delivered["id"]]


def test_it_dead_letters_403_on_reading_naming_the_fix(fake_graph: FakeGraph) -> None:
    fake_graph.fail("GET", DELTA_PATH, 403)
    with pytest.raises(PermanentError) as caught:
        inbox(fake_graph).fetch(None)
    text = str(caught.value)
    assert "403" in text and "ErrorAccessDenied" in text
    assert "Mail.Read" in text and "RBAC for Applications" in text
    assert_secret_free(caught.value, fake_graph.client_secret, *fake_graph.tokens)


def test_it_dead_letters_403_on_marking_read_naming_the_fix(fake_graph: FakeGraph) -> None:
    delivered = fake_graph.deliver(reply(1))
    fake_graph.fail("PATCH", MESSAGE_PATH, 403)
    with pytest.raises(PermanentError) as caught:
        inbox(fake_graph).mark_processed(delivered["id"])
    assert "Mail.ReadWrite" in str(caught.value) and "RBAC for Applications" in str(caught.value)
    assert fake_graph.messages[delivered["id"]]["isRead"] is False
    assert_secret_free(caught.value, fake_graph.client_secret, *fake_graph.tokens)


def test_it_reports_a_cursor_graph_has_forgotten(fake_graph: FakeGraph) -> None:
    reader = inbox(fake_graph)
    _, cursor = reader.fetch(None)
    fake_graph.delta_tokens.clear()  # Graph dropped the sync state

    with pytest.raises(StaleCursorError) as caught:
        reader.fetch(cursor)

    assert isinstance(caught.value, PermanentError)
    assert "410" in str(caught.value) and "fetch(None" in str(caught.value)


def test_it_never_sends_the_token_to_a_cursor_for_another_host(fake_graph: FakeGraph) -> None:
    foreign = (
        "https://graph.example.net/v1.0/users/x/mailFolders/inbox/messages/delta?$deltatoken=1"
    )
    with pytest.raises(StaleCursorError):
        inbox(fake_graph).fetch(foreign)
    assert fake_graph.requests == []


def test_it_dead_letters_a_wrong_client_secret_without_revealing_it(
    fake_graph: FakeGraph,
) -> None:
    wrong = "wr0ng~Secret.Value_d41d8"
    with pytest.raises(PermanentError) as caught:
        inbox(fake_graph, client_secret=wrong).fetch(None)
    text = str(caught.value)
    assert "invalid_client" in text and ENV_CLIENT_SECRET in text
    assert_secret_free(caught.value, wrong, fake_graph.client_secret)
    assert fake_graph.calls("GET", DELTA_PATH) == []


def test_it_treats_a_timeout_as_transient(fake_graph: FakeGraph) -> None:
    fake_graph.delay("GET", DELTA_PATH, 3.0)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        inbox(fake_graph, timeout=0.3).fetch(None)
    assert time.monotonic() - started < 2.0
    assert "Timeout" in str(caught.value)


def test_it_never_logs_the_secret_or_the_token(
    fake_graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reader = inbox(fake_graph)
    _, cursor = reader.fetch(None)
    fake_graph.deliver(MULTIPART_REPLY)
    (message,), _ = reader.fetch(cursor)
    reader.mark_processed(message.id)
    fake_graph.fail("GET", DELTA_PATH, 403)
    with pytest.raises(PermanentError):
        reader.fetch(cursor)

    assert caplog.records  # O365, msal and urllib3 did log at DEBUG
    assert fake_graph.client_secret not in caplog.text
    for token in fake_graph.tokens:
        assert token not in caplog.text
    assert fake_graph.client_secret not in repr(reader)
