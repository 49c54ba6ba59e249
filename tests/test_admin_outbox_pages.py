"""The outbox under `chaser run` (issue 19): the plan's messages by state with their attempts
and reasons, a dead one sent again by a secretary or admin (role, CSRF and origin checked,
recorded under their name), and the dead-letter count and oldest pending age on the plan page
and in `/health`. After the SIB requests of 16 Sep 2025: 13 emails sent through a real SMTP
sink, and HP's Teams copy dead (no webhook is configured)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import import_people, import_plan
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from integrations.web import FormServer, create_app
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink, free_port
from tests.signin import COOKIE, TEST_SIGNIN, session_token
from workflows.plan.mapping import load_mapping
from workflows.store.models import AuditEvent, Delivery, Role

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
SECRET = b"o" * 40
REQUEST_DAY = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)  # 09:30 in London
ADMIN = ("ann.admin@example.org", "Ann Admin")
#: What sticks out past the viewport (for the failure message).
WIDER = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
TEAMS_KEY = f"{PLAN}/request:HP:SIB:2025-09-30:teams"


@dataclass
class Chased:
    engine: Engine
    clock: Clock
    dead_id: int


@pytest.fixture
def chased(engine: Engine, sink: SmtpSink, tmp_path: Path) -> Iterator[Chased]:
    import_people(engine, PEOPLE_CSV, now=REQUEST_DAY - timedelta(days=90))
    import_plan(
        engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=REQUEST_DAY - timedelta(days=90)
    )
    clock = Clock(REQUEST_DAY)
    runtime = build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "o" * 40, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        engine,
        channels={
            "email": SmtpChannel(
                "127.0.0.1", sink.port, sender_address="send.improvement@example.org", timeout=2
            )
        },
        clock=clock,
        sleep=clock.advance,
    )
    tick(runtime, clock.now)
    runtime.close()
    with Session(engine) as s:
        dead = s.exec(select(Delivery).where(Delivery.key == TEAMS_KEY)).one()
    assert dead.state == "dead" and dead.id is not None
    clock.advance(3 * 3600)
    yield Chased(engine, clock, dead.id)


def _app(chased: Chased) -> object:
    return create_app(
        engine=chased.engine,
        secret=SECRET,
        clock=chased.clock,
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )


def _client(chased: Chased, role: Role = Role.ADMIN) -> TestClient:
    client = TestClient(_app(chased), base_url=BASE)  # type: ignore[arg-type]
    email, name = ADMIN if role == Role.ADMIN else ("bea.viewer@example.org", "Bea Viewer")
    token = session_token(chased.engine, email=email, name=name, role=role, now=chased.clock())
    client.cookies.set(COOKIE, token)
    return client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def _state(engine: Engine, delivery_id: int) -> tuple[str, int]:
    with Session(engine) as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        return row.state, row.attempts


def test_it_lists_the_plans_messages_by_state_with_their_reasons(chased: Chased) -> None:
    with _client(chased) as client:
        page = client.get("/outbox")
        assert page.status_code == 200
        html = page.text
        assert "<strong>1</strong> not delivered." in html
        assert "No message is waiting to go." in html
        # the 13 requests and the board's 3 invitations to its advisers; HP's Teams copy died
        assert "Not delivered (1)" in html and "Sent (16)" in html and "All (17)" in html
        dead = client.get("/outbox?state=dead").text
        assert "no &#39;teams&#39; channel is configured; see docs/chasing.md" in dead
        assert "Hester Pengelly" in dead and "Aisha Pendleford" not in dead
        sent = client.get("/outbox?state=sent").text
        assert "Aisha Pendleford" in sent and "Send again" not in sent
        one = client.get(f"/outbox/{chased.dead_id}").text
        assert "Update request" in one and "hester.pengelly@example.nhs.uk" in one
        assert '<strong class="govuk-tag govuk-tag--red">Not delivered</strong>' in one
        assert "SIB meeting on 30 September 2025" in one
        assert "Update needed by Tue 23 Sep for the Local Area SEND Improvement Board" in one
        assert client.get("/outbox/999999").status_code == 404
        assert client.get("/outbox/not-a-number").status_code == 404
        home = client.get("/plan").text
        assert "1 message not delivered." in home
        assert 'href="/outbox?state=dead"' in home


def test_it_sends_a_dead_message_again_only_on_a_checked_post_and_records_who(
    chased: Chased,
) -> None:
    with _client(chased, Role.VIEWER) as viewer:
        html = viewer.get("/outbox?state=dead").text
        assert "Send again" not in html  # a viewer sees no button…
        refused = viewer.post(f"/outbox/{chased.dead_id}/retry", data={"csrf_token": _csrf(html)})
        assert refused.status_code == 403  # …and may not post either
    assert _state(chased.engine, chased.dead_id) == ("dead", 0)
    with _client(chased) as client:
        html = client.get("/outbox?state=dead").text
        assert f'aria-label="Send again message {chased.dead_id}"' in html
        assert (
            client.get(f"/outbox/{chased.dead_id}/retry").status_code == 405
        )  # GET changes nothing
        forged = client.post(f"/outbox/{chased.dead_id}/retry", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        elsewhere = client.post(
            f"/outbox/{chased.dead_id}/retry",
            data={"csrf_token": _csrf(html)},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        assert _state(chased.engine, chased.dead_id) == ("dead", 0)
        done = client.post(
            f"/outbox/{chased.dead_id}/retry",
            data={"csrf_token": _csrf(html)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/outbox?state=dead&retried={chased.dead_id}"
        banner = client.get(done.headers["location"]).text
        assert f"Message {chased.dead_id} will be sent again at the next tick" in banner
        assert _state(chased.engine, chased.dead_id) == ("pending", 0)
        again = client.post(f"/outbox/{chased.dead_id}/retry", data={"csrf_token": _csrf(html)})
        assert again.status_code == 409
        assert "only a message that was not delivered can be sent again" in again.text
        chased.clock.advance(600)
        home = client.get("/plan").text
        assert "1 message waiting to go; the oldest was queued" in home
    with Session(chased.engine) as s:
        events = [
            (e.kind, e.by, e.reason)
            for e in s.exec(select(AuditEvent).where(AuditEvent.kind == "outbox_retry"))
        ]
    assert events == [
        ("outbox_retry", f"{ADMIN[1]} <{ADMIN[0]}>", f"1 sent again: key {TEAMS_KEY!r}")
    ]


def test_health_says_how_many_are_dead_and_how_old_the_oldest_pending_is(chased: Chased) -> None:
    with TestClient(_app(chased), base_url=BASE) as client:  # type: ignore[arg-type]
        answer = client.get("/health")
        assert answer.status_code == 200
        assert answer.json() == {
            "status": "ok",
            "outbox": {"dead": 1, "pending": 0, "oldest_pending_seconds": None},
        }
        with Session(chased.engine) as s:
            row = s.get(Delivery, chased.dead_id)
            assert row is not None
            row.state, row.created_at = "pending", chased.clock() - timedelta(minutes=5)
            s.add(row)
            s.commit()
        answer = client.get("/health")
        assert answer.json()["outbox"] == {"dead": 0, "pending": 1, "oldest_pending_seconds": 300}
        assert "@" not in answer.text and PLAN not in answer.text  # counts only


def test_the_outbox_pages_pass_axe_and_a_dead_message_is_sent_again_in_chromium(
    chased: Chased, tmp_path: Path
) -> None:
    port = free_port()
    shots = tmp_path / "screenshots"
    with FormServer(_app(chased), port=port), chromium_page() as browser:  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{port}"
        token = session_token(
            chased.engine, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=chased.clock()
        )
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for path, heading in (
            ("/outbox", "Outbox"),
            ("/outbox?state=dead", "Outbox"),
            (f"/outbox/{chased.dead_id}", "Update request"),
            ("/plan", "Plan status"),
        ):
            name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
            for width in (1024, 390):
                browser.set_viewport_size({"width": width, "height": 900})
                response = browser.goto(base + path)
                assert response is not None and response.status == 200, path
                assert browser.get_by_role("heading", level=1, name=heading).is_visible()
                browser.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                assert axe_violations(browser) == [], (path, describe(axe_violations(browser)))
                page_width = browser.evaluate("document.documentElement.scrollWidth")
                assert page_width <= width, (path, width, page_width, browser.evaluate(WIDER))
        browser.set_viewport_size({"width": 1024, "height": 900})
        browser.goto(base + "/plan")
        click_and_wait(browser, browser.get_by_role("link", name="See why and send it again"))
        click_and_wait(
            browser, browser.get_by_role("button", name=f"Send again message {chased.dead_id}")
        )
        assert browser.get_by_text(f"Message {chased.dead_id} will be sent again").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "retried.png"), full_page=True)
        assert browser.errors == []
    assert _state(chased.engine, chased.dead_id) == ("pending", 0)
    print(f"screenshots in {shots}")
