"""The meeting page and its read model when a reply waits for review, and when one escalation
lists several silent leads (issue 14, parts 6 and 7)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from integrations.web import create_app
from tests.clock import Clock
from tests.mail_servers import SmtpSink
from tests.signin import TEST_SIGNIN, sign_in
from tests.test_chase_service import PLAN, SECRET, _run_days, _runtime
from tests.test_secretary_pages import CYCLES
from workflows.calendar.meetings import Meeting, meetings
from workflows.store.models import Delivery, Person, Reply
from workflows.views.meeting_status import meeting_chase

MEETING = "SIB:2025-09-30"
BASE = "http://127.0.0.1:8080"


def _meetings(now: datetime) -> Sequence[Meeting]:
    today = now.date()
    return meetings(CYCLES, today - timedelta(days=30), today + timedelta(days=30), groups=["SIB"])


def _tc_reply_waits_for_review(engine: Engine) -> int:
    with Session(engine) as s:
        request = s.exec(
            select(Delivery).where(Delivery.key == f"{PLAN}/request:TC:{MEETING}")
        ).one()
        tc = s.exec(select(Person).where(Person.code == "TC")).one()
        reply = Reply(
            plan_id=request.plan_id,
            channel="email",
            received_at=datetime(2025, 9, 17, 10, tzinfo=UTC),
            sender=tc.email,
            person_id=tc.id,
            delivery_id=request.id,
            verdict="review",
            reason="the status of 6.1 is unclear",
        )
        s.add(reply)
        s.commit()
        assert reply.id is not None
        return reply.id


def test_it_shows_a_lead_whose_reply_waits_for_review_as_replied_awaiting_review(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    _run_days(runtime, clock, sink, date(2025, 9, 16), date(2025, 9, 17))
    reply = _tc_reply_waits_for_review(engine)
    _run_days(runtime, clock, sink, date(2025, 9, 17), date(2025, 9, 25))

    with Session(engine) as s:
        chase = meeting_chase(s, PLAN, MEETING)
    assert chase is not None
    tc = next(lead for lead in chase.leads if lead.code == "TC")
    assert tc.awaiting_review and not tc.updated_all and tc.review_replies == (reply,)
    assert all(a.awaiting_review and a.review_reply == reply for a in tc.actions)
    assert tc.messages == ()  # not reminded, not escalated
    assert "TC" not in [lead.code for lead in chase.outstanding]
    assert [lead.code for lead in chase.awaiting_review] == ["TC"]
    # Seven escalations went (one per officer and the secretary), each counted once, and each
    # shows under every silent lead it named.
    assert chase.sent("escalation") == 7
    ap = next(lead for lead in chase.leads if lead.code == "AP")
    assert sorted(m.to_code for m in ap.messages if m.kind == "escalation") == [
        "AG",
        "ND",
        "RH",
        "secretary",
    ]

    app = create_app(
        engine=engine,
        secret=SECRET.encode(),
        clock=clock,
        form_url=BASE,
        plan_code=PLAN,
        meetings=_meetings,
        signin=TEST_SIGNIN,
    )
    with TestClient(app, base_url=BASE) as client:
        sign_in(client, engine)
        html = client.get(f"/meetings/{MEETING}").text
    assert "Replied, awaiting review" in html
    assert f'href="/review#reply-{reply}">reply {reply} in the review queue</a>' in html
    row = html[html.index('id="lead-TC"') :]
    row = row[: row.index("</tr>")]
    assert "Replied, awaiting review" in row and "Outstanding" not in row
    assert "not updated" not in row
    link = f'<a class="govuk-link" href="/review#reply-{reply}">reply {reply} in the review queue'
    assert link in row  # under the lead's name
    assert re.search(r"6\.1</a>:\s+replied, awaiting review</li>", row)


def test_it_stops_counting_the_reply_once_the_secretary_has_decided(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    _run_days(runtime, clock, sink, date(2025, 9, 16), date(2025, 9, 17))
    reply = _tc_reply_waits_for_review(engine)
    with Session(engine) as s:  # rejected: nothing was applied, TC is silent again
        row = s.get(Reply, reply)
        assert row is not None
        row.verdict = "rejected"
        s.add(row)
        s.commit()
    _run_days(runtime, clock, sink, date(2025, 9, 17), date(2025, 9, 20))
    tc_email = "tobias.carnsew@example.nhs.uk"
    to_tc = [m.message["X-Chaser-Key"] for m in sink.messages if tc_email in m.rcpt_tos]
    assert to_tc == [f"{PLAN}/request:TC:{MEETING}", f"{PLAN}/reminder:TC:{MEETING}"]
    with Session(engine) as s:
        chase = meeting_chase(s, PLAN, MEETING)
    assert chase is not None
    assert "TC" in [lead.code for lead in chase.outstanding]


def test_it_tells_the_board_a_lead_replied_and_awaits_review_not_that_they_never_reported(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    _run_days(runtime, clock, sink, date(2025, 9, 16), date(2025, 9, 17))
    reply = _tc_reply_waits_for_review(engine)
    _run_days(runtime, clock, sink, date(2025, 9, 17), date(2025, 9, 27))
    (digest,) = [m for m in sink.messages if "/digest:" in m.message["X-Chaser-Key"]]
    text = digest.body("plain")
    section = text[text.index("NOT REPLIED AND ESCALATED") :]
    section = section[: section.index("CHANGES TO THE RISK REGISTER")]
    tc = next(line for line in section.splitlines() if line.startswith("Tobias Carnsew:"))
    assert tc == (
        f"Tobias Carnsew: 10 actions, replied, awaiting review (reply {reply} in the review queue)"
    )
    # Leads named in a grouped escalation are each reported as escalated.
    ap = next(line for line in section.splitlines() if line.startswith("Aisha Pendleford:"))
    assert ap.endswith(", escalated")
    html = digest.body("html")
    assert f"Replied, awaiting review (reply {reply} in the review queue)" in html


@pytest.mark.parametrize("who", ["someone_else", "spoof"])
def test_it_keeps_chasing_when_the_waiting_reply_is_not_the_leads(
    engine: Engine, tmp_path: Path, sink: SmtpSink, who: str
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    _run_days(runtime, clock, sink, date(2025, 9, 16), date(2025, 9, 17))
    with Session(engine) as s:
        request = s.exec(
            select(Delivery).where(Delivery.key == f"{PLAN}/request:TC:{MEETING}")
        ).one()
        sender = s.exec(
            select(Person).where(Person.code == ("AP" if who != "spoof" else "TC"))
        ).one()
        failed = {
            "authenticated": False,
            "by": "mx.plymouth.example.org",
            "domain": "",
            "reason": "dmarc=fail",
        }
        s.add(
            Reply(
                plan_id=request.plan_id,
                channel="email",
                received_at=datetime(2025, 9, 17, 10, tzinfo=UTC),
                sender=sender.email,
                person_id=sender.id,
                delivery_id=request.id,
                parsed={"authentication": failed} if who == "spoof" else {},
                verdict="review",
                reason="not from the request's recipient" if who != "spoof" else "spoofed",
            )
        )
        s.commit()
    _run_days(runtime, clock, sink, date(2025, 9, 17), date(2025, 9, 20))
    tc_email = "tobias.carnsew@example.nhs.uk"
    to_tc = [m.message["X-Chaser-Key"] for m in sink.messages if tc_email in m.rcpt_tos]
    assert to_tc == [f"{PLAN}/request:TC:{MEETING}", f"{PLAN}/reminder:TC:{MEETING}"]
    with Session(engine) as s:
        chase = meeting_chase(s, PLAN, MEETING)
    assert chase is not None and "TC" in [lead.code for lead in chase.outstanding]


def test_the_meeting_page_with_a_reply_awaiting_review_passes_axe_on_a_phone_and_a_desktop(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    from integrations.web import FormServer
    from tests.browser import axe_violations, chromium_page, describe
    from tests.mail_servers import free_port
    from tests.signin import COOKIE, session_token

    clock = Clock(datetime(2025, 9, 16, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    _run_days(runtime, clock, sink, date(2025, 9, 16), date(2025, 9, 17))
    reply = _tc_reply_waits_for_review(engine)
    _run_days(runtime, clock, sink, date(2025, 9, 17), date(2025, 9, 25))
    app = create_app(
        engine=engine,
        secret=SECRET.encode(),
        clock=clock,
        form_url=BASE,
        plan_code=PLAN,
        meetings=_meetings,
        signin=TEST_SIGNIN,
    )
    shots = Path(os.environ.get("CHASER_SCREENSHOTS", tmp_path))
    port = free_port()
    with FormServer(app, port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(engine, now=clock())
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for width in (1024, 390):
            browser.set_viewport_size({"width": width, "height": 900})
            response = browser.goto(f"{base}/meetings/{MEETING}")
            assert response is not None and response.status == 200
            assert browser.get_by_text("Replied, awaiting review").first.is_visible()
            browser.screenshot(path=str(shots / f"meeting-review-{width}.png"), full_page=True)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
        link = browser.get_by_role("link", name=f"reply {reply} in the review queue").first
        link.click()
        browser.wait_for_url(f"**/review#reply-{reply}")
        assert browser.locator(f"#reply-{reply}").is_visible()
