"""The review queue page shows what a reply carried (issue 19): its attachments, listed and
never opened, the HTML-only message as text, and, where the reader gives them, its verdict on
each action."""

from __future__ import annotations

from datetime import UTC, datetime

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
