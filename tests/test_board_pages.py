"""The board's records on the action page (issue 17): a secretary records a completion date the
board agreed (meeting and reason) and marks a milestone done; both are kept under the signed-in
name, shown with the original baseline beside the current one, and refused, saying why, for bad
input, a viewer or a forged post. In Chromium the page passes axe at desktop and phone widths."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.importing import import_people, import_plan
from integrations.web import FormServer, create_app
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import free_port
from tests.signin import COOKIE, SECRETARY_LABEL, TEST_SIGNIN, session_token, sign_in
from workflows.board.baselines import find_action
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import Meeting, meetings
from workflows.plan.mapping import load_mapping
from workflows.store.models import AuditEvent, Milestone, Role

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
SECRET = b"b" * 40
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
IMPORTED = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
AFTER_THE_BOARD = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)  # the day after SIB of 30 Sep


def _meetings(now: datetime) -> Sequence[Meeting]:
    today = now.date()
    return meetings(CYCLES, today - timedelta(days=60), today + timedelta(days=30), groups=["SIB"])


@dataclass
class Board:
    engine: Engine
    clock: Clock

    def app(self) -> Any:
        return create_app(
            engine=self.engine,
            secret=SECRET,
            clock=self.clock,
            form_url=BASE,
            plan_code=PLAN,
            meetings=_meetings,
            signin=TEST_SIGNIN,
        )


@pytest.fixture
def board(engine: Engine) -> Iterator[Board]:
    import_people(engine, PEOPLE_CSV, now=IMPORTED)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=IMPORTED)
    yield Board(engine, Clock(AFTER_THE_BOARD))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_it_records_a_new_baseline_under_the_signed_in_name_and_shows_both(board: Board) -> None:
    with TestClient(board.app(), base_url=BASE) as client:
        sign_in(client, board.engine, now=board.clock())
        page = client.get("/actions/2.2").text
        assert "as imported: the board has not agreed another." in _text(page)
        assert '<option value="SIB:2025-09-30">Local Area SEND Improvement Board, 30 Sep 2025' in (
            page
        )
        posted = client.post(
            "/board/baseline",
            data={
                "csrf_token": _csrf(page),
                "ref": "2.2",
                "due": "March 2026",
                "meeting": "SIB:2025-09-30",
                "reason": "Training moved to the spring term",
            },
            follow_redirects=False,
        )
        assert posted.status_code == 303
        assert posted.headers["location"] == "/actions/2.2?rebaselined=1#board"
        shown = _text(client.get(posted.headers["location"]).text)
    assert "The new baseline is recorded under your name." in shown
    assert "Due (baseline) Mar 2026" in shown
    assert "Original baseline Jun 2024 (agreed again by the board: see below)" in shown
    assert "Original Jun 2024 The plan as imported As first imported from the plan" in shown
    current = shown.split("Current Mar 2026", 1)[1][:160]
    assert current.startswith(
        " SIB on 30 Sep 2025 Training moved to the spring term Wed 1 Oct 2025, 10:00 by "
        f"{SECRETARY_LABEL} Record a new baseline"
    ), current
    assert "Baseline Jun 2024 → Mar 2026, agreed by SIB:2025-09-30" in shown  # the history
    with Session(board.engine) as s:
        action = find_action(s, PLAN, "2.2")
        audit = s.exec(select(AuditEvent).where(AuditEvent.kind == "rebaselined")).one()
    assert (action.baseline_due, action.forecast_due) == (date(2026, 3, 31), date(2026, 3, 31))
    assert audit.by == SECRETARY_LABEL


def test_it_marks_a_milestone_done_from_the_action_page(board: Board) -> None:
    with TestClient(board.app(), base_url=BASE) as client:
        sign_in(client, board.engine, now=board.clock())
        page = client.get("/actions/2.2").text
        assert '<option value="1">Milestone 1: Developed</option>' in page
        posted = client.post(
            "/board/milestone",
            data={"csrf_token": _csrf(page), "ref": "2.2", "milestone": "1"},
            follow_redirects=False,
        )
        assert posted.headers["location"] == "/actions/2.2?milestone_done=1#board"
        after = client.get(posted.headers["location"]).text
    assert '<option value="1">' not in after and '<option value="2">' in after
    assert "The milestone is marked done under your name." in after
    assert f"Milestone 1 (Developed) marked done by {SECRETARY_LABEL}." in _text(after)
    with Session(board.engine) as s:
        action = find_action(s, PLAN, "2.2")
        done = s.exec(
            select(Milestone).where(Milestone.action_id == action.id, Milestone.position == 1)
        ).one()
    assert done.complete


def test_it_refuses_bad_input_a_viewer_and_a_forged_post_changing_nothing(board: Board) -> None:
    with TestClient(board.app(), base_url=BASE) as client:
        sign_in(client, board.engine, now=board.clock())
        csrf = _csrf(client.get("/actions/2.2").text)
        bad = client.post(
            "/board/baseline",
            data={"csrf_token": csrf, "ref": "2.2", "due": "soon", "meeting": "SIB:2025-09-30",
                  "reason": "x"},
        )  # fmt: skip
        assert bad.status_code == 400
        assert "due: &#39;soon&#39; is not one completion date." in bad.text
        assert "Go back to action 2.2 and correct it." in bad.text
        none = client.post(
            "/board/milestone", data={"csrf_token": csrf, "ref": "2.2", "milestone": "9"}
        )
        assert none.status_code == 400 and "action 2.2 has no milestone 9" in none.text
        forged = client.post(
            "/board/baseline",
            data={"csrf_token": "forged", "ref": "2.2", "due": "Mar 2026",
                  "meeting": "SIB:2025-09-30", "reason": "x"},
        )  # fmt: skip
        assert forged.status_code == 403
    with TestClient(board.app(), base_url=BASE) as viewer:
        token = session_token(
            board.engine, email="bea.viewer@example.org", name="Bea Viewer", role=Role.VIEWER,
            now=board.clock(),
        )  # fmt: skip
        viewer.cookies.set(COOKIE, token)
        page = viewer.get("/actions/2.2").text
        assert "Record the new baseline" not in page and "Mark it done" not in page
        refused = viewer.post(
            "/board/baseline",
            data={"csrf_token": _csrf_or_empty(page), "ref": "2.2", "due": "Mar 2026",
                  "meeting": "SIB:2025-09-30", "reason": "x"},
        )  # fmt: skip
        assert refused.status_code == 403
    with Session(board.engine) as s:
        action = find_action(s, PLAN, "2.2")
        assert action.baseline_due == date(2024, 6, 30)
        assert not s.exec(select(AuditEvent).where(AuditEvent.kind == "rebaselined")).all()


def _csrf_or_empty(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return found.group(1) if found else ""


def test_the_action_page_with_its_board_records_passes_axe_in_chromium(
    board: Board, tmp_path: Path
) -> None:
    port = free_port()
    shots = tmp_path / "screenshots"
    with FormServer(board.app(), port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(board.engine, now=board.clock())
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        browser.set_viewport_size({"width": 1024, "height": 900})
        browser.goto(base + "/actions/2.2")
        browser.get_by_label("New completion date").fill("Mar 2026")
        browser.get_by_label("Meeting that agreed it").select_option("SIB:2025-09-30")
        browser.get_by_label("Reason, as minuted").fill("Training moved to the spring term")
        click_and_wait(browser, browser.get_by_role("button", name="Record the new baseline"))
        assert browser.get_by_text("The new baseline is recorded under your name.").is_visible()
        browser.get_by_label("Milestone", exact=True).select_option("1")
        click_and_wait(browser, browser.get_by_role("button", name="Mark it done"))
        assert browser.get_by_text("The milestone is marked done under your name.").is_visible()
        for width in (1024, 390):
            browser.set_viewport_size({"width": width, "height": 900})
            response = browser.goto(base + "/actions/2.2")
            assert response is not None and response.status == 200
            browser.locator("#board").scroll_into_view_if_needed()
            browser.screenshot(path=str(shots / f"action-{width}.png"), full_page=True)
            browser.locator("#board").screenshot(path=str(shots / f"board-{width}.png"))
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            page_width = browser.evaluate("document.documentElement.scrollWidth")
            assert page_width <= width, (width, page_width)


def test_it_records_attendance_decisions_and_a_new_action_on_the_meeting_page(
    board: Board,
) -> None:
    with TestClient(board.app(), base_url=BASE) as client:
        sign_in(client, board.engine, now=board.clock())
        listing = client.get("/board").text
        assert 'href="/board/meetings/SIB:2025-09-30"' in listing
        page = client.get("/board/meetings/SIB:2025-09-30").text
        csrf = _csrf(page)
        assert "Not recorded yet." in page and "None recorded yet." in page
        went = client.post(
            "/board/meetings/SIB:2025-09-30/attendance",
            data={"csrf_token": csrf, "present": "Morwenna Tregear\nAisha Pendleford\n",
                  "apologies": "Tobias Carnsew"},
            follow_redirects=False,
        )  # fmt: skip
        assert went.headers["location"] == "/board/meetings/SIB:2025-09-30?attendance=1"
        decided = client.post(
            "/board/meetings/SIB:2025-09-30/decision",
            data={"csrf_token": csrf, "decision": "Publish the short breaks offer by December.",
                  "ref": "2.20", "title": "Publish the short breaks offer", "owner": "AP",
                  "due": "Dec 2025"},
            follow_redirects=False,
        )  # fmt: skip
        assert decided.status_code == 303
        wrong = client.post(
            "/board/meetings/SIB:2025-09-30/decision",
            data={"csrf_token": csrf, "decision": "Another.", "ref": "2.21", "owner": "ZZ",
                  "due": "Dec 2025"},
        )  # fmt: skip
        assert wrong.status_code == 400
        assert "owner: no one has the code &#39;ZZ&#39;" in wrong.text
        assert 'href="#board-owner"' in wrong.text
        uploaded = client.post(
            "/board/meetings/SIB:2025-09-30/decisions.csv",
            data={"csrf_token": csrf},
            files={
                "file": ("decisions.csv", b"decision,ref,title,owner,due\nNoted the log.,,,,\n")
            },
            follow_redirects=False,
        )
        assert uploaded.headers["location"] == "/board/meetings/SIB:2025-09-30?csv=1"
        shown = _text(client.get(uploaded.headers["location"]).text)
        action = _text(client.get("/actions/2.20").text)
    assert "Present Morwenna Tregear, Aisha Pendleford Apologies Tobias Carnsew" in shown
    assert "Publish the short breaks offer by December. (new action 2.20 )" in shown
    assert "Noted the log." in shown and "Another." not in shown
    assert f"Set by SIB on 30 Sep 2025; added to the plan by {SECRETARY_LABEL}." in action
    with Session(board.engine) as s:
        kinds = [a.kind for a in s.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]
    assert kinds[-3:] == ["attendance_recorded", "decisions_recorded", "decisions_recorded"]


def test_the_board_pages_pass_axe_in_chromium(board: Board, tmp_path: Path) -> None:
    port = free_port()
    shots = tmp_path / "screenshots"
    with FormServer(board.app(), port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(board.engine, now=board.clock())
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        browser.goto(base + "/board/meetings/SIB:2025-09-30")
        browser.get_by_label("Decision, as minuted").fill("Publish the offer.")
        browser.get_by_label("Owner (optional)").fill("ZZ")
        click_and_wait(browser, browser.get_by_role("button", name="Save decision"))
        assert browser.get_by_role("heading", name="There is a problem").is_visible()
        for path, name in (("/board", "board"), ("/board/meetings/SIB:2025-09-30", "meeting")):
            for width in (1024, 390):
                browser.set_viewport_size({"width": width, "height": 900})
                response = browser.goto(base + path)
                assert response is not None and response.status == 200
                browser.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                assert axe_violations(browser) == [], (path, describe(axe_violations(browser)))
                assert browser.evaluate("document.documentElement.scrollWidth") <= width
