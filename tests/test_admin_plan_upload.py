"""Plan upload (issue 19, item 2): an admin uploads an edited workbook, chooses its mapping,
sees the dry run action by action (new, changed, withdrawn, forecast changes, warnings) and
only then confirms; nothing changes before; the import is recorded under the admin's name; a
file that is not a spreadsheet, too large or password-protected gets a clear message."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import import_people, import_plan
from integrations.spreadsheets import MAX_FILE_BYTES
from integrations.uploads import keep_upload, sweep_uploads
from integrations.web import FormServer, create_app
from integrations.web.admin_cycles import PlanConfigFiles
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import free_port
from tests.plan_builders import csv_rows, write_csv
from tests.signin import COOKIE, TEST_SIGNIN, session_token
from workflows.plan.mapping import load_mapping
from workflows.store.models import Action, AuditEvent, Role

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ADMIN = ("ann.admin@example.org", "Ann Admin")


@pytest.fixture
def store(engine: Engine) -> Engine:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return engine


def _app(engine: Engine, data: Path, clock: Clock | None = None) -> object:
    config = ROOT / "config"
    return create_app(
        engine=engine,
        secret=b"u" * 40,
        clock=clock or Clock(WHEN),
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
        config_files={
            PLAN: PlanConfigFiles(
                cycles=config / "cycles.yaml",
                chasing=config / "chasing.yaml",
                mappings=config / "mappings",
            )
        },
        data_dir=data,
    )


def _client(
    engine: Engine, data: Path, role: Role = Role.ADMIN, clock: Clock | None = None
) -> TestClient:
    client = TestClient(_app(engine, data, clock), base_url=BASE)  # type: ignore[arg-type]
    _sign_in(client, engine, role, clock() if clock else WHEN)
    return client


def _sign_in(client: TestClient, engine: Engine, role: Role, now: datetime) -> None:
    email, name = ADMIN if role == Role.ADMIN else (f"{role}@example.org", str(role).title())
    client.cookies.set(COOKIE, session_token(engine, email=email, name=name, role=role, now=now))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _check(
    client: TestClient, name: str, content: bytes, mapping: str = "plymouth.yaml"
) -> tuple[str, Response]:
    """Open /upload and send a workbook for its dry run: (the page's CSRF token, the answer)."""
    csrf = _csrf(client.get("/upload").text)
    checked = client.post(
        "/upload",
        data={"csrf_token": csrf, "mapping": mapping},
        files={"file": (name, content, "text/csv")},
    )
    return csrf, checked


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, name
    return unescape(found.group(1))


OUTCOMES = "Outcome statements from children, young people, parents & carers"


def _edited(tmp_path: Path) -> Path:
    """The sample plan with 1.1's completion date moved, 1.3's outcomes written, 1.2 removed
    and a new action 1.13."""
    rows = csv_rows(PLAN_CSV)
    first = next(r for r in rows if r["Ref"] == "1.1")
    first["Completion date"] = "March 2027"
    third = next(r for r in rows if r["Ref"] == "1.3")
    third[OUTCOMES] = "Families say the local offer answers their questions."
    new = {**first, "Ref": "1.13", "Actions to deliver": "Publish the new local offer pages"}
    rows = [r for r in rows if r["Ref"] != "1.2"]
    rows.insert(rows.index(first) + 1, new)
    return write_csv(tmp_path / "plan-edited.csv", rows)


def _state(engine: Engine) -> dict[str, tuple[object, ...]]:
    with Session(engine) as s:
        return {a.ref: (a.title, a.forecast_due, a.withdrawn) for a in s.exec(select(Action)).all()}


def test_it_shows_the_dry_run_per_action_and_changes_nothing_until_confirmed(
    store: Engine, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    before = _state(store)
    edited = _edited(tmp_path)
    with _client(store, data) as client:
        csrf, checked = _check(client, "plan-edited.csv", edited.read_bytes())
        assert checked.status_code == 200, checked.text
        html = unescape(checked.text)
        assert "Check the plan import" in html and "Nothing has been saved yet" in html
        new = html.split('id="change-1.13"', 1)[1].split("</tr>", 1)[0]
        assert "New" in new and "Publish the new local offer pages" in new
        gone = html.split('id="change-1.2"', 1)[1].split("</tr>", 1)[0]
        assert "Withdrawn" in gone
        moved = html.split('id="change-1.1"', 1)[1].split("</tr>", 1)[0]
        assert "Forecast change" in moved and "to 31 Mar 2027" in moved
        written = html.split('id="change-1.3"', 1)[1].split("</tr>", 1)[0]
        assert (
            "outcomes: The voice of and engagement with families of children with S… to " in written
        )
        assert "to Families say the local offer answers their questions." in written
        assert _state(store) == before  # the dry run saved nothing
        kept = list((data / "uploads").iterdir())
        assert len(kept) == 1 and kept[0].name != "plan-edited.csv"  # a random name
        done = client.post(
            "/upload/confirm",
            data={
                "csrf_token": csrf,
                "token": _hidden(checked.text, "token"),
                "suffix": _hidden(checked.text, "suffix"),
                "mapping": _hidden(checked.text, "mapping"),
                "source": _hidden(checked.text, "source"),
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        page = client.get(done.headers["location"]).text
        assert "The plan was imported: 1 new" in page
    after = _state(store)
    assert after["1.2"][2] is True and "1.13" in after
    assert str(after["1.1"][1]) == "2027-03-31"
    assert list((data / "uploads").iterdir()) == []  # the kept file is gone
    with Session(store) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.kind == "plan_imported")).one()
        assert event.by == "Ann Admin <ann.admin@example.org>"
        assert "plan-edited.csv" in event.reason


def test_it_abandons_an_upload_without_changing_anything(store: Engine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = _state(store)
    with _client(store, data) as client:
        csrf, checked = _check(client, "plan.csv", _edited(tmp_path).read_bytes(), "auto")
        assert checked.status_code == 200, checked.text
        token, suffix = _hidden(checked.text, "token"), _hidden(checked.text, "suffix")
        gone = client.post(
            "/upload/abandon",
            data={"csrf_token": csrf, "token": token, "suffix": suffix},
            follow_redirects=False,
        )
        assert gone.status_code == 303
        again = client.post(
            "/upload/confirm",
            data={"csrf_token": csrf, "token": token, "suffix": suffix, "mapping": "auto"},
        )
        assert again.status_code == 404 and "no longer here" in again.text
    assert _state(store) == before
    assert list((data / "uploads").iterdir()) == []


def test_it_explains_a_file_that_is_not_a_spreadsheet_or_password_protected(
    store: Engine, tmp_path: Path
) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    locked = tmp_path / "locked.xlsx"
    with PLAN_XLSX.open("rb") as src, locked.open("wb") as out:
        OOXMLFile(src).encrypt("s3cret", out)
    data = tmp_path / "data"
    with _client(store, data) as client:
        csrf = _csrf(client.get("/upload").text)

        def upload(name: str, content: bytes) -> str:
            response = client.post(
                "/upload",
                data={"csrf_token": csrf, "mapping": "plymouth.yaml"},
                files={"file": (name, content, "application/octet-stream")},
            )
            assert response.status_code == 400
            assert 'id="file-error"' in response.text
            return unescape(response.text)

        assert "notes.pdf is not a spreadsheet" in upload("notes.pdf", b"%PDF-1.4")
        assert "password-protected" in upload("locked.xlsx", locked.read_bytes())
        assert "plan.xlsx" in upload("plan.xlsx", b"this is not a workbook")
        huge = upload("huge.xlsx", b"\0" * (MAX_FILE_BYTES + 1))  # read no further than the limit
        assert f"huge.xlsx is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB" in huge
        wrong = client.post(
            "/upload",
            data={"csrf_token": csrf, "mapping": "torbay.yaml"},
            files={"file": ("plan.csv", PLAN_CSV.read_bytes(), "text/csv")},
        )
        assert wrong.status_code == 400 and 'id="mapping-error"' in wrong.text
        assert "choose this plan" in wrong.text
        assert client.post("/upload", files={"file": ("p.csv", b"x")}).status_code == 403
    assert not data.exists() or list((data / "uploads").iterdir()) == []
    with _client(store, data, Role.SECRETARY) as client:
        assert client.get("/upload").status_code == 403


def test_the_upload_pages_pass_axe_and_import_in_chromium(store: Engine, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    edited = _edited(tmp_path)
    token = session_token(store, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=WHEN)
    with FormServer(_app(store, tmp_path / "data"), port=port), chromium_page() as browser:  # type: ignore[arg-type]
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for width in (390, 1280):
            browser.set_viewport_size({"width": width, "height": 900})
            browser.goto(base + "/upload")
            browser.screenshot(path=str(shots / f"upload-{width}.png"), full_page=True)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.get_by_label("The plan workbook").set_input_files(str(edited))
        click_and_wait(browser, browser.get_by_role("button", name="Check the workbook"))
        assert browser.get_by_role("heading", level=1, name="Check the plan import").is_visible()
        for width in (390, 1280):
            browser.set_viewport_size({"width": width, "height": 900})
            browser.screenshot(path=str(shots / f"upload-check-{width}.png"), full_page=False)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
        click_and_wait(browser, browser.get_by_role("button", name="Import the plan"))
        assert browser.get_by_text("The plan was imported").is_visible()
    assert "1.13" in _state(store)
    print(f"screenshots in {shots}")


def test_it_deletes_an_upload_left_unconfirmed_and_refuses_its_old_dry_run(
    store: Engine, tmp_path: Path
) -> None:
    # The admin checks a workbook and closes the tab. A workbook names staff: it must not stay
    # in the data directory, and a day later its dry run no longer says what an import would do.
    data, clock = tmp_path / "data", Clock(WHEN)
    before = _state(store)
    with _client(store, data, clock=clock) as client:
        _, checked = _check(client, "plan-edited.csv", _edited(tmp_path).read_bytes())
        assert checked.status_code == 200, checked.text
        fields = {k: _hidden(checked.text, k) for k in ("token", "suffix", "mapping", "source")}
        (left,) = (data / "uploads").iterdir()
        clock.advance(23 * 3600)
        assert sweep_uploads(data / "uploads", clock()) == 0 and left.is_file()  # still waiting
        clock.advance(2 * 3600)
        _sign_in(client, store, Role.ADMIN, clock())
        csrf = _csrf(client.get("/upload").text)
        late = client.post("/upload/confirm", data={"csrf_token": csrf, **fields})
        assert late.status_code == 404
        assert "An upload waits 24 hours to be imported" in unescape(late.text)
    assert not left.exists()
    assert _state(store) == before  # nothing imported


def test_it_clears_uploads_older_than_a_day_and_keeps_newer_ones(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    old, new = uploads / "a.xlsx", uploads / "b.csv"
    keep_upload(old, b"old", WHEN - timedelta(hours=25))
    keep_upload(new, b"new", WHEN - timedelta(hours=1))
    (uploads / "notes.txt").write_text("not an upload")
    assert sweep_uploads(uploads, WHEN) == 1
    assert sorted(p.name for p in uploads.iterdir()) == ["b.csv", "notes.txt"]
    assert sweep_uploads(tmp_path / "never-made", WHEN) == 0


def test_its_dry_run_warns_once_for_the_rows_matched_by_their_unchanged_wording(
    store: Engine, tmp_path: Path
) -> None:
    """A workbook with its refs gone is matched to the plan by wording: one warning says so for
    the rows worded as before (naming them itself, with no misleading "Row N:" before it)."""
    rows = csv_rows(PLAN_CSV)
    for row in rows:
        row["Ref"] = ""
    unnumbered = write_csv(tmp_path / "no-refs.csv", rows)
    with _client(store, tmp_path / "data") as client:
        _, checked = _check(client, "no-refs.csv", unnumbered.read_bytes())
        assert checked.status_code == 200, checked.text
    html = unescape(checked.text)
    warnings = html.split('id="warnings"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", warnings, re.S)
    alike = [i for i in items if "worded the same" in i]
    assert len(alike) == 1 and alike[0].startswith("76 rows have no ref of their own (rows ")
    assert not [i for i in items if "100% alike" in i]


def test_its_dry_run_names_the_row_of_a_warning_once(store: Engine, tmp_path: Path) -> None:
    rows = csv_rows(PLAN_CSV)
    rows[5]["Ref"] = ""  # and reworded a little: matched alone, by its wording
    title = next(k for k in rows[5] if "action" in k.lower())
    rows[5][title] = rows[5][title].rstrip(".") + " across the partnership."
    unnumbered = write_csv(tmp_path / "one-ref-gone.csv", rows)
    with _client(store, tmp_path / "data") as client:
        _, checked = _check(client, "one-ref-gone.csv", unnumbered.read_bytes())
        assert checked.status_code == 200, checked.text
    warnings = unescape(checked.text).split('id="warnings"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", warnings, re.S)
    (item,) = [i for i in items if "row 7 " in i]
    assert item.startswith("row 7 has no ref of its own; matched to existing action ")
