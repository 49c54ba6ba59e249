"""The admin's cycles page (issue 19, item 1): cycles.yaml edited in a form and as YAML,
validated as ``chaser cycles validate`` validates it with each error beside its field, a
12-month preview with papers deadlines, chase days and bank holidays before saving, a save that
keeps the file's comments and the previous version (who, when, a diff), a version check when
two admins save, and the running service picking the saved file up."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.config_reload import CyclesReloader
from chaser.importing import import_people, import_plan
from integrations.web import FormServer, create_app
from integrations.web.admin_cycles import PlanConfigFiles
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import free_port
from tests.signin import COOKIE, TEST_SIGNIN, session_token
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import MeetingStatus, meetings
from workflows.plan.mapping import load_mapping
from workflows.store.admin_models import ConfigVersion
from workflows.store.models import AuditEvent, Role

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
#: Monday 1 September 2025, in the shipped calendar's time.
WHEN = datetime(2025, 9, 1, 9, 0, tzinfo=UTC)
ADMIN = ("ann.admin@example.org", "Ann Admin")
OTHER = ("bea.admin@example.org", "Bea Admin")


@pytest.fixture
def store(engine: Engine) -> Engine:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return engine


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("cycles.yaml", "chasing.yaml", "digest.yaml"):
        shutil.copy(ROOT / "config" / name, folder / name)
    return folder


def _app(engine: Engine, config: Path) -> object:
    return create_app(
        engine=engine,
        secret=b"c" * 40,
        clock=Clock(WHEN),
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
        config_files={
            PLAN: PlanConfigFiles(
                cycles=config / "cycles.yaml",
                chasing=config / "chasing.yaml",
                digest=config / "digest.yaml",
            )
        },
    )


def _client(
    engine: Engine, config: Path, role: Role = Role.ADMIN, who: tuple[str, str] = ADMIN
) -> TestClient:
    client = TestClient(_app(engine, config), base_url=BASE)  # type: ignore[arg-type]
    email, name = who if role == Role.ADMIN else (f"{role}@example.org", str(role).title())
    client.cookies.set(COOKIE, session_token(engine, email=email, name=name, role=role, now=WHEN))
    return client


def _form(html: str) -> dict[str, str]:
    """The hidden fields every form of the page carries (CSRF token, sha, draft)."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    sha = re.search(r'name="sha" value="([0-9a-f]*)"', html)
    draft = re.search(r'name="draft" value="([^"]*)"', html)
    assert csrf and sha and draft
    return {"csrf_token": csrf.group(1), "sha": sha.group(1), "draft": unescape(draft.group(1))}


def _row(html: str, key: str) -> str:
    """The preview table's row of one meeting (``SIB:2025-09-30``)."""
    marker = f'id="meeting-{key.replace(":", "-")}"'
    assert marker in html, key
    return html.split(marker, 1)[1].split("</tr>", 1)[0]


def test_it_shows_the_cycles_page_only_to_admins_and_the_nav_link_only_to_them(
    store: Engine, config: Path
) -> None:
    for role in (Role.VIEWER, Role.SECRETARY):
        with _client(store, config, role) as client:
            assert client.get("/cycles").status_code == 403
            plan_page = client.get("/plan").text
            assert 'href="/cycles"' not in plan_page and 'href="/people"' not in plan_page
    with _client(store, config) as client:
        page = client.get("/cycles")
        assert page.status_code == 200
        assert 'href="/cycles"' in page.text and 'href="/people"' in page.text


def test_it_previews_twelve_months_with_papers_deadlines_chase_days_and_bank_holidays(
    store: Engine, config: Path
) -> None:
    with _client(store, config) as client:
        html = client.get("/cycles").text
    # The board of 30 Sep 2025: papers 5 working days before (Tue 23 Sep); the ladder of the
    # shipped chasing.yaml counts from the deadline; the digest from the meeting.
    row = _row(html, "SIB:2025-09-30")
    assert "SIB Tue 30 Sep 2025, 10:00" in row
    assert "Tue 23 Sep 2025" in row  # papers deadline
    for step in ("Request:", "Reminder:", "Final reminder:", "Escalation:", "Digest:"):
        assert step in row
    # A moved meeting shows as moved, with its note.
    moved = _row(html, "SIB:2025-12-23")
    assert "Tue 16 Dec 2025" in moved and "Moved" in moved
    # Bank holidays of the coming year are listed, and days falling on one are marked.
    assert "Christmas Day Thu 25 Dec 2025" in unescape(html)
    assert "Good Friday" in html
    # Twelve months ahead, and not further.
    assert 'id="meeting-SIB-2026-07-21"' in html  # the last board before 31 Aug 2026
    assert 'id="meeting-SIB-2026-09-01"' not in html


def test_it_moves_a_meeting_and_adds_a_recess_previewing_before_saving_with_comments_kept(
    store: Engine, config: Path
) -> None:
    path = config / "cycles.yaml"
    before = path.read_text()
    with _client(store, config) as client:
        fields = _form(client.get("/cycles").text)
        moved = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "exception",
                "group": "SIB",
                "kind": "move",
                "slot": "2025-11-11",
                "moved_to": "2025-11-13",
                "note": "Chair at a conference",
            },
        )
        assert moved.status_code == 200, moved.text
        assert "Not saved yet" in moved.text
        row = _row(moved.text, "SIB:2025-11-11")
        assert "Thu 13 Nov 2025" in row and "Moved" in row and "Chair at a conference" in row
        assert path.read_text() == before  # a preview writes nothing
        fields = _form(moved.text)
        recess = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "recess",
                "recess_name": "Pre-election period",
                "recess_from": "2026-04-13",
                "recess_to": "2026-05-07",
                "recess_groups": "sib",
            },
        )
        assert recess.status_code == 200, recess.text
        cancelled = _row(recess.text, "SIB:2026-04-28")
        assert "Cancelled" in cancelled and "Pre-election period" in cancelled
        assert "Not chased: cancelled" in cancelled
        fields = _form(recess.text)
        saved = client.post("/cycles/save", data=fields, follow_redirects=False)
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        assert "cycles.yaml was saved" in page
        assert "Ann Admin &lt;ann.admin@example.org&gt;" in page  # the history names the admin
    after = path.read_text()
    # Every comment of the admin's file is still there; only the two changes were added.
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [
        line for line in after.splitlines() if line.lstrip().startswith("#")
    ]
    assert "      - slot: 2025-11-11\n        moved_to: 2025-11-13\n" in after
    assert "  - name: Pre-election period\n    from: 2026-04-13\n    to: 2026-05-07\n" in after
    config_now = load_cycles(path)
    sib = [
        m for m in meetings(config_now, WHEN.date(), WHEN.date().replace(year=2026), groups=["SIB"])
    ]
    assert any(
        m.slot.isoformat() == "2025-11-11" and m.date.isoformat() == "2025-11-13" for m in sib
    )
    with Session(store) as session:
        version = session.exec(select(ConfigVersion)).one()
        assert version.saved_by == "Ann Admin <ann.admin@example.org>"
        assert version.previous_text == before
        assert "+        moved_to: 2025-11-13" in version.diff
        assert "+  - name: Pre-election period" in version.diff
        event = session.exec(select(AuditEvent).where(AuditEvent.kind == "cycles_changed")).one()
        assert event.by == "Ann Admin <ann.admin@example.org>"
    with _client(store, config) as client:
        shown = client.get(f"/cycles/versions/{version.id}").text
        assert "+        moved_to: 2025-11-13" in unescape(shown)


def test_it_shows_each_error_beside_its_field_and_saves_nothing(
    store: Engine, config: Path
) -> None:
    path = config / "cycles.yaml"
    before = path.read_text()
    with _client(store, config) as client:
        fields = _form(client.get("/cycles").text)
        not_a_date = client.post(
            "/cycles/preview",
            data={**fields, "op": "exception", "group": "SIB", "kind": "move", "slot": "11/11/25"},
        )
        assert not_a_date.status_code == 400
        assert 'id="slot-error"' in not_a_date.text
        assert "must be a date written YYYY-MM-DD" in not_a_date.text
        not_a_slot = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "exception",
                "group": "SIB",
                "kind": "move",
                "slot": "2025-11-12",
                "moved_to": "2025-11-13",
            },
        )
        assert not_a_slot.status_code == 400
        error = not_a_slot.text.split('id="slot-error"', 1)[1].split("</p>", 1)[0]
        # The validator's own words, as `chaser cycles validate` prints them.
        assert "2025-11-12 is not a scheduled SIB meeting" in error and "2025-11-11" in error
        assert 'href="#slot"' in not_a_slot.text  # the summary links to the field
        recess = client.post(
            "/cycles/preview",
            data={**fields, "op": "recess", "recess_name": "", "recess_from": "2026-04-13"},
        )
        assert recess.status_code == 400
        assert 'id="recess_name-error"' in recess.text and 'id="recess_to-error"' in recess.text
        invitees = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "people",
                "group": "SIB",
                "members": "Chief Executive",
                "mandatory_invitees": "Imogen Castellane, DfE SEND adviser",
            },
        )
        assert invitees.status_code == 400
        assert 'id="mandatory_invitees-SIB-error"' in invitees.text
        bad_yaml = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "yaml",
                "draft": fields["draft"].replace("cadence: Six weekly", "cadence: six weakly", 1),
            },
        )
        assert bad_yaml.status_code == 400
        assert 'id="yaml-error"' in bad_yaml.text
        assert "cadence &#39;six weakly&#39; is not understood" in bad_yaml.text
        # Saving an invalid draft directly is refused too.
        refused = client.post(
            "/cycles/save",
            data={
                **fields,
                "draft": fields["draft"].replace("cadence: Six weekly", "cadence: six weakly", 1),
            },
        )
        assert refused.status_code == 400
        # No CSRF token: refused.
        assert (
            client.post("/cycles/save", data={"sha": fields["sha"], "draft": "x"}).status_code
            == 403
        )
    assert path.read_text() == before
    with Session(store) as session:
        assert session.exec(select(ConfigVersion)).first() is None


def test_it_edits_a_groups_members_and_mandatory_invitees(store: Engine, config: Path) -> None:
    path = config / "cycles.yaml"
    with _client(store, config) as client:
        html = client.get("/cycles").text
        assert "Imogen Castellane, DfE SEND adviser, imogen.castellane@example.gov.uk" in html
        fields = _form(html)
        changed = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "people",
                "group": "SIB",
                "members": "Chief Executive\n"
                "Zia Zennor, Parent carer forum, zia.zennor@example.org",
                "mandatory_invitees": "Imogen Castellane, DfE SEND adviser, "
                "imogen.castellane@example.gov.uk\n"
                "Nia Noor, NHS England adviser, nia.noor@example.org",
            },
        )
        assert changed.status_code == 200, changed.text
        saved = client.post("/cycles/save", data=_form(changed.text), follow_redirects=False)
        assert saved.status_code == 303
    sib = load_cycles(path).group("SIB")
    assert [p.email for p in sib.mandatory_invitees] == [
        "imogen.castellane@example.gov.uk",
        "nia.noor@example.org",
    ]
    assert [p.name for p in sib.members][-1] == "Zia Zennor"


def test_it_tells_the_second_admin_the_file_changed_and_loses_nothing(
    store: Engine, config: Path
) -> None:
    path = config / "cycles.yaml"
    with _client(store, config) as ann, _client(store, config, who=OTHER) as bea:
        ann_fields = _form(ann.get("/cycles").text)
        bea_fields = _form(bea.get("/cycles").text)
        ann_draft = ann.post(
            "/cycles/preview",
            data={
                **ann_fields,
                "op": "exception",
                "group": "SIB",
                "kind": "cancel",
                "slot": "2026-02-03",
            },
        )
        bea_draft = bea.post(
            "/cycles/preview",
            data={
                **bea_fields,
                "op": "recess",
                "recess_name": "Pre-election period",
                "recess_from": "2026-04-13",
                "recess_to": "2026-05-07",
            },
        )
        assert (
            ann.post("/cycles/save", data=_form(ann_draft.text), follow_redirects=False).status_code
            == 303
        )
        after_ann = path.read_text()
        conflict = bea.post("/cycles/save", data=_form(bea_draft.text))
        assert conflict.status_code == 409
        text = unescape(conflict.text)
        assert "Your changes were not saved" in text
        assert "Ann Admin <ann.admin@example.org> saved it on" in text
        assert path.read_text() == after_ann  # Ann's save stands
        # Bea's draft is on the page, whole, with what differs from the file now.
        kept = _form(conflict.text)
        assert "Pre-election period" in kept["draft"]
        assert "+  - name: Pre-election period" in text
        assert "-        cancelled: true" in text  # Ann's cancellation, which Bea's lacks
        # Bea can apply her change again on top of Ann's, and save that.
        fresh = _form(bea.get("/cycles").text)
        redo = bea.post(
            "/cycles/preview",
            data={
                **fresh,
                "op": "recess",
                "recess_name": "Pre-election period",
                "recess_from": "2026-04-13",
                "recess_to": "2026-05-07",
            },
        )
        assert (
            bea.post("/cycles/save", data=_form(redo.text), follow_redirects=False).status_code
            == 303
        )
    final = path.read_text()
    assert "Pre-election period" in final and "slot: 2026-02-03\n        cancelled: true" in final
    with Session(store) as session:
        assert [v.saved_by.split(" <")[0] for v in session.exec(select(ConfigVersion))] == [
            "Ann Admin",
            "Bea Admin",
        ]


def test_it_makes_the_running_service_use_the_saved_file(store: Engine, config: Path) -> None:
    path = config / "cycles.yaml"
    reloader = CyclesReloader(path)  # what chaser run's tick polls
    running = reloader.poll(WHEN)

    def board(slot: str) -> MeetingStatus:
        found = meetings(
            reloader.poll(WHEN),
            WHEN.date(),
            WHEN.date().replace(year=2026),
            groups=["SIB"],
            include_cancelled=True,
        )
        return next(m.status for m in found if m.slot.isoformat() == slot)

    assert board("2026-02-03") is MeetingStatus.SCHEDULED
    with _client(store, config) as client:
        fields = _form(client.get("/cycles").text)
        draft = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "exception",
                "group": "SIB",
                "kind": "cancel",
                "slot": "2026-02-03",
            },
        )
        assert (
            client.post("/cycles/save", data=_form(draft.text), follow_redirects=False).status_code
            == 303
        )
    assert reloader.poll(WHEN) is not running
    assert board("2026-02-03") is MeetingStatus.CANCELLED


def test_the_cycles_page_passes_axe_and_moves_a_meeting_in_chromium(
    store: Engine, config: Path, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    token = session_token(store, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=WHEN)
    with FormServer(_app(store, config), port=port), chromium_page() as browser:  # type: ignore[arg-type]
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for width in (390, 1280):
            browser.set_viewport_size({"width": width, "height": 900})
            assert browser.goto(base + "/cycles").status == 200
            assert browser.get_by_role("heading", level=1, name="Meeting cycles").is_visible()
            browser.screenshot(path=str(shots / f"cycles-{width}.png"), full_page=False)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
        browser.set_viewport_size({"width": 1280, "height": 900})
        browser.get_by_label("Group", exact=True).select_option("SIB")
        browser.get_by_label("Meeting date").fill("2025-11-12")
        browser.get_by_label("New date (if it moves)").fill("2025-11-13")
        click_and_wait(browser, browser.get_by_role("button", name="Preview the meeting change"))
        assert browser.get_by_role("heading", name="There is a problem").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "cycles-error.png"), full_page=False)
        browser.get_by_label("Meeting date").fill("2025-11-11")
        click_and_wait(browser, browser.get_by_role("button", name="Preview the meeting change"))
        assert browser.get_by_text("Not saved yet").is_visible()
        row = browser.locator("#meeting-SIB-2025-11-11")
        assert "Thu 13 Nov 2025" in row.inner_text()
        browser.screenshot(path=str(shots / "cycles-preview.png"), full_page=False)
        browser.set_viewport_size({"width": 390, "height": 900})
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "cycles-preview-390.png"), full_page=False)
        click_and_wait(browser, browser.get_by_role("button", name="Save cycles.yaml"))
        assert browser.get_by_text("cycles.yaml was saved").is_visible()
        assert browser.get_by_text("Ann Admin <ann.admin@example.org>").first.is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        click_and_wait(
            browser, browser.get_by_role("link", name=re.compile("See the change")).first
        )
        assert browser.get_by_role(
            "heading", level=1, name="A saved change to cycles.yaml"
        ).is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "cycles-version-390.png"), full_page=False)
    assert "moved_to: 2025-11-13" in (config / "cycles.yaml").read_text()
    print(f"screenshots in {shots}")


def test_it_is_served_by_the_service_and_the_service_runs_on_what_was_saved(
    store: Engine, tmp_path: Path
) -> None:
    from chaser.settings import Settings
    from chaser.wiring import build_runtime, web_app
    from integrations.channels.files import FileChannel

    config = tmp_path / "service-config"
    shutil.copytree(ROOT / "config", config)
    settings = Settings.from_env(
        {"CHASER_SECRET_KEY": "s" * 40, "CHASER_DATA_DIR": str(tmp_path / "data")},
        config_dir=config,
    )
    clock = Clock(WHEN)
    runtime = build_runtime(
        settings, store, channels={"email": FileChannel(tmp_path / "mail")}, clock=clock
    )
    plan = runtime.plans[PLAN]

    def status(slot: str) -> MeetingStatus:
        found = meetings(
            plan.cycles(clock.now),
            WHEN.date(),
            WHEN.date().replace(year=2026),
            groups=["SIB"],
            include_cancelled=True,
        )
        return next(m.status for m in found if m.slot.isoformat() == slot)

    assert status("2026-03-17") is MeetingStatus.SCHEDULED
    app = web_app(runtime, settings, bind_host="127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        client.cookies.set(
            COOKIE,
            session_token(store, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=WHEN),
        )
        fields = _form(client.get("/cycles").text)
        draft = client.post(
            "/cycles/preview",
            data={
                **fields,
                "op": "exception",
                "group": "SIB",
                "kind": "cancel",
                "slot": "2026-03-17",
            },
        )
        assert draft.status_code == 200, draft.text
        saved = client.post("/cycles/save", data=_form(draft.text), follow_redirects=False)
        assert saved.status_code == 303
    assert "slot: 2026-03-17\n        cancelled: true" in (config / "cycles.yaml").read_text()
    assert status("2026-03-17") is MeetingStatus.CANCELLED  # the service's next look


def test_it_removes_a_moved_meeting_and_a_recess(store: Engine, config: Path) -> None:
    with _client(store, config) as client:
        html = client.get("/cycles").text
        assert "Moved" in _row(html, "SIB:2025-12-23")
        fields = _form(html)
        back = client.post(
            "/cycles/preview",
            data={**fields, "op": "remove_exception", "group": "SIB", "slot": "2025-12-23"},
        )
        assert back.status_code == 200, back.text
        row = _row(back.text, "SIB:2025-12-23")
        assert "Tue 23 Dec 2025" in row and "Moved" not in row
        no_recess = client.post(
            "/cycles/preview",
            data={
                **_form(back.text),
                "op": "remove_recess",
                "index": "0",
                "recess_name": "August recess",
            },
        )
        assert no_recess.status_code == 200, no_recess.text
        draft = _form(no_recess.text)["draft"]
        assert "August recess" not in draft and "moved_to: 2025-12-16" not in draft
        stale = client.post(
            "/cycles/preview",
            data={
                **_form(no_recess.text),
                "op": "remove_recess",
                "index": "0",
                "recess_name": "August recess",
            },
        )
        assert stale.status_code == 400 and "no longer in the file" in stale.text


def test_it_edits_the_cycles_file_of_the_plan_being_shown(store: Engine, tmp_path: Path) -> None:
    from integrations.web.secretary import PlanSite

    files = {}
    for code, group in ((PLAN, "SIB"), ("torbay-send", "TSB")):
        folder = tmp_path / code
        folder.mkdir()
        text = (ROOT / "config" / "cycles.yaml").read_text()
        if group != "SIB":
            text = (
                text.replace("code: SIB\n", f"code: {group}\n", 1)
                .replace("alternates_with: SIB", f"alternates_with: {group}")
                .replace("reports_to: SIB", f"reports_to: {group}")
            )
        (folder / "cycles.yaml").write_text(text)
        files[code] = PlanConfigFiles(cycles=folder / "cycles.yaml")
    app = create_app(
        engine=store,
        secret=b"c" * 40,
        clock=Clock(WHEN),
        form_url=BASE,
        plans=[PlanSite(PLAN), PlanSite("torbay-send")],
        signin=TEST_SIGNIN,
        config_files=files,
    )
    with TestClient(app, base_url=BASE) as client:
        client.cookies.set(
            COOKIE,
            session_token(store, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=WHEN),
        )
        other = client.get("/cycles?plan=torbay-send")
        assert other.status_code == 200, other.text
        assert 'id="meeting-TSB-2025-09-30"' in other.text
        assert 'id="meeting-SIB-2025-09-30"' not in other.text
        fields = _form(other.text)
        draft = client.post(
            "/cycles/preview?plan=torbay-send",
            data={
                **fields,
                "op": "exception",
                "group": "TSB",
                "kind": "cancel",
                "slot": "2026-02-03",
            },
        )
        assert draft.status_code == 200, draft.text
        saved = client.post(
            "/cycles/save?plan=torbay-send", data=_form(draft.text), follow_redirects=False
        )
        assert saved.status_code == 303 and "plan=torbay-send" in saved.headers["location"]
    assert "slot: 2026-02-03\n        cancelled: true" in files["torbay-send"].cycles.read_text()
    assert "2026-02-03\n        cancelled" not in files[PLAN].cycles.read_text()
    with Session(store) as session:
        assert [v.plan_code for v in session.exec(select(ConfigVersion))] == ["torbay-send"]
