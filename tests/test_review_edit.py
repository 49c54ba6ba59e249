"""The review queue shows the message as sent (issue 19, item 7): in `chaser replies review`,
its headers, its text and, set apart, the earlier messages it quotes. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import import_people, import_plan
from integrations.web import FormServer, create_app
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX
from tests.mail_servers import free_port
from tests.signin import COOKIE, TEST_SIGNIN, session_token, sign_in
from tests.test_admin_outbox_pages import WIDER
from tests.test_admin_review_page import _plain_reply_with_history
from tests.test_cli_admin_verbs import (
    Chaser,
    _html_reply_with_attachment,
    chaser,  # noqa: F401  (the fixture)
)
from workflows.plan.mapping import load_mapping
from workflows.replies.authentication import Receiver
from workflows.replies.intake import ingest_email
from workflows.store.models import Action, Reply, Role, StatusChange

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_it_shows_the_message_as_sent_in_the_cli_with_the_history_set_apart(
    chaser: Chaser,  # noqa: F811
    tmp_path: Path,
) -> None:
    eml = tmp_path / "reply.eml"
    eml.write_bytes(_plain_reply_with_history())
    (item,) = json.loads(chaser("replies", "ingest", str(eml), "--json")[0])
    assert item["verdict"] == "review"
    out, _ = chaser("replies", "review")
    assert "  | From: Aisha Pendleford <aisha.pendleford@example.org>" in out
    assert "  | To: send.improvement@example.org" in out
    assert "  | Subject: Re: Update needed" in out
    assert "  | 2.5: Amber - staff recruited <b>soon</b>" in out
    history = out.split("  the earlier messages it quotes:\n", 1)[1]
    assert "  |   On Mon, 15 Sep 2025 at 09:30, Chaser wrote:" in history
    assert "  |   > Please send your update on 2.5 before the board" in history
    assert "Please send your update" not in out.split("  the earlier messages", 1)[0]
    (listed,) = json.loads(chaser("replies", "review", "--json")[0])
    assert listed["headers"]["From"] == "Aisha Pendleford <aisha.pendleford@example.org>"
    assert listed["text"] == "2.5: Amber - staff recruited <b>soon</b>"
    assert listed["quoted"].startswith("On Mon, 15 Sep 2025 at 09:30, Chaser wrote:")


def test_the_review_page_shows_the_message_as_sent_and_passes_axe_in_chromium(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    ids = []
    for raw in (_plain_reply_with_history(), _html_reply_with_attachment()):
        outcome = ingest_email(engine, raw, now=WHEN, plan_code=PLAN, receiver=Receiver.smtp(()))
        assert outcome.verdict == "review"
        ids.append(outcome.reply_id)
    n = ids[0]
    port = free_port()
    app = create_app(
        engine=engine,
        secret=b"r" * 40,
        clock=Clock(WHEN),
        form_url=f"http://127.0.0.1:{port}",
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )
    shots = tmp_path / "screenshots"
    with FormServer(app, port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(
            engine,
            email="sam.secretary@example.org",
            name="Sam Secretary",
            role=Role.SECRETARY,
            now=WHEN,
        )
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for width in (1024, 390):
            browser.set_viewport_size({"width": width, "height": 900})
            response = browser.goto(base + "/review")
            assert response is not None and response.status == 200
            assert browser.get_by_role("heading", level=1, name="Review queue").is_visible()
            history = browser.get_by_text("Please send your update on 2.5")
            assert not history.is_visible()  # the quoted history starts collapsed
            browser.get_by_text("The earlier messages it quotes").click()
            assert history.is_visible()
            browser.screenshot(path=str(shots / f"review-{width}.png"), full_page=True)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            page_width = browser.evaluate("document.documentElement.scrollWidth")
            assert page_width <= width, (width, page_width, browser.evaluate(WIDER))
        # Edit what was read, then apply it: the edited values are what the plan records.
        browser.set_viewport_size({"width": 390, "height": 900})
        browser.goto(base + "/review")
        section = browser.locator(f"#reply-{n}")
        section.get_by_label("Status").select_option("Red")
        section.get_by_label("Narrative").fill("Recruitment slipped")
        section.get_by_label("Apply it").check()
        click_and_wait(browser, section.get_by_role("button", name=f"Save decision on reply {n}"))
        assert browser.get_by_text(f"Reply {n} applied").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "applied-390.png"), full_page=True)
        assert browser.errors == []
    assert _action(engine, "2.5")[0::2] == ("Red", "Recruitment slipped")
    print(f"screenshots in {shots}")


def test_it_applies_what_the_secretary_edited_in_the_cli_and_keeps_the_reading(
    chaser: Chaser,  # noqa: F811
    engine: Engine,
    tmp_path: Path,
) -> None:
    eml = tmp_path / "reply.eml"
    eml.write_bytes(_plain_reply_with_history())
    (item,) = json.loads(chaser("replies", "ingest", str(eml), "--json")[0])
    reply_id = item["reply_id"]
    out, _ = chaser("replies", "review")
    assert "--status REF=VALUE --date REF=DATE --narrative REF=TEXT" in out
    before = _action(engine, "2.5")

    _, err = chaser(
        "replies", "apply", str(reply_id), "--by", "Sam", "--status", "2.5=Purple", code=1
    )
    assert "action 2.5, status: 'Purple' is not on the plan's status scale" in err
    assert "Amber" in err and "Red" in err  # what it may be
    _, err = chaser(
        "replies", "apply", str(reply_id), "--by", "Sam", "--date", "2.5=soonish", code=1
    )
    assert "action 2.5, revised date: 'soonish' cannot be read as a date" in err
    _, err = chaser("replies", "apply", str(reply_id), "--by", "Sam", "--status", "9.9=Red", code=1)
    assert "action 9.9 is not among the updates waiting (2.5)" in err
    _, err = chaser("replies", "apply", str(reply_id), "--by", "Sam", "--status", "Red", code=2)
    assert "'Red' is not REF=VALUE" in err
    assert _action(engine, "2.5") == before  # nothing applied
    with Session(engine) as session:
        reply = session.get(Reply, reply_id)
        assert reply is not None and reply.verdict == "review"

    out, _ = chaser(
        "replies", "apply", str(reply_id), "--by", "Sam Secretary",
        "--status", "2.5=Red", "--date", "2.5=2026-03-31", "--narrative", "2.5=Recruitment slipped",
    )  # fmt: skip
    assert f"reply {reply_id}: applied by Sam Secretary" in out
    assert _action(engine, "2.5") == ("Red", date(2026, 3, 31), "Recruitment slipped")
    with Session(engine) as session:
        reply = session.get(Reply, reply_id)
        assert reply is not None
        (edit,) = reply.parsed["edits"]
        change = session.exec(select(StatusChange).where(StatusChange.reply_id == reply_id)).one()
    assert edit["ref"] == "2.5" and edit["by"] == "Sam Secretary"
    assert edit["read"]["status_label"] == "Amber"  # the original reading, kept
    assert "staff recruited" in edit["read"]["narrative"]
    assert edit["applied"]["status_label"] == "Red"
    assert change.status_label_after == "Red" and change.narrative == "Recruitment slipped"


def _action(engine: Engine, ref: str) -> tuple[str, date | None, str]:
    with Session(engine) as session:
        action = session.exec(select(Action).where(Action.ref == ref)).one()
        return action.status_label, action.forecast_due, action.progress


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found is not None
    return found.group(1)


def test_it_applies_what_the_secretary_edited_on_the_page_and_refuses_bad_values(
    engine: Engine,
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    outcome = ingest_email(
        engine, _plain_reply_with_history(), now=WHEN, plan_code=PLAN, receiver=Receiver.smtp(())
    )
    n = outcome.reply_id
    app = create_app(
        engine=engine,
        secret=b"r" * 40,
        clock=Clock(WHEN),
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )
    before = _action(engine, "2.5")
    with TestClient(app, base_url=BASE) as client:
        sign_in(client, engine, email="bea.viewer@example.org", role=Role.VIEWER, now=WHEN)
        html = client.get("/review").text
        refused = client.post(f"/review/{n}", data={"csrf_token": _csrf(html), "decision": "apply"})
        assert refused.status_code == 403  # a viewer may not decide

        sign_in(client, engine, now=WHEN)
        html = client.get("/review").text
        form = html.split(f'id="reply-{n}"', 1)[1]
        assert 'name="status:2.5"' in form and 'name="date:2.5"' in form
        assert '<option value="Amber" selected>' in form  # what was read, to change
        assert "staff recruited &lt;b&gt;soon&lt;/b&gt;</textarea>" in form
        token = _csrf(html)
        no_csrf = client.post(f"/review/{n}", data={"decision": "apply", "status:2.5": "Red"})
        assert no_csrf.status_code in (400, 403)
        bad = client.post(
            f"/review/{n}",
            data={"csrf_token": token, "decision": "apply", "status:2.5": "Purple"},
        )
        assert bad.status_code == 409
        assert f"Reply {n}, action 2.5, status: &#39;Purple&#39; is not on the plan" in bad.text
        assert '<option value="Purple" selected>' in bad.text  # the value kept, to correct
        bad = client.post(
            f"/review/{n}",
            data={"csrf_token": token, "decision": "apply", "date:2.5": "next-ish"},
        )
        assert (
            bad.status_code == 409 and "revised date: &#39;next-ish&#39; cannot be read" in bad.text
        )
        assert _action(engine, "2.5") == before  # nothing applied

        done = client.post(
            f"/review/{n}",
            data={
                "csrf_token": token,
                "decision": "apply",
                "status:2.5": "Red",
                "date:2.5": "March 2026",
                "narrative:2.5": "Recruitment slipped to spring",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
    assert _action(engine, "2.5") == ("Red", date(2026, 3, 31), "Recruitment slipped to spring")
    with Session(engine) as session:
        reply = session.get(Reply, n)
        assert reply is not None and reply.verdict == "applied"
        (edit,) = reply.parsed["edits"]
    assert edit["by"] == reply.decided_by != ""
    assert edit["read"]["status_label"] == "Amber" and edit["applied"]["status_label"] == "Red"
