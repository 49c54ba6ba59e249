"""The review queue page shows what a reply carried (issue 19): its attachments, listed and
never opened, the HTML-only message as text, and, where the reader gives them, its verdict on
each action."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from chaser.importing import import_people, import_plan
from integrations.web import create_app
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX
from tests.signin import TEST_SIGNIN, sign_in
from tests.test_cli_admin_verbs import _html_reply_with_attachment
from workflows.plan.mapping import load_mapping
from workflows.replies.authentication import Receiver
from workflows.replies.intake import ingest_email

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_it_lists_the_attachments_and_shows_the_html_as_text(engine: Engine) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    outcome = ingest_email(
        engine, _html_reply_with_attachment(), now=WHEN, plan_code=PLAN, receiver=Receiver.smtp(())
    )
    assert outcome.verdict == "review"
    app = create_app(
        engine=engine,
        secret=b"r" * 40,
        clock=Clock(WHEN),
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )
    with TestClient(app, base_url=BASE) as client:
        sign_in(client, engine, now=WHEN)
        html = client.get("/review").text
    n = outcome.reply_id
    attachments = html.split(f'id="reply-{n}-attachments"', 1)[1].split("</ul>", 1)[0]
    assert "evidence.pdf (application/pdf, 17 bytes)" in attachments
    assert "It came with 1 attachment, kept with the reply and not opened" in html
    assert "2.5: Amber – staff recruited" in html
    assert "alert(" not in html and "&lt;b&gt;" not in html
    if f'id="reply-{n}-answers"' in html:  # the reader's verdict per action, where it gives one
        answers = html.split(f'id="reply-{n}-answers"', 1)[1].split("</ul>", 1)[0]
        assert "<strong>2.5</strong>: review (matched by ref). Read as: Amber" in answers


def _plain_reply_with_history() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Aisha Pendleford <aisha.pendleford@example.org>"
    msg["To"] = "send.improvement@example.org"
    msg["Subject"] = "Re: Update needed"
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = "<plain-history@mail.example.org>"
    msg.set_content(
        "2.5: Amber - staff recruited <b>soon</b>\n\n"
        "On Mon, 15 Sep 2025 at 09:30, Chaser wrote:\n"
        "> Please send your update on 2.5 before the board\n"
    )
    return msg.as_bytes()


def test_it_shows_the_message_as_sent_with_its_headers_and_the_history_set_apart(
    engine: Engine,
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    outcome = ingest_email(
        engine, _plain_reply_with_history(), now=WHEN, plan_code=PLAN, receiver=Receiver.smtp(())
    )
    assert outcome.verdict == "review"
    app = create_app(
        engine=engine,
        secret=b"r" * 40,
        clock=Clock(WHEN),
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )
    with TestClient(app, base_url=BASE) as client:
        sign_in(client, engine, now=WHEN)
        html = client.get("/review").text
    n = outcome.reply_id
    headers = html.split(f'id="reply-{n}-headers"', 1)[1].split("</dl>", 1)[0]
    assert "Aisha Pendleford &lt;aisha.pendleford@example.org&gt;" in headers
    assert "send.improvement@example.org" in headers
    assert "Re: Update needed" in headers and ">Date<" in headers
    text = html.split(f'id="reply-{n}-text"', 1)[1].split("</div>", 1)[0]
    assert "2.5: Amber - staff recruited &lt;b&gt;soon&lt;/b&gt;" in text  # as text, not markup
    assert "Please send your update" not in text
    quoted = html.split(f'id="reply-{n}-quoted"', 1)[1].split("</details>", 1)[0]
    assert "The earlier messages it quotes" in quoted
    assert "Chaser wrote:" in quoted and "&gt; Please send your update on 2.5" in quoted
