"""`/outbox`: the demo's captured mail, as the person trying the demo sees it."""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from integrations.mail.capture import MailCapture
from integrations.web import create_app
from tests.clock import Clock
from tests.mail_servers import free_port
from tests.signin import TEST_SIGNIN, sign_in

NOW = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)
BASE = "http://127.0.0.1:8080"


def _message(to: str, subject: str, text: str, *, html: str = "", attach: bool = False) -> bytes:
    message = EmailMessage()
    message["From"] = "Plymouth SEND Improvement Programme <send.improvement@example.org>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    if attach:
        message.add_attachment(
            b"PK\x03\x04 not really a workbook",
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename="SIB-2025-09-30-action-and-impact-log.xlsx",
        )
    return message.as_bytes()


@pytest.fixture
def capture(tmp_path: Path) -> MailCapture:
    mail = MailCapture(tmp_path / "mail", Clock(NOW))
    mail.add(
        _message(
            "Aisha Pendleford <aisha.pendleford@example.org>",
            "Update needed by Tue 23 Sep for the Local Area SEND Improvement Board",
            "Please update your actions: http://127.0.0.1:8080/r/abc.DEF-123.\n"
            "<script>alert(1)</script> is shown as text.",
            html="<p style='color:red'>Please update</p><script>alert(1)</script>",
        )
    )
    mail.add(
        _message(
            "Morwenna Tregear <morwenna.tregear@example.org>",
            "Digest for the Local Area SEND Improvement Board",
            "7 actions flagged.",
            attach=True,
        )
    )
    return mail


def _client(engine: Engine, capture: MailCapture, bind_host: str = "127.0.0.1") -> TestClient:
    app = create_app(
        engine=engine,
        secret=b"s" * 40,
        clock=Clock(NOW),
        form_url=BASE,
        bind_host=bind_host,
        mailbox=capture,
        signin=TEST_SIGNIN,
    )
    client = TestClient(app, base_url=BASE)
    sign_in(client, engine)  # the demo's outbox is for its signed-in viewer
    return client


@pytest.fixture
def client(sqlite_engine: Engine, capture: MailCapture) -> Iterator[TestClient]:
    with _client(sqlite_engine, capture) as c:
        yield c


def test_it_lists_captured_mail_newest_first_and_filters_by_recipient(client: TestClient) -> None:
    page = client.get("/outbox")
    assert page.status_code == 200
    assert page.text.index("Digest for the Local") < page.text.index("Update needed by Tue 23")
    assert "2 messages" in page.text
    assert "Tue 16 Sep 2025, 09:30" in page.text  # London time (BST)
    filtered = client.get("/outbox", params={"to": "aisha"})
    assert "1 of 2 messages" in filtered.text
    assert "Digest for the Local" not in filtered.text


def test_a_message_shows_its_text_with_working_links_and_escaped_markup(
    client: TestClient,
) -> None:
    page = client.get("/outbox/1")
    assert page.status_code == 200
    assert "Aisha Pendleford &lt;aisha.pendleford@example.org&gt;" in page.text
    link = '<a class="govuk-link" href="http://127.0.0.1:8080/r/abc.DEF-123">'
    assert link in page.text  # the full stop after the link is not part of it
    assert "&lt;script&gt;alert(1)&lt;/script&gt; is shown as text." in page.text
    assert "<script>" not in page.text
    assert 'href="/outbox/1/html"' in page.text


def test_the_html_version_may_not_run_script_or_load_anything(client: TestClient) -> None:
    page = client.get("/outbox/1/html")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "sandbox" in policy and "script-src" not in policy
    assert policy.startswith("default-src 'none'")


def test_raw_messages_and_attachments_download_as_sent(
    client: TestClient, capture: MailCapture
) -> None:
    raw = client.get("/outbox/2/raw")
    assert raw.content == capture.messages()[1].raw
    assert "attachment" in raw.headers["content-disposition"]
    page = client.get("/outbox/2")
    assert "SIB-2025-09-30-action-and-impact-log.xlsx" in page.text
    file = client.get("/outbox/2/attachments/1")
    assert file.content == b"PK\x03\x04 not really a workbook"
    assert (
        'filename="SIB-2025-09-30-action-and-impact-log.xlsx"'
        in (file.headers["content-disposition"])
    )


def test_unknown_messages_and_attachments_are_404_pages(client: TestClient) -> None:
    for path in ("/outbox/99", "/outbox/99/raw", "/outbox/2/attachments/5", "/outbox/2/html"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "Message not found" in answer.text


def test_the_outbox_is_for_the_local_browser_only(
    sqlite_engine: Engine, capture: MailCapture
) -> None:
    with _client(sqlite_engine, capture, bind_host="0.0.0.0") as public:
        assert public.get("/outbox").status_code == 403
    with _client(sqlite_engine, capture) as local:
        assert local.get("/outbox", headers={"Host": "chaser.example.org"}).status_code == 403
        assert local.get("/outbox", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403


def test_the_sink_keeps_what_smtp_delivers_numbered_and_on_disk(tmp_path: Path) -> None:
    mail = MailCapture(tmp_path / "mail", Clock(NOW))
    port = free_port()
    with mail.listener("127.0.0.1", port), smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in (1, 2):
            smtp.sendmail(
                "send.improvement@example.org",
                ["lead@example.org"],
                _message("lead@example.org", f"Request {n}", "Hello"),
            )
    assert [m.number for m in mail.messages()] == [1, 2]
    assert [m.number for m in mail.since(1)] == [2]
    assert mail.messages()[0].received_at == NOW
    on_disk = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert on_disk == ["00001.eml", "00002.eml"]
    stored = email.message_from_bytes(
        (tmp_path / "mail" / "00002.eml").read_bytes(), policy=email.policy.default
    )
    assert stored["Subject"] == "Request 2"
