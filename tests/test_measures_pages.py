"""The secretary's scorecard and risk register pages: the scorecard, one measure's history with
its chart, the register with filters, one risk's history, the XLSX export; in Chromium at a
desktop and a phone width, passing axe-core."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from integrations.web import FormServer, create_app
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.mail_servers import free_port
from tests.measures_helpers import PLAN, at, register, reply_from, scorecard, with_plan
from tests.signin import COOKIE, TEST_SIGNIN, session_token, sign_in
from workflows.measures.email import apply_emailed_figures
from workflows.risks.email import apply_emailed_reviews

SECRET = "s" * 40
BASE = "http://127.0.0.1:8080"


def _setup(engine: Engine) -> Clock:
    with_plan(engine)
    scorecard(engine, now=at(2025, 6, 2))
    register(engine, now=at(2025, 6, 2))
    ap, fo = (
        reply_from(engine, "AP", at=at(2025, 9, 16)),
        reply_from(engine, "FO", at=at(2025, 9, 17)),
    )
    with Session(engine) as s:
        s.add(ap)
        s.add(fo)
        apply_emailed_figures(s, ap, "EHCP 20-week timeliness: 46%", now=at(2025, 9, 16))
        apply_emailed_reviews(
            s,
            fo,
            "Risk R3: likelihood now 4, mitigation: extra clinics <b>now</b>",
            now=at(2025, 9, 17),
        )
        s.commit()
    return Clock(datetime(2025, 9, 26, 9, 0, tzinfo=UTC))


def _app(engine: Engine, clock: Clock):  # type: ignore[no-untyped-def]
    return create_app(
        engine=engine,
        secret=SECRET.encode(),
        clock=clock,
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    clock = _setup(engine)
    with TestClient(_app(engine, clock), base_url=BASE) as c:
        sign_in(c, engine)
        yield c


def _get(client: TestClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return str(r.text)


def test_the_scorecard_shows_each_measure_against_its_trajectory(client: TestClient) -> None:
    page = _get(client, "/scorecard")
    assert "5 measures, 1 off trajectory" in page
    row = page[page.index("M1 EHCP 20-week timeliness") :].split("</tr>")[0]
    assert "46%" in row and "Aug 2025" in row and "govuk-tag--red" in row and "Worsening" in row
    assert '<a class="govuk-link" href="/scorecard/M1">' in page
    assert 'href="/scorecard"' in page and 'href="/risks"' in page  # in the navigation


def test_a_measures_page_has_its_chart_and_every_figure_with_who_gave_it(
    client: TestClient,
) -> None:
    page = _get(client, "/scorecard/M1")
    assert '<img class="chaser-chart" src="/scorecard/M1/chart.png" alt="Line chart of' in page
    assert "Aisha Pendleford" in page and "Morwenna Tregear" in page
    assert "reply " in page and "plymouth_scorecard_2025.xlsx Q3" in page
    chart = client.get("/scorecard/M1/chart.png")
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
    assert client.get("/scorecard/M9").status_code == 404


def test_the_register_filters_by_list_band_owner_and_status(client: TestClient) -> None:
    page = _get(client, "/risks")
    assert "Escalated: 1" in page and "5 risks of 6" in page
    escalated = _get(client, "/risks?list=escalated")
    assert "1 risk of 6" in escalated and "R3 Waiting lists" in escalated and "was 12" in escalated
    assert "R1 Educational" not in _get(client, "/risks?owner=FO")
    assert "R6 Short breaks" in _get(client, "/risks?status=closed")
    assert "No risks match these filters." in _get(client, "/risks?band=Low")


def test_a_risks_page_shows_its_history_with_who_and_when(client: TestClient) -> None:
    page = _get(client, "/risks/R3")
    assert "Reviewed by Freya Odgers (email, reply" in page and "score 12 → 16" in page
    assert "Likelihood: 3 → 4" in page
    assert "extra clinics &lt;b&gt;now&lt;/b&gt;" in page  # escaped
    assert "Added by Morwenna Tregear (import" in page


def test_the_scorecard_and_register_export_to_xlsx(client: TestClient) -> None:
    r = client.get("/scorecard/export.xlsx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["Scorecard", "Figures", "Risks", "Risk history"]
    m1 = next(
        row for row in wb["Scorecard"].iter_rows(min_row=2, values_only=True) if row[0] == "M1"
    )
    assert m1[4] == 46 and m1[8] == "red"
    kinds = [
        row[2]
        for row in wb["Risk history"].iter_rows(min_row=2, values_only=True)
        if row[0] == "R3"
    ]
    assert kinds == ["created", "review"]


def test_the_scorecard_and_risk_pages_pass_axe_at_desktop_and_phone_widths(
    engine: Engine, tmp_path: Path
) -> None:
    clock = _setup(engine)
    port = free_port()
    # CHASER_SCREENSHOTS=DIR keeps the screenshots to look at
    shots = Path(os.environ.get("CHASER_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with FormServer(_app(engine, clock), port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(engine, now=clock())
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for path, heading in (
            ("/scorecard", "Scorecard"),
            ("/scorecard/M1", "EHCP 20-week timeliness (new EHCPs issued within 20 weeks)"),
            ("/risks", "Risk register"),
            ("/risks?list=escalated", "Risk register"),
            ("/risks/R3", "Waiting lists for community paediatric assessment do not come down"),
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
                assert page_width <= width, (path, width, page_width)
        # the filter form works without script
        browser.set_viewport_size({"width": 1024, "height": 900})
        browser.goto(base + "/risks")
        browser.get_by_label("List").select_option("escalated")
        click_and_wait(browser, browser.get_by_role("button", name="Show risks"))
        assert browser.get_by_text("1 risk of 6, highest score first").is_visible()
        assert browser.errors == []
