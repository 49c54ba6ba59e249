"""The reply form: opened from the signed link in a request, one action saved at a time.

In-process tests drive the app with FastAPI's TestClient; the browser tests serve it with
uvicorn, send real request emails to an SMTP sink, and follow the emailed link in Chromium.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import link_for, tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from integrations.web import FormServer, create_app
from notifications.channel import Channel
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink, free_port
from workflows.plan.mapping import load_mapping
from workflows.replies.apply import NO_CHANGE
from workflows.replies.links import LinkClaims, sign_link
from workflows.store.models import Action, Delivery, Person, Reply, Risk, StatusChange

SECRET = "s" * 40
#: 09:30 in London on the day the SIB requests go out (papers deadline 23 September).
REQUEST_TIME = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)
AFTER_DEADLINE = datetime(2025, 9, 24, 9, 0, tzinfo=UTC)
AFTER_EXPIRY = datetime(2025, 10, 16, 9, 0, tzinfo=UTC)
AP_KEY = "plymouth-send-2023/request:AP:SIB:2025-09-30"
BASE = "http://testserver"


def _runtime(
    engine: Engine,
    tmp_path: Path,
    clock: Clock,
    channels: dict[str, Channel],
    config_dir: Path = ROOT / "config",
) -> Runtime:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": SECRET, "CHASER_DATA_DIR": str(tmp_path)}, config_dir=config_dir
        ),
        engine,
        channels=channels,
        clock=clock,
        sleep=clock.advance,
    )


@dataclass
class World:
    engine: Engine
    clock: Clock
    client: TestClient
    token: str  # AP's link to the SIB request
    refs: tuple[str, ...]  # the actions it asks about

    @property
    def url(self) -> str:
        return f"/r/{self.token}"

    def csrf(self) -> str:
        page = self.client.get(self.url)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        assert found is not None
        return found.group(1)

    def post(self, ref: str, fields: dict[str, str], **kwargs: Any) -> Any:
        data = {"csrf_token": self.csrf(), "intent": "save", **fields}
        return self.client.post(
            f"{self.url}/actions/{ref}", data=data, follow_redirects=False, **kwargs
        )


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    clock = Clock(REQUEST_TIME)
    runtime = _runtime(engine, tmp_path, clock, channels={})
    report = tick(runtime, clock.now, dispatch=False)
    planned = next(p for p in report.planned if p.delivery.message.key == AP_KEY)
    token = link_for(runtime, planned.chase).rsplit("/r/", 1)[1]
    app = create_app(engine=engine, secret=SECRET.encode(), clock=clock, form_url=BASE)
    with TestClient(app, base_url=BASE) as client:
        yield World(engine, clock, client, token, planned.delivery.action_refs)


def _counts(engine: Engine) -> tuple[int, int, list[tuple[str, str, Any, Any]]]:
    with Session(engine) as s:
        changes = s.exec(select(func.count()).select_from(StatusChange)).one()
        replies = s.exec(select(func.count()).select_from(Reply)).one()
        actions = [
            (a.ref, a.status_label, a.forecast_due, a.updated_at)
            for a in s.exec(select(Action).order_by(col(Action.id)))
        ]
    return changes, replies, actions


def _action(engine: Engine, ref: str) -> Action:
    with Session(engine) as s:
        return s.exec(select(Action).where(Action.ref == ref)).one()


def _form_changes(engine: Engine) -> list[StatusChange]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(StatusChange)
                .where(StatusChange.channel == "form")
                .order_by(col(StatusChange.id))
            )
        )


def _person_id(engine: Engine, code: str) -> int | None:
    with Session(engine) as s:
        return s.exec(select(Person).where(Person.code == code)).one().id


def _token(claims: LinkClaims) -> str:
    return sign_link(SECRET.encode(), claims)


def _claims(**changes: Any) -> LinkClaims:
    base = LinkClaims(
        person="AP",
        lead="AP",
        key=AP_KEY,
        meeting="SIB:2025-09-30",
        expires_at=datetime(2025, 10, 14, 22, 59, tzinfo=UTC),
    )
    return dataclasses.replace(base, **changes)


# -- opening the link --------------------------------------------------------------------------


def test_opening_the_link_shows_the_requested_actions_and_changes_nothing(world: World) -> None:
    before = _counts(world.engine)
    for _ in range(3):  # a mail scanner, a preview, the lead
        page = world.client.get(world.url)
        assert page.status_code == 200
    assert _counts(world.engine) == before
    assert '<html lang="en-GB"' in page.text
    assert page.text.count("<h1") == 1
    for ref in world.refs:
        assert f"Save update for action {ref}" in page.text
    assert "SIB meeting on 30 September 2025" in page.text
    assert "Tuesday 23 September 2025" in page.text  # the papers deadline
    assert "Complete and embedded" in page.text  # the plan's own BRAG scale, with its labels
    assert "Dec 2023" in page.text  # due dates as the plan wrote them
    assert "None</textarea>" not in page.text
    cookie = page.headers["set-cookie"]
    assert f"Path=/r/{world.token}" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()


def test_security_headers_are_on_every_page(world: World) -> None:
    for path in (world.url, "/r/nonsense", "/", "/assets/govuk-frontend.min.css", "/nowhere"):
        response = world.client.get(path)
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src" not in csp  # so no script at all (default-src 'none')
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
    assert world.client.get(world.url).headers["cache-control"] == "no-store"
    assert "<script" not in world.client.get(world.url).text


# -- saving ------------------------------------------------------------------------------------


def test_a_post_applies_one_action_and_records_who_when_and_how(world: World) -> None:
    response = world.post(
        "2.5",
        {
            "status": "Amber",
            "narrative": "Panel agreed the new criteria.",
            "evidence": "https://example.org/minutes",
            "forecast-month": "3",
            "forecast-year": "2026",
            "risks": "Recruitment of caseworkers",
            "mitigations": "Agency cover until March",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{world.url}/saved?action=2.5"

    action = _action(world.engine, "2.5")
    assert (action.status, action.status_label) == ("on_track", "Amber")
    assert (action.forecast_due, action.forecast_due_precision) == (date(2026, 3, 31), "month")
    assert action.progress == "Panel agreed the new criteria."
    [change] = _form_changes(world.engine)
    assert change.person_id == _person_id(world.engine, "AP")
    assert change.recorded_at == REQUEST_TIME
    assert change.late is False
    assert change.evidence == "https://example.org/minutes"
    assert (change.due_after, change.due_after_precision) == (date(2026, 3, 31), "month")
    with Session(world.engine) as s:
        reply = s.get(Reply, change.reply_id)
        assert reply is not None
        assert (reply.channel, reply.verdict, reply.late) == ("form", "applied", False)
        assert reply.person_id == change.person_id
        delivery = s.get(Delivery, reply.delivery_id)
        assert delivery is not None and delivery.key == AP_KEY
        assert '"narrative": "Panel agreed the new criteria."' in reply.raw
        assert "csrf" not in reply.raw
        assert reply.parsed["updates"][0]["status_label"] == "Amber"
        [risk] = s.exec(select(Risk)).all()
        assert (risk.description, risk.mitigation) == (
            "Recruitment of caseworkers",
            "Agency cover until March",
        )

    done = world.client.get(response.headers["location"])
    assert done.status_code == 200
    assert "Update saved" in done.text and "Action 2.5" in done.text
    assert "recorded as late" not in done.text


def test_each_action_saves_on_its_own(world: World) -> None:
    first, second, *rest = world.refs
    assert world.post(first, {"status": "Green", "narrative": "Done."}).status_code == 303
    assert world.post(second, {"status": "Red", "narrative": "Stalled."}).status_code == 303
    changes = _form_changes(world.engine)
    assert len(changes) == 2 and changes[0].reply_id != changes[1].reply_id
    assert _action(world.engine, first).status_label == "Green"
    assert _action(world.engine, second).status_label == "Red"
    assert all(_action(world.engine, ref).status_label == "" for ref in rest)
    # and the form stays editable: a second update to the same action is another history row
    assert world.post(first, {"status": "Blue", "narrative": "Embedded."}).status_code == 303
    assert _action(world.engine, first).embedded is True
    assert len(_form_changes(world.engine)) == 3


def test_no_change_for_one_action_or_for_all_of_them(world: World) -> None:
    response = world.post("2.5", {"intent": "no_change", "narrative": "ignored"})
    assert response.status_code == 303
    assert "the 10 actions not updated yet" in world.client.get(world.url).text
    [change] = _form_changes(world.engine)
    assert change.narrative == NO_CHANGE
    assert change.status_before == change.status_after
    assert _action(world.engine, "2.5").progress == ""

    response = world.client.post(
        f"{world.url}/no-change", data={"csrf_token": world.csrf()}, follow_redirects=False
    )
    assert response.status_code == 303
    changes = _form_changes(world.engine)
    assert len(changes) == len(world.refs)  # 2.5 was answered already: not recorded again
    answered = _action(world.engine, "2.5").id
    assert [c.action_id for c in changes].count(answered or 0) == 1
    assert len({c.reply_id for c in changes[1:]}) == 1  # one post, one reply
    done = world.client.get(response.headers["location"])
    assert "No change recorded" in done.text


def test_an_update_after_the_papers_deadline_is_accepted_and_marked_late(world: World) -> None:
    world.clock.now = AFTER_DEADLINE
    assert "recorded as late" in world.client.get(world.url).text
    response = world.post("2.5", {"status": "Amber", "narrative": "Late but here."})
    assert response.status_code == 303
    [change] = _form_changes(world.engine)
    assert change.late is True
    with Session(world.engine) as s:
        reply = s.get(Reply, change.reply_id)
        assert reply is not None and reply.late is True
    done = world.client.get(response.headers["location"]).text
    assert "Your update arrived after the papers deadline; it has been recorded as late" in done


def test_mistakes_are_shown_with_the_error_summary_and_what_was_typed(world: World) -> None:
    before = _counts(world.engine)
    response = world.post(
        "2.5",
        {
            "narrative": "",
            "evidence": "https://example.org/<b>plan</b>",
            "forecast-month": "13",
            "forecast-year": "2026",
        },
    )
    assert response.status_code == 400
    assert _counts(world.engine) == before
    page = response.text
    assert "<title>Error: " in page
    assert "There is a problem" in page
    index = world.refs.index("2.5") + 1  # field ids are a1-…, a2-… in the order shown
    for anchor, message in (
        ("status", "Select the status of action 2.5"),
        ("narrative", "Enter what has happened on action 2.5 since the last update"),
        ("forecast-month", "Revised forecast month must be a number from 1 to 12"),
    ):
        assert f'href="#a{index}-{anchor}">{message}</a>' in page
        assert f'id="a{index}-{anchor}"' in page
    assert "https://example.org/&lt;b&gt;plan&lt;/b&gt;" in page  # kept, and escaped
    assert 'value="13"' in page


def test_a_month_name_and_a_figure_with_a_comma_are_understood() -> None:
    from workflows.replies.form import MeasureField, read_action_form, read_month_year

    fuzzy, error = read_month_year("Sept", "2026")
    assert error is None and fuzzy is not None and fuzzy.display == "Sep 2026"
    assert read_month_year("", "2026")[1] is not None
    reading = read_action_form(
        "1.1",
        {"narrative": "x", "measure-4": "1,234", "measure-5": "lots"},
        scale=None,
        measures=[MeasureField(4, "Plans issued"), MeasureField(5, "Visits")],
    )
    assert [e.message for e in reading.errors] == ["Visits must be a number, like 12 or 4.5"]


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mangle", "status", "heading"),
    [
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), 400, "not valid"),
        (lambda t: "x" + t, 400, "not valid"),
        (lambda t: "not-a-token", 400, "not valid"),
        (lambda t: t[:10] + "é" + t[10:], 400, "not valid"),  # non-ASCII (was a 500)
        (lambda t: t.replace(".", ".%FF", 1), 400, "not valid"),
        (lambda t: t + "A" * 5000, 400, "not valid"),
    ],
)
def test_a_tampered_or_malformed_link_gets_a_clear_page(
    world: World, mangle: Any, status: int, heading: str
) -> None:
    bad = mangle(world.token)
    before = _counts(world.engine)
    page = world.client.get(f"/r/{bad}")
    assert page.status_code == status
    assert f"This link is {heading}" in page.text and "reply to the email" in page.text
    csrf = world.csrf()
    post = world.client.post(
        f"/r/{bad}/actions/2.5", data={"csrf_token": csrf, "status": "Red", "narrative": "x"}
    )
    assert post.status_code == status
    assert _counts(world.engine) == before


def test_an_expired_link_gets_a_clear_page_and_changes_nothing(world: World) -> None:
    csrf = world.csrf()
    world.clock.now = AFTER_EXPIRY
    before = _counts(world.engine)
    page = world.client.get(world.url)
    assert page.status_code == 410
    assert "This link has expired" in page.text and "reply to the email" in page.text
    post = world.client.post(
        f"{world.url}/actions/2.5", data={"csrf_token": csrf, "status": "Red", "narrative": "x"}
    )
    assert post.status_code == 410
    assert _counts(world.engine) == before


def test_unknown_requests_and_other_peoples_actions_are_refused(world: World) -> None:
    before = _counts(world.engine)
    unknown = _token(_claims(key="plymouth-send-2023/request:AP:SIB:2031-01-01"))
    assert world.client.get(f"/r/{unknown}").status_code == 404
    # a genuine key, but signed for someone it was not sent to
    stranger = _token(_claims(person="TC"))
    assert world.client.get(f"/r/{stranger}").status_code == 404

    assert "1.1" not in world.refs  # in the plan, but not in this request
    for ref in ("1.1", "99.9"):
        response = world.post(ref, {"status": "Red", "narrative": "Not mine."})
        assert response.status_code == 404
        assert "not part of your request" in response.text
    assert _counts(world.engine) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ],
)
def test_a_cross_site_post_is_refused(world: World, headers: dict[str, str]) -> None:
    before = _counts(world.engine)
    response = world.post("2.5", {"status": "Red", "narrative": "Forged."}, headers=headers)
    assert response.status_code == 403
    assert "could not be saved" in response.text
    assert _counts(world.engine) == before
    ok = world.post("2.5", {"status": "Red", "narrative": "Mine."}, headers={"Origin": BASE})
    assert ok.status_code == 303


def test_a_post_without_the_right_csrf_token_or_cookie_is_refused(world: World) -> None:
    csrf = world.csrf()
    before = _counts(world.engine)
    fields = {"status": "Red", "narrative": "x", "intent": "save"}
    url = f"{world.url}/actions/2.5"
    assert world.client.post(url, data=fields).status_code == 403  # no token
    assert world.client.post(url, data=fields | {"csrf_token": "0" * 64}).status_code == 403
    other = _token(_claims(expires_at=datetime(2025, 10, 15, tzinfo=UTC)))  # another link
    assert world.client.post(f"/r/{other}/no-change", data={"csrf_token": csrf}).status_code == 403
    with TestClient(world.client.app, base_url=BASE) as fresh:  # the token, but no cookie
        assert fresh.post(url, data=fields | {"csrf_token": csrf}).status_code == 403
    assert _counts(world.engine) == before


def test_logs_hold_no_tokens(world: World) -> None:
    with capture_logs() as logs:
        world.post("2.5", {"status": "Red", "narrative": "x"})
        world.client.get(f"/r/{world.token}x")
    assert logs
    text = repr(logs)
    assert world.token[:20] not in text
    assert "Aisha" not in text and "@" not in text


# -- in a real browser, from a real email -------------------------------------------------------


def _config_with_form_url(tmp_path: Path, form_url: str) -> Path:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    chasing = config / "chasing.yaml"
    text = re.sub(r"(?m)^form_url:.*$", f"form_url: {form_url}", chasing.read_text())
    chasing.write_text(text)
    return config


class CrossSitePage:
    """A page on another site (localhost vs 127.0.0.1) whose button posts to the form."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_emailed_link_opens_the_form_in_chromium_and_saves_to_the_store(
    sqlite_engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    engine = sqlite_engine
    clock = Clock(REQUEST_TIME)
    port = free_port()
    form_url = f"http://127.0.0.1:{port}"
    channels: dict[str, Channel] = {
        "email": SmtpChannel(
            sink.host, sink.port, sender_address="send.improvement@example.org", starttls=False
        )
    }
    runtime = _runtime(
        engine, tmp_path, clock, channels, config_dir=_config_with_form_url(tmp_path, form_url)
    )
    app = create_app(
        engine=engine,
        secret=runtime.secret,
        clock=clock,
        form_url=form_url,
        contact_email="send.improvement@example.org",
    )
    shots = tmp_path / "screenshots"
    with FormServer(app, port=port), chromium_page() as page:
        tick(runtime, clock.now)
        request = next(m.message for m in sink.messages if m.message["X-Chaser-Key"] == AP_KEY)
        text = request.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        found = re.search(re.escape(form_url) + r"/r/\S+", text)
        assert found is not None, text
        link = found.group(0)

        before = _counts(engine)
        page.goto(link)
        assert page.title().startswith("Update your actions")
        assert _counts(engine) == before  # opening the link changed nothing
        page.screenshot(path=str(shots / "form.png"), full_page=False)
        assert axe_violations(page) == [], describe(axe_violations(page))

        section = page.locator("section", has=page.get_by_role("heading", name="Action 2.5"))
        # a mistake first: the error summary, then put it right
        click_and_wait(page, section.get_by_role("button", name="Save update for action 2.5"))
        assert page.get_by_role("heading", name="There is a problem").is_visible()
        assert axe_violations(page) == [], describe(axe_violations(page))
        page.screenshot(path=str(shots / "errors.png"))

        section = page.locator("section", has=page.get_by_role("heading", name="Action 2.5"))
        section.get_by_label("Amber").check()
        section.get_by_label("What has happened since the last update?").fill(
            "The new panel met twice; criteria agreed."
        )
        section.get_by_label("Month").fill("4")
        section.get_by_label("Year").fill("2026")
        click_and_wait(page, section.get_by_role("button", name="Save update for action 2.5"))

        assert page.get_by_role("heading", name="Update saved").is_visible()
        page.screenshot(path=str(shots / "saved.png"), full_page=True)
        assert axe_violations(page) == [], describe(axe_violations(page))

        action = _action(engine, "2.5")
        assert action.status_label == "Amber"
        assert (action.forecast_due, action.forecast_due_precision) == (date(2026, 4, 30), "month")
        assert action.progress == "The new panel met twice; criteria agreed."
        [change] = _form_changes(engine)
        assert (change.channel, change.person_id, change.late) == (
            "form",
            _person_id(engine, "AP"),
            False,
        )
        assert change.evidence == ""  # fields left empty stay empty
        with Session(engine) as s:
            assert s.exec(select(Risk)).all() == []

        # error pages: a tampered link, and the same link once it has expired
        token = link.rsplit("/r/", 1)[1]
        response = page.goto(f"{form_url}/r/{token[:-2]}xx")
        assert response is not None and response.status == 400
        assert page.get_by_role("heading", name="This link is not valid").is_visible()
        assert axe_violations(page) == [], describe(axe_violations(page))
        page.screenshot(path=str(shots / "tampered.png"))

        # a cross-site post (another site's button) is refused and changes nothing
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.goto(link).text())
        assert csrf is not None
        evil = CrossSitePage(
            f'<!DOCTYPE html><html lang="en"><title>x</title><form method="post" '
            f'action="{link}/actions/2.5"><input type="hidden" name="csrf_token" '
            f'value="{csrf.group(1)}"><input type="hidden" name="status" value="Red">'
            '<input type="hidden" name="narrative" value="forged"><button>Go</button></form>'
        )
        try:
            before = _counts(engine)
            page.goto(evil.url)
            with page.expect_navigation():
                page.get_by_role("button", name="Go").click()
            assert page.get_by_role("heading", name="Your update could not be saved").is_visible()
            assert _counts(engine) == before
        finally:
            evil.close()

        clock.now = AFTER_EXPIRY
        response = page.goto(link)
        assert response is not None and response.status == 410
        assert page.get_by_role("heading", name="This link has expired").is_visible()
        assert axe_violations(page) == [], describe(axe_violations(page))
        page.screenshot(path=str(shots / "expired.png"))
        # nothing blocked by the Content-Security-Policy, no missing assets
        unexpected = [e for e in page.errors if "status of 4" not in e]
        assert unexpected == []


def test_the_teams_cards_link_opens_the_same_form(world: World) -> None:
    # someone chased on Teams only has just the ":teams" delivery; the card links the same form
    with Session(world.engine) as s:
        delivery = s.exec(select(Delivery).where(Delivery.key == AP_KEY)).one()
        delivery.key = f"{AP_KEY}:teams"
        s.add(delivery)
        s.commit()
    assert world.client.get(world.url).status_code == 200
    assert world.post("2.5", {"status": "Red", "narrative": "Stuck."}).status_code == 303


def test_an_actions_impact_measures_are_asked_for_and_their_figures_kept(world: World) -> None:
    from workflows.store.models import Measure, MeasureReading, Plan

    with Session(world.engine) as s:
        plan = s.exec(select(Plan)).one()
        action = s.exec(select(Action).where(Action.ref == "2.5")).one()
        s.add(
            Measure(
                plan_id=plan.id,  # type: ignore[arg-type]
                action_id=action.id,
                name="Children waiting over 18 weeks",
                unit="children",
                baseline=120,
                target=40,
                higher_is_better=False,
            )
        )
        s.commit()
        measure_id = s.exec(select(Measure)).one().id
    page = world.client.get(world.url)
    assert "Children waiting over 18 weeks" in page.text
    assert f'name="measure-{measure_id}"' in page.text
    refused = world.post("2.5", {"status": "Amber", f"measure-{measure_id}": "lots"})
    assert refused.status_code == 400 and "must be a number" in refused.text
    saved = world.post(
        "2.5", {"status": "Amber", "narrative": "Clinics added.", f"measure-{measure_id}": "96"}
    )
    assert saved.status_code == 303
    with Session(world.engine) as s:
        (reading,) = s.exec(select(MeasureReading)).all()
    assert (reading.measure_id, reading.value, reading.channel) == (measure_id, 96.0, "form")
    assert reading.person_id == _person_id(world.engine, "AP")
