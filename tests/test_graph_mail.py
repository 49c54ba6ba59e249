"""The Graph mail channel, through the real msal and O365 code paths, against a fake Graph over TLS.

Nothing is mocked inside the channel: msal discovers the fake tenant and fetches a token from the
fake token endpoint, O365 creates and sends drafts, and the fake records what went over the wire.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from integrations.channels.graph_mail import (
    KEY_PROPERTY_ID,
    MAX_ATTACHMENT_BYTES,
    GraphMailChannel,
)
from integrations.graph.client import ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_TENANT_ID
from notifications.channel import (
    KEY_HEADER,
    Address,
    Attachment,
    OutgoingMessage,
    PermanentError,
    Receipt,
    TransientError,
)
from notifications.invitations import EVENT_HEADER
from tests.fake_graph import (  # noqa: F401
    FakeGraph,
    StoredAttachment,
    fake_graph_fixture,
    graph_client,
)

KEY = "request:P017:SIB:2025-07-08"
TOKEN_PATH = r"/oauth2/v2\.0/token$"
CREATE_PATH = r"/users/[^/]+/(mailFolders/[^/]+/)?messages$"
SEND_PATH = r"/messages/[^/]+/send$"
READ_PATH = r"/users/[^/]+/messages/[^/]+$"
ATTACH_PATH = r"/messages/[^/]+/attachments$"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def digest_files() -> tuple[Attachment, Attachment]:
    """An XLSX and a DOCX as byte strings (zip magic, then every byte value, ~1 MB and ~200 KB)."""
    log = b"PK\x03\x04" + bytes(range(256)) * 4096 + b"\x00\xff\r\n"
    paper = b"PK\x03\x04" + bytes(reversed(range(256))) * 800 + b"word/document.xml"
    return (
        Attachment("SEND Board action log 2025-07-08.xlsx", XLSX, log),
        Attachment("SEND Board paper 2025-07-08.docx", DOCX, paper),
    )


def stored(attachments: tuple[Attachment, ...]) -> list[StoredAttachment]:
    return [StoredAttachment(a.filename, a.content_type, a.data) for a in attachments]


def channel(fake: FakeGraph, **overrides: Any) -> GraphMailChannel:
    mailbox = overrides.pop("mailbox", fake.mailbox)
    return GraphMailChannel(graph_client(fake, **overrides), mailbox=mailbox)


def message(**overrides: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "key": KEY,
        "channel": "email",
        "sender": "Chaser <chaser@council.example>",
        "to": (Address("Imogen Castellane", "imogen.castellane@example.gov.uk"),),
        "cc": (Address("Beatrix Oduya", "beatrix.oduya@example.gov.uk"),),
        "reply_to": Address("SEND Board secretary", "send.board@council.example"),
        "subject": "Update needed: action 3.2 before the SEND Board on 8 July",
        "text": "Please reply with an update.",
        "html": "<p>Please <a href='https://chaser.example/r/abc'>reply</a> with an update.</p>",
        "headers": {"X-Auto-Response-Suppress": "All", "Auto-Submitted": "auto-generated"},
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


def assert_secret_free(exc: BaseException, *secrets: str) -> None:
    """Neither the exception nor anything chained to it mentions a secret."""
    seen: BaseException | None = exc
    while seen is not None:
        for secret in secrets:
            assert secret not in str(seen)
            assert secret not in repr(seen)
        seen = seen.__cause__ or seen.__context__


def test_it_sends_as_the_shared_mailbox_through_a_draft_stamped_with_the_key(
    fake_graph: FakeGraph,
) -> None:
    ch = channel(fake_graph)
    receipt = ch.send(message())
    ch.close()

    discovery, token, create, read, send = fake_graph.requests
    assert (discovery.method, discovery.path) == (
        "GET",
        f"/{fake_graph.tenant}/v2.0/.well-known/openid-configuration",
    )
    assert (token.method, token.path) == ("POST", f"/{fake_graph.tenant}/oauth2/v2.0/token")
    assert token.body["grant_type"] == "client_credentials"
    assert token.body["client_id"] == fake_graph.client_id
    assert token.body["client_secret"] == fake_graph.client_secret
    assert token.body["scope"] == "https://graph.microsoft.com/.default"

    assert create.method == "POST"
    assert create.path.startswith(f"/v1.0/users/{fake_graph.mailbox}/")
    assert create.path.lower().endswith("/mailfolders/drafts/messages")
    draft = create.body
    assert {"name": KEY_HEADER, "value": KEY} in draft["internetMessageHeaders"]
    assert {"name": "X-Auto-Response-Suppress", "value": "All"} in draft["internetMessageHeaders"]
    assert all(h["name"].lower().startswith("x-") for h in draft["internetMessageHeaders"])
    assert draft["singleValueExtendedProperties"] == [{"id": KEY_PROPERTY_ID, "value": KEY}]
    assert draft["subject"] == "Update needed: action 3.2 before the SEND Board on 8 July"
    assert draft["body"] == {"contentType": "HTML", "content": message().html}
    assert draft["toRecipients"] == [
        {
            "emailAddress": {
                "address": "imogen.castellane@example.gov.uk",
                "name": "Imogen Castellane",
            }
        }
    ]
    assert draft["ccRecipients"] == [
        {"emailAddress": {"address": "beatrix.oduya@example.gov.uk", "name": "Beatrix Oduya"}}
    ]
    assert draft["replyTo"] == [
        {"emailAddress": {"address": "send.board@council.example", "name": "SEND Board secretary"}}
    ]

    (stored,) = fake_graph.messages.values()
    assert (read.method, read.path) == (
        "GET",
        f"/v1.0/users/{fake_graph.mailbox}/messages/{stored['id']}",
    )
    assert (send.method, send.path) == (
        "POST",
        f"/v1.0/users/{fake_graph.mailbox}/messages/{stored['id']}/send",
    )
    for graph_call in (create, read, send):
        assert 'IdType="ImmutableId"' in (graph_call.header("Prefer") or "")
        assert graph_call.header("Authorization") == f"Bearer {next(iter(fake_graph.tokens))}"

    assert receipt == Receipt(
        provider_id=stored["internetMessageId"], detail=f"graph message {stored['id']}"
    )
    assert fake_graph.in_folder("sentitems") == [stored]
    assert stored["isDraft"] is False


def test_it_sends_plain_text_when_there_is_no_html(fake_graph: FakeGraph) -> None:
    channel(fake_graph).send(message(html="", cc=(), reply_to=None, headers={}))
    (create,) = fake_graph.calls("POST", CREATE_PATH)
    assert create.body["body"] == {"contentType": "Text", "content": "Please reply with an update."}
    assert create.body["ccRecipients"] == [] and create.body["replyTo"] == []
    assert create.body["internetMessageHeaders"] == [{"name": KEY_HEADER, "value": KEY}]


def test_it_reuses_the_token_until_it_expires(fake_graph: FakeGraph) -> None:
    ch = channel(fake_graph)
    ch.send(message(key="a"))
    ch.send(message(key="b"))
    assert len(fake_graph.calls("POST", TOKEN_PATH)) == 1
    assert len(fake_graph.calls("POST", SEND_PATH)) == 2


def test_it_finds_a_message_that_was_sent_but_never_recorded(fake_graph: FakeGraph) -> None:
    # Graph sends it, but the answer never reaches Chaser (then Chaser "crashes").
    fake_graph.fail("POST", SEND_PATH, 503, after=True)
    with pytest.raises(TransientError):
        channel(fake_graph).send(message())
    (sent,) = fake_graph.in_folder("sentitems")

    restarted = channel(fake_graph)
    receipt = restarted.find_sent(message())

    assert receipt is not None
    assert receipt.provider_id == sent["internetMessageId"]
    assert len(fake_graph.calls("POST", SEND_PATH)) == 1
    assert len(fake_graph.calls("POST", CREATE_PATH)) == 1
    (search, *_) = fake_graph.calls("GET", r"/mailFolders/sentitems/messages$")
    assert search.query["$filter"] == (
        f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_PROPERTY_ID}' "
        f"and ep/value eq '{KEY}')"
    )
    assert "isDraft" in search.query["$select"].split(",")


def test_it_recovers_rather_than_resending_when_a_retry_follows_an_unknown_outcome(
    fake_graph: FakeGraph,
) -> None:
    ch = channel(fake_graph)
    fake_graph.fail("POST", SEND_PATH, 504, after=True)
    with pytest.raises(TransientError):
        ch.send(message())

    receipt = ch.send(message())  # the outbox retries on the same worker

    (sent,) = fake_graph.in_folder("sentitems")
    assert receipt.provider_id == sent["internetMessageId"]
    assert len(fake_graph.calls("POST", CREATE_PATH)) == 1
    assert len(fake_graph.calls("POST", SEND_PATH)) == 1


def test_it_sends_a_leftover_draft_rather_than_creating_a_second(fake_graph: FakeGraph) -> None:
    # The draft is created, then Chaser dies before sending it.
    fake_graph.fail("GET", READ_PATH, 503)
    with pytest.raises(TransientError):
        channel(fake_graph).send(message())
    (draft,) = fake_graph.in_folder("drafts")

    receipt = channel(fake_graph).find_sent(message())

    assert receipt is not None and receipt.provider_id == draft["internetMessageId"]
    assert fake_graph.in_folder("drafts") == []
    assert fake_graph.in_folder("sentitems") == [draft]
    assert len(fake_graph.calls("POST", CREATE_PATH)) == 1
    (send,) = fake_graph.calls("POST", SEND_PATH)
    assert send.path.endswith(f"/messages/{draft['id']}/send")


def test_it_reports_nothing_sent_when_no_message_carries_the_key(fake_graph: FakeGraph) -> None:
    fake_graph.add_message(
        folder="sentitems", key="request:P999:SIB:2025-07-08", property_id=KEY_PROPERTY_ID
    )
    fake_graph.add_message(folder="inbox", key=KEY, property_id=KEY_PROPERTY_ID)
    assert channel(fake_graph).find_sent(message()) is None
    assert fake_graph.calls("POST", SEND_PATH) == []


def test_it_quotes_keys_in_the_filter(fake_graph: FakeGraph) -> None:
    key = "nudge:O'Brien:late:2025-07-08"
    sent = fake_graph.add_message(folder="sentitems", key=key, property_id=KEY_PROPERTY_ID)
    receipt = channel(fake_graph).find_sent(message(key=key))
    assert receipt is not None and receipt.provider_id == sent["internetMessageId"]


@pytest.mark.parametrize("path", [CREATE_PATH, SEND_PATH])
def test_it_honours_retry_after_on_429(fake_graph: FakeGraph, path: str) -> None:
    fake_graph.fail("POST", path, 429, retry_after=7)
    with pytest.raises(TransientError) as caught:
        channel(fake_graph).send(message())
    assert caught.value.retry_after == 7.0
    assert "429" in str(caught.value)


def test_it_treats_503_as_transient_and_never_retries_a_post_itself(fake_graph: FakeGraph) -> None:
    fake_graph.fail("POST", CREATE_PATH, 503)
    with pytest.raises(TransientError) as caught:
        channel(fake_graph).send(message())
    assert caught.value.retry_after is None
    assert "503" in str(caught.value)
    assert len(fake_graph.calls("POST", CREATE_PATH)) == 1  # no urllib3 retry behind our back


def test_it_dead_letters_403_naming_the_fix(fake_graph: FakeGraph) -> None:
    fake_graph.fail("POST", CREATE_PATH, 403)
    with pytest.raises(PermanentError) as caught:
        channel(fake_graph).send(message())
    text = str(caught.value)
    assert "403" in text and "ErrorAccessDenied" in text
    assert "Mail.Send" in text and "RBAC for Applications" in text
    assert_secret_free(caught.value, fake_graph.client_secret, *fake_graph.tokens)


def test_it_deletes_a_draft_graph_refuses_to_send(fake_graph: FakeGraph) -> None:
    fake_graph.fail(
        "POST",
        SEND_PATH,
        400,
        code="ErrorInvalidRecipients",
        message="At least one recipient isn't valid.",
    )
    with pytest.raises(PermanentError, match="ErrorInvalidRecipients"):
        channel(fake_graph).send(message())
    assert fake_graph.messages == {}  # nothing stale left for a later recovery to send
    assert len(fake_graph.calls("DELETE", READ_PATH)) == 1


def test_it_dead_letters_an_unknown_mailbox(fake_graph: FakeGraph) -> None:
    ch = channel(fake_graph, mailbox="nobody@council.example")
    with pytest.raises(PermanentError) as caught:
        ch.send(message(sender="nobody@council.example"))
    assert "404" in str(caught.value) and "CHASER_GRAPH_MAILBOX" in str(caught.value)


def test_it_dead_letters_a_wrong_client_secret_without_revealing_it(
    fake_graph: FakeGraph,
) -> None:
    wrong = "wr0ng~Secret.Value_d41d8"
    with pytest.raises(PermanentError) as caught:
        channel(fake_graph, client_secret=wrong).send(message())
    text = str(caught.value)
    assert "invalid_client" in text and "AADSTS7000215" in text
    assert ENV_CLIENT_SECRET in text
    assert_secret_free(caught.value, wrong, fake_graph.client_secret)
    assert fake_graph.calls("POST", CREATE_PATH) == []


def test_it_dead_letters_an_app_the_tenant_does_not_know(fake_graph: FakeGraph) -> None:
    with pytest.raises(PermanentError) as caught:
        channel(fake_graph, client_id="00000000-0000-0000-0000-000000000000").send(message())
    assert "unauthorized_client" in str(caught.value) and ENV_CLIENT_ID in str(caught.value)


def test_it_dead_letters_an_unknown_tenant(fake_graph: FakeGraph) -> None:
    with pytest.raises(PermanentError) as caught:
        channel(fake_graph, tenant_id="not-our-tenant").send(message())
    assert ENV_TENANT_ID in str(caught.value)


@pytest.mark.parametrize("path", [TOKEN_PATH, CREATE_PATH])
def test_it_treats_a_timeout_as_transient(fake_graph: FakeGraph, path: str) -> None:
    fake_graph.delay("POST", path, 3.0)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        channel(fake_graph, timeout=0.3).send(message())
    assert time.monotonic() - started < 2.0
    assert "Timeout" in str(caught.value)
    assert_secret_free(caught.value, fake_graph.client_secret)


def test_it_treats_an_unreachable_server_as_transient(fake_graph: FakeGraph) -> None:
    fake_graph.stop()
    with pytest.raises(TransientError) as caught:
        channel(fake_graph, timeout=0.3).send(message())
    assert_secret_free(caught.value, fake_graph.client_secret)


def test_it_refuses_a_message_from_another_mailbox_before_calling_graph(
    fake_graph: FakeGraph,
) -> None:
    with pytest.raises(PermanentError, match=r"sends as chaser@council\.example"):
        channel(fake_graph).send(message(sender="someone.else@council.example"))
    assert fake_graph.requests == []


def test_it_never_logs_the_secret_or_the_token(
    fake_graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ch = channel(fake_graph)
    ch.send(message())
    fake_graph.fail("POST", CREATE_PATH, 403)
    with pytest.raises(PermanentError):
        ch.send(message(key="other"))
    assert caplog.records  # O365, msal and urllib3 did log at DEBUG
    assert fake_graph.client_secret not in caplog.text
    for token in fake_graph.tokens:
        assert token not in caplog.text
    assert fake_graph.client_secret not in repr(ch)


# -- attachments ------------------------------------------------------------------------------


def test_it_sends_attachments_byte_identical(fake_graph: FakeGraph) -> None:
    files = digest_files()
    receipt = channel(fake_graph).send(message(attachments=files))

    (sent,) = fake_graph.in_folder("sentitems")
    assert receipt.provider_id == sent["internetMessageId"]
    assert sent["hasAttachments"] is True
    assert fake_graph.attachments(sent["id"]) == stored(files)
    # The draft is created stamped with the key, then attached to, then sent.
    graph = [(r.method, r.path) for r in fake_graph.calls(path=r"^/v1\.0/")]
    base = f"/v1.0/users/{fake_graph.mailbox}/messages/{sent['id']}"
    assert graph[1:3] == [("POST", f"{base}/attachments")] * 2
    assert graph[-1] == ("POST", f"{base}/send")
    (create,) = fake_graph.calls("POST", CREATE_PATH)
    assert create.body["singleValueExtendedProperties"] == [{"id": KEY_PROPERTY_ID, "value": KEY}]
    assert "attachments" not in create.body
    first = fake_graph.calls("POST", ATTACH_PATH)[0].body
    assert first["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert (first["name"], first["contentType"]) == (files[0].filename, XLSX)


def test_it_sends_a_message_without_attachments_unchanged(fake_graph: FakeGraph) -> None:
    channel(fake_graph).send(message())
    (sent,) = fake_graph.in_folder("sentitems")
    assert fake_graph.attachments(sent["id"]) == []
    assert sent["hasAttachments"] is False
    assert fake_graph.calls(path=r"/attachments") == []
    assert [r.method for r in fake_graph.calls(path=r"^/v1\.0/")] == ["POST", "GET", "POST"]


def test_it_refuses_an_oversize_attachment_naming_the_fix_and_sends_nothing(
    fake_graph: FakeGraph,
) -> None:
    big = Attachment("minutes.docx", DOCX, b"\x00" * (MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(PermanentError) as caught:
        channel(fake_graph).send(message(attachments=(digest_files()[0], big)))
    text = str(caught.value)
    assert "minutes.docx" in text
    assert "attachments over 3 MB need an upload session; not supported" in text
    assert fake_graph.requests == []  # refused before any call: no token, no draft
    assert fake_graph.messages == {}


def test_it_accepts_an_attachment_of_exactly_3_mb(fake_graph: FakeGraph) -> None:
    edge = Attachment("log.xlsx", XLSX, b"\xab" * MAX_ATTACHMENT_BYTES)
    channel(fake_graph).send(message(attachments=(edge,)))
    (sent,) = fake_graph.in_folder("sentitems")
    assert fake_graph.attachments(sent["id"]) == stored((edge,))


def test_it_deletes_the_draft_when_graph_refuses_an_attachment(fake_graph: FakeGraph) -> None:
    fake_graph.fail("POST", ATTACH_PATH, 413, code="ErrorRequestEntityTooLarge")
    with pytest.raises(PermanentError, match="upload session"):
        channel(fake_graph).send(message(attachments=digest_files()))
    assert fake_graph.messages == {}
    assert fake_graph.calls("POST", SEND_PATH) == []


def test_it_completes_a_leftover_drafts_attachments_before_sending_it(
    fake_graph: FakeGraph,
) -> None:
    # An earlier run created the draft and added the first attachment, then died.
    files = digest_files()
    fake_graph.add_message(
        folder="drafts",
        key=KEY,
        property_id=KEY_PROPERTY_ID,
        attachments=tuple(stored(files[:1])),
    )

    receipt = channel(fake_graph).find_sent(message(attachments=files))

    (sent,) = fake_graph.in_folder("sentitems")
    assert receipt is not None and receipt.provider_id == sent["internetMessageId"]
    assert fake_graph.attachments(sent["id"]) == stored(files)
    (added,) = fake_graph.calls("POST", ATTACH_PATH)
    assert added.body["name"] == files[1].filename
    assert fake_graph.calls("POST", CREATE_PATH) == []


def test_it_never_attaches_twice_when_an_attachments_answer_is_lost(
    fake_graph: FakeGraph,
) -> None:
    # Graph stores the first attachment, but its answer never arrives; the outbox retries.
    files = digest_files()
    ch = channel(fake_graph)
    fake_graph.fail("POST", ATTACH_PATH, 504, after=True)
    with pytest.raises(TransientError, match="504"):
        ch.send(message(attachments=files))
    (draft,) = fake_graph.in_folder("drafts")
    assert fake_graph.attachments(draft["id"]) == stored(files[:1])

    receipt = ch.send(message(attachments=files))

    (sent,) = fake_graph.in_folder("sentitems")
    assert sent["id"] == draft["id"] and receipt.provider_id == sent["internetMessageId"]
    assert fake_graph.attachments(sent["id"]) == stored(files)
    assert len(fake_graph.calls("POST", CREATE_PATH)) == 1
    assert len(fake_graph.calls("POST", ATTACH_PATH)) == 2
    assert len(fake_graph.calls("POST", SEND_PATH)) == 1


def test_it_sends_a_leftover_draft_that_already_has_all_its_attachments(
    fake_graph: FakeGraph,
) -> None:
    files = digest_files()
    fake_graph.fail("GET", READ_PATH, 503)  # dies after attaching, before sending
    with pytest.raises(TransientError):
        channel(fake_graph).send(message(attachments=files))

    receipt = channel(fake_graph).find_sent(message(attachments=files))

    (sent,) = fake_graph.in_folder("sentitems")
    assert receipt is not None and receipt.provider_id == sent["internetMessageId"]
    assert fake_graph.attachments(sent["id"]) == stored(files)
    assert len(fake_graph.calls("POST", ATTACH_PATH)) == 2  # none added by the recovery
    (listing,) = fake_graph.calls("GET", ATTACH_PATH)
    assert "contentBytes" not in listing.query["$select"]


def _board_ics(method: str = "REQUEST", sequence: int = 0) -> str:
    """A board's calendar object as Chaser writes it (one attendee, London's 10:00 in BST)."""
    return (
        "BEGIN:VCALENDAR\r\nPRODID:-//Chaser//Improvement plan meetings//EN\r\nVERSION:2.0\r\n"
        f"METHOD:{method}\r\nBEGIN:VEVENT\r\nUID:0123abcd@council.example\r\n"
        f"SEQUENCE:{sequence}\r\nDTSTAMP:20250916T083000Z\r\nDTSTART:20250930T090000Z\r\n"
        "DTEND:20250930T110000Z\r\nSUMMARY:SEND Improvement Board\r\nLOCATION:Council House\r\n"
        "ORGANIZER;CN=Chaser:mailto:chaser@council.example\r\n"
        "ATTENDEE;CN=Imogen Castellane;ROLE=REQ-PARTICIPANT;RSVP=TRUE:"
        "mailto:imogen.castellane@example.gov.uk\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def test_it_mails_a_per_invitee_invitation_with_its_ics_attached(fake_graph: FakeGraph) -> None:
    ch = channel(fake_graph)
    ch.send(message(calendar=_board_ics(), html="", cc=()))
    ch.close()
    (sent,) = fake_graph.in_folder("sentitems")
    (invite,) = fake_graph.attachments(sent["id"])
    assert (invite.name, invite.content_type) == ("invite.ics", "text/calendar")
    assert b"METHOD:REQUEST" in invite.data
    assert fake_graph.calls("POST", r"/events$") == []


def test_it_makes_a_meeting_event_of_a_message_marked_as_one_and_mails_nothing(
    fake_graph: FakeGraph,
) -> None:
    ch = channel(fake_graph)
    marked = message(calendar=_board_ics(), html="", cc=(), headers={EVENT_HEADER: "1"})
    receipt = ch.send(marked)
    (event,) = fake_graph.calendar()
    assert receipt.provider_id == event["id"]
    assert event["start"] == {"dateTime": "2025-09-30T10:00:00", "timeZone": "Europe/London"}
    assert event["location"] == {"displayName": "Council House"}
    assert fake_graph.messages == {}  # no draft, no mail: Exchange writes the invitation
    # the same change again (a retry) changes nothing; a cancellation cancels the one event
    assert ch.send(marked).provider_id == event["id"]
    assert ch.find_sent(marked) == receipt.__class__(
        event["id"], "graph event: found in the calendar"
    )
    cancel = message(
        key=KEY + ":1",
        calendar=_board_ics("CANCEL", 1),
        html="",
        cc=(),
        text="Cancelled.",
        headers={EVENT_HEADER: "1"},
    )
    assert ch.find_sent(cancel) is None  # not yet cancelled
    ch.send(cancel)
    ch.close()
    assert len(fake_graph.calls("POST", r"/events$")) == 1
    (cancelled,) = fake_graph.calls("POST", r"/events/[^/]+/cancel$")
    assert cancelled.body == {"comment": "Cancelled."}
    assert fake_graph.calendar() == [] and fake_graph.events[event["id"]]["isCancelled"]


def test_it_dead_letters_an_event_without_calendar_permission_naming_the_fix(
    fake_graph: FakeGraph,
) -> None:
    fake_graph.fail("GET", r"/events$", 403)
    ch = channel(fake_graph)
    with pytest.raises(PermanentError, match=r"Application Calendars\.ReadWrite"):
        ch.send(message(calendar=_board_ics(), html="", cc=(), headers={EVENT_HEADER: "1"}))
    ch.close()
    assert fake_graph.events == {}
