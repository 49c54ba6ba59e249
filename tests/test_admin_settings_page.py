"""The admin's chasing and digest settings pages (issue 19, item 4): chasing.yaml and
digest.yaml in a YAML box, validated as ``chaser chasing validate`` / ``chaser digest validate``
validate them with each problem's line and key beside the box, a summary of what they mean
before saving, the version check, the history with diffs under the admin's name, and the page
saying a saved change applies at the service's next tick."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.importing import import_people, import_plan
from integrations.web import FormServer, create_app
from integrations.web.admin_cycles import PlanConfigFiles
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import free_port
from tests.signin import COOKIE, TEST_SIGNIN, session_token
from workflows.chasing.config import load_chasing
from workflows.digest.config import load_digest_config
from workflows.plan.mapping import load_mapping
from workflows.store.admin_models import ConfigVersion
from workflows.store.models import AuditEvent, Role

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
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


def _fields(html: str) -> dict[str, str]:
    """The CSRF token and the sha the YAML box's form carries."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    sha = re.search(r'name="sha" value="([0-9a-f]*)"', html)
    assert csrf and sha
    return {"csrf_token": csrf.group(1), "sha": sha.group(1)}


def _save_fields(html: str) -> dict[str, str]:
    """The fields of the Save form (its draft as a hidden field)."""
    form = html.split('/save"', 1)[1].split("</form>", 1)[0]
    draft = re.search(r'name="draft" value="([^"]*)"', form)
    assert draft, "no Save button"
    return {**_fields(form), "draft": unescape(draft.group(1))}


def _summary(html: str) -> str:
    assert 'id="summary"' in html
    return unescape(re.sub(r"<[^>]+>", " ", html.split('id="summary"', 1)[1].split("</dl>")[0]))


@pytest.mark.parametrize("name", ["chasing", "digest"])
def test_it_shows_the_settings_pages_only_to_admins_and_the_nav_links_only_to_them(
    store: Engine, config: Path, name: str
) -> None:
    for role in (Role.VIEWER, Role.SECRETARY):
        with _client(store, config, role) as client:
            assert client.get(f"/settings/{name}").status_code == 403
            assert f'href="/settings/{name}"' not in client.get("/plan").text
    with _client(store, config) as client:
        page = client.get(f"/settings/{name}")
        assert page.status_code == 200
        assert f'href="/settings/{name}"' in page.text
        assert (config / f"{name}.yaml").read_text() in unescape(page.text)


def test_it_refuses_a_post_without_the_csrf_token_or_from_a_secretary(
    store: Engine, config: Path
) -> None:
    path = config / "chasing.yaml"
    before = path.read_text()
    with _client(store, config) as client:
        fields = _fields(client.get("/settings/chasing").text)
        bare = client.post(
            "/settings/chasing/save", data={"sha": fields["sha"], "draft": before + "\n"}
        )
        assert bare.status_code == 403
    with _client(store, config, Role.SECRETARY) as client:
        refused = client.post("/settings/chasing/save", data={**fields, "draft": before + "\n"})
        assert refused.status_code == 403
    assert path.read_text() == before


def test_it_summarises_the_ladder_and_the_digest_as_the_files_are(
    store: Engine, config: Path
) -> None:
    with _client(store, config) as client:
        chasing = _summary(client.get("/settings/chasing").text)
        digest = _summary(client.get("/settings/digest").text)
    # The shipped chasing.yaml: request -5, reminder -2, final 0, escalation +1.
    assert "SIB, SSDG" in chasing
    assert "5 working days before the papers deadline" in chasing
    assert "2 working days before the papers deadline" in chasing
    assert "on the day of the papers deadline" in chasing
    assert "1 working day after the papers deadline" in chasing
    assert "09:00 to 17:30 London time, working days only" in chasing
    assert "Plymouth SEND Improvement Programme <send.improvement@example.org>" in chasing
    assert "2 working days before the meeting" in digest
    assert "SIB, SSDG" in digest and "OFFICIAL" in digest


def test_it_checks_a_change_shows_what_it_means_then_saves_it_with_history_and_audit(
    store: Engine, config: Path
) -> None:
    path = config / "chasing.yaml"
    before = path.read_text()
    changed = before.replace("  reminder: -2 ", "  reminder: -3 ")
    assert changed != before
    with _client(store, config) as client:
        fields = _fields(client.get("/settings/chasing").text)
        checked = client.post("/settings/chasing/preview", data={**fields, "draft": changed})
        assert checked.status_code == 200, checked.text
        assert "Not saved yet" in checked.text
        assert "3 working days before the papers deadline" in _summary(checked.text)
        assert path.read_text() == before  # checking writes nothing
        saved = client.post(
            "/settings/chasing/save", data=_save_fields(checked.text), follow_redirects=False
        )
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        assert "chasing.yaml was saved" in page
        assert "The running service applies it at its next tick, within a minute." in page
        assert "Ann Admin &lt;ann.admin@example.org&gt;" in page  # the history names the admin
    assert path.read_text() == changed  # comments and all: the admin's text, as typed
    assert load_chasing(path).ladder.reminder == -3
    with Session(store) as session:
        version = session.exec(select(ConfigVersion)).one()
        assert (version.file, version.plan_code) == ("chasing.yaml", PLAN)
        assert version.saved_by == "Ann Admin <ann.admin@example.org>"
        assert version.previous_text == before
        assert "-  reminder: -2" in version.diff and "+  reminder: -3" in version.diff
        event = session.exec(select(AuditEvent).where(AuditEvent.kind == "chasing_changed")).one()
        assert event.by == "Ann Admin <ann.admin@example.org>"
        assert event.at.replace(tzinfo=UTC) == WHEN
    with _client(store, config) as client:
        shown = unescape(client.get(f"/settings/chasing/versions/{version.id}").text)
        assert "+  reminder: -3" in shown and "Ann Admin <ann.admin@example.org>" in shown
        # The version belongs to chasing.yaml: the digest page does not show it.
        assert client.get(f"/settings/digest/versions/{version.id}").status_code == 404


def test_it_shows_each_problem_with_its_line_and_key_beside_the_box_and_saves_nothing(
    store: Engine, config: Path
) -> None:
    chasing = config / "chasing.yaml"
    digest = config / "digest.yaml"
    chasing_before, digest_before = chasing.read_text(), digest.read_text()
    out_of_order = chasing_before.replace("  reminder: -2 ", "  reminder: -7 ")
    unknown_group = digest_before.replace("groups: [SIB, SSDG]", "groups: [SIB, XYZ]", 1)
    assert "XYZ" in unknown_group
    with _client(store, config) as client:
        fields = _fields(client.get("/settings/chasing").text)
        for url, text in (
            ("/settings/chasing/preview", out_of_order),
            ("/settings/chasing/save", out_of_order),
        ):
            refused = client.post(url, data={**fields, "draft": text})
            assert refused.status_code == 400
            beside = unescape(refused.text.split('id="yaml-error"', 1)[1].split("</div>", 1)[0])
            # The loader's own words, with the line and key, as the CLI prints them.
            line = out_of_order.splitlines().index("ladder:") + 1
            assert f"line {line}: ladder: the ladder's steps must come in order" in beside
            assert 'href="#yaml"' in refused.text  # and in the summary at the top
            assert 'action="/settings/chasing/save"' not in refused.text  # no Save button
            assert out_of_order in unescape(refused.text)  # the draft is kept in the box
        fields = _fields(client.get("/settings/digest").text)
        refused = client.post("/settings/digest/save", data={**fields, "draft": unknown_group})
        assert refused.status_code == 400
        assert "XYZ" in unescape(refused.text.split('id="yaml-error"', 1)[1].split("</div>")[0])
        broken = client.post(
            "/settings/digest/preview", data={**fields, "draft": "groups: [SIB\nsend: {"}
        )
        assert broken.status_code == 400 and "not valid YAML" in broken.text
        plan = client.post(
            "/settings/chasing/preview",
            data={**fields, "draft": chasing_before.replace(f"plan: {PLAN}", "plan: other")},
        )
        assert plan.status_code == 400 and f"keep plan: {PLAN}" in plan.text
    assert chasing.read_text() == chasing_before and digest.read_text() == digest_before
    with Session(store) as session:
        assert session.exec(select(ConfigVersion)).all() == []
        changes = select(AuditEvent).where(col(AuditEvent.kind).endswith("_changed"))
        assert session.exec(changes).all() == []


def test_it_refuses_a_stale_copy_keeps_the_draft_and_names_who_saved(
    store: Engine, config: Path
) -> None:
    path = config / "digest.yaml"
    before = path.read_text()
    ann_text = before.replace("working_days_before: 2", "working_days_before: 3")
    bea_text = before.replace("classification: OFFICIAL", "classification: OFFICIAL-SENSITIVE")
    with (
        _client(store, config) as ann,
        _client(store, config, who=OTHER) as bea,
    ):
        ann_fields = _fields(ann.get("/settings/digest").text)
        bea_fields = _fields(bea.get("/settings/digest").text)
        first = bea.post(
            "/settings/digest/save", data={**bea_fields, "draft": bea_text}, follow_redirects=False
        )
        assert first.status_code == 303
        stale = ann.post("/settings/digest/save", data={**ann_fields, "draft": ann_text})
        assert stale.status_code == 409
        page = unescape(stale.text)
        assert "digest.yaml was changed after you opened it" in page
        assert "Bea Admin <bea.admin@example.org> saved it on Mon 01 Sep 2025 at 10:00" in page
        assert ann_text in page  # her version is kept
        assert "-  classification: OFFICIAL-SENSITIVE" in page  # what differs from the file
        assert path.read_text() == bea_text
        # Saving again from the refused page replaces the file, knowingly.
        again = ann.post(
            "/settings/digest/save", data=_save_fields(stale.text), follow_redirects=False
        )
        assert again.status_code == 303
    assert path.read_text() == ann_text
    assert load_digest_config(path).send.working_days_before == 3
    with Session(store) as session:
        by = [v.saved_by for v in session.exec(select(ConfigVersion))]
    assert by == ["Bea Admin <bea.admin@example.org>", "Ann Admin <ann.admin@example.org>"]


def test_it_changes_a_file_changed_on_the_server_only_knowingly(
    store: Engine, config: Path
) -> None:
    path = config / "chasing.yaml"
    before = path.read_text()
    with _client(store, config) as client:
        fields = _fields(client.get("/settings/chasing").text)
        path.write_text(before + "# edited on the server\n")
        stale = client.post(
            "/settings/chasing/save",
            data={**fields, "draft": before.replace("on_due: true", "on_due: false")},
        )
        assert stale.status_code == 409
        assert "It was changed on the server." in stale.text
    assert path.read_text().endswith("# edited on the server\n")


def test_the_settings_pages_pass_axe_in_chromium_at_390_px_and_on_a_desktop(
    store: Engine, config: Path, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    token = session_token(store, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=WHEN)
    with FormServer(_app(store, config), port=port), chromium_page() as browser:  # type: ignore[arg-type]
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for name, title in (("chasing", "Chasing settings"), ("digest", "Digest settings")):
            for width in (390, 1280):
                browser.set_viewport_size({"width": width, "height": 900})
                assert browser.goto(f"{base}/settings/{name}").status == 200
                assert browser.get_by_role("heading", level=1, name=title).is_visible()
                browser.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                assert axe_violations(browser) == [], describe(axe_violations(browser))
                assert browser.evaluate("document.documentElement.scrollWidth") <= width
        browser.set_viewport_size({"width": 390, "height": 900})
        browser.goto(f"{base}/settings/chasing")
        box = browser.get_by_label("chasing.yaml", exact=True)
        text = box.input_value()
        box.fill(text.replace("  request: -5 ", "  request: 2 "))
        click_and_wait(browser, browser.get_by_role("button", name="Check the file"))
        browser.get_by_text("There is a problem").wait_for()
        assert browser.locator("#yaml-error").get_by_text("ladder.request").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "chasing-error-390.png"), full_page=True)
        box = browser.get_by_label("chasing.yaml", exact=True)
        box.fill(text.replace("  request: -5 ", "  request: -6 "))
        click_and_wait(browser, browser.get_by_role("button", name="Check the file"))
        browser.get_by_text("Not saved yet: check").wait_for()
        assert browser.get_by_text("6 working days before the papers deadline").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "chasing-check-390.png"), full_page=True)
        click_and_wait(browser, browser.get_by_role("button", name="Save chasing.yaml"))
        browser.get_by_text("chasing.yaml was saved").wait_for()
        assert browser.get_by_text("applies it at its next tick").first.is_visible()
        assert browser.get_by_text("Ann Admin <ann.admin@example.org>").first.is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "chasing-saved-390.png"), full_page=True)
        click_and_wait(
            browser, browser.get_by_role("link", name=re.compile("See the change")).first
        )
        browser.get_by_role("heading", level=1, name="A saved change to chasing.yaml").wait_for()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "chasing-version-390.png"), full_page=True)
    assert "request: -6" in (config / "chasing.yaml").read_text()
    shutil.rmtree("/tmp/j/shots", ignore_errors=True)
    shutil.copytree(shots, "/tmp/j/shots")
    print(f"screenshots in {shots}")


def test_it_is_served_by_the_service_whose_next_tick_runs_on_what_was_saved(
    store: Engine, tmp_path: Path
) -> None:
    from chaser.service import tick
    from chaser.settings import Settings
    from chaser.wiring import build_runtime, web_app
    from integrations.channels.files import FileChannel
    from notifications.channel import Channel

    config = tmp_path / "service-config"
    shutil.copytree(ROOT / "config", config)
    settings = Settings.from_env(
        {"CHASER_SECRET_KEY": "s" * 40, "CHASER_DATA_DIR": str(tmp_path / "data")},
        config_dir=config,
    )
    channels: dict[str, Channel] = {"email": FileChannel(tmp_path / "mail")}
    runtime = build_runtime(settings, store, channels=channels, clock=Clock(WHEN))
    assert runtime.plans[PLAN].chasing.ladder.request == -5
    before = (config / "chasing.yaml").read_text()
    with TestClient(web_app(runtime, settings, bind_host="127.0.0.1"), base_url=BASE) as client:
        client.cookies.set(
            COOKIE,
            session_token(store, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=WHEN),
        )
        fields = _fields(client.get("/settings/chasing").text)
        changed = before.replace("  request: -5 ", "  request: -4 ")
        checked = client.post("/settings/chasing/preview", data={**fields, "draft": changed})
        assert checked.status_code == 200, checked.text
        saved = client.post(
            "/settings/chasing/save", data=_save_fields(checked.text), follow_redirects=False
        )
        assert saved.status_code == 303
        assert "applies it at its next tick" in client.get(saved.headers["location"]).text
    # The running service's next tick runs on the saved ladder, as the page says.
    assert runtime.plans[PLAN].chasing.ladder.request == -5
    tick(runtime, WHEN, dispatch=False)
    assert runtime.plans[PLAN].chasing.ladder.request == -4
