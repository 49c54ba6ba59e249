"""The admin's people page (issue 19): the directory with emails and delegates, adding someone
with a delegate, changing their details, seeing the actions each leads and retiring someone,
each error beside its field, every change under the admin's name; only admins may see it, and
every POST needs the session's CSRF token."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.importing import import_people, import_plan
from integrations.web import FormServer, create_app
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX
from tests.mail_servers import free_port
from tests.signin import COOKIE, TEST_SIGNIN, session_token
from workflows.plan.mapping import load_mapping
from workflows.store.models import AuditEvent, Person, Role

PLAN = "plymouth-send-2023"
BASE = "http://127.0.0.1:8080"
WHEN = datetime(2025, 9, 16, 9, 0, tzinfo=UTC)
ADMIN = ("ann.admin@example.org", "Ann Admin")
ADMIN_LABEL = f"{ADMIN[1]} <{ADMIN[0]}>"


@pytest.fixture
def store(engine: Engine) -> Engine:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return engine


def _app(engine: Engine) -> object:
    return create_app(
        engine=engine,
        secret=b"p" * 40,
        clock=Clock(WHEN),
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )


def _client(engine: Engine, role: Role = Role.ADMIN) -> TestClient:
    client = TestClient(_app(engine), base_url=BASE)  # type: ignore[arg-type]
    email, name = ADMIN if role == Role.ADMIN else (f"{role}@example.org", str(role).title())
    client.cookies.set(COOKIE, session_token(engine, email=email, name=name, role=role, now=WHEN))
    return client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _person(engine: Engine, code: str) -> Person:
    with Session(engine) as s:
        return s.exec(select(Person).where(Person.code == code)).one()


def test_only_an_admin_sees_the_people_page(store: Engine) -> None:
    for role in (Role.VIEWER, Role.SECRETARY):
        with _client(store, role) as client:
            assert client.get("/people").status_code == 403
            assert "Only an admin can do this" in client.get("/people/AP").text
    with _client(store) as client:
        html = client.get("/people").text
        assert "27 people" in html
        row = html.split('id="person-AP"', 1)[1].split("</tr>", 1)[0]
        assert "aisha.pendleford@example.org" in row and ">DD<" in row and ">11<" in row


def test_it_adds_a_person_with_a_delegate_showing_each_error_beside_its_field(
    store: Engine,
) -> None:
    with _client(store) as client:
        csrf = _csrf(client.get("/people").text)
        bad = client.post(
            "/people",
            data={
                "csrf_token": csrf,
                "code": "AP",
                "name": "",
                "email": "zia at example",
                "away_until": "soon",
            },
        )
        assert bad.status_code == 400
        html = bad.text
        assert "There is a problem" in html
        assert 'id="away_until-error"' in html and "Away until must be a date" in html
        assert _person(store, "AP").name == "Aisha Pendleford"  # nothing changed
        bad = client.post(
            "/people",
            data={"csrf_token": csrf, "code": "AP", "name": "", "email": "zia at example"},
        )
        html = bad.text
        assert 'id="code-error"' in html and "Code &#39;AP&#39; is already Aisha Pendleford" in html
        assert 'id="name-error"' in html and "Name is required: the person&#39;s full name" in html
        assert 'id="email-error"' in html and "is not an email address" in html
        assert 'value="zia at example"' in html  # what was typed is kept
        assert client.post("/people", data={"code": "ZZ", "name": "Zia"}).status_code == 403
        done = client.post(
            "/people",
            data={
                "csrf_token": csrf,
                "code": "zz",
                "name": "Zia Zennor",
                "email": "zia.zennor@example.org",
                "delegate_code": "AP",
                "sro": "yes",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        listed = client.get(done.headers["location"]).text
        assert "Zia Zennor was added" in listed
    zz = _person(store, "ZZ")
    assert (zz.email, zz.delegate_code, zz.is_sro) == ("zia.zennor@example.org", "AP", True)
    with Session(store) as s:
        (event,) = s.exec(select(AuditEvent).where(AuditEvent.kind == "person_added")).all()
    assert (event.by, event.reason, event.at) == (ADMIN_LABEL, "ZZ", WHEN)


def test_it_edits_and_retires_a_person_and_shows_what_they_lead(store: Engine) -> None:
    with _client(store) as client:
        html = client.get("/people/TC").text
        assert "Actions they lead" in html and html.count('href="/actions/') == 10
        csrf = _csrf(html)
        before = _person(store, "TC")
        saved = client.post(  # the whole form, as the browser sends it
            "/people/TC",
            data={
                "csrf_token": csrf,
                "name": before.name,
                "role": before.role,
                "email": before.email,
                "teams_id": before.teams_id,
                "delegate_code": "JB",
                "away_until": "2025-10-03",
                "sro": "yes" if before.is_sro else "",
            },
        )
        assert saved.status_code == 200 and "Their details were saved" in saved.text
        tc = _person(store, "TC")
        assert (tc.away_until and tc.away_until.isoformat(), tc.delegate_code) == (
            "2025-10-03",
            "JB",
        )
        assert (tc.email, tc.role) == (before.email, before.role)
        with Session(store) as s:  # nobody to answer for them
            s.exec(select(Person).where(Person.code == "TC")).one().delegate_code = ""
            s.commit()
        refused = client.post("/people/TC/retire", data={"csrf_token": csrf, "successor": ""})
        assert refused.status_code == 400
        assert 'id="successor-error"' in refused.text and "TC leads 10 actions" in refused.text
        retired = client.post(
            "/people/TC/retire", data={"csrf_token": csrf, "successor": "AP"}, follow_redirects=True
        )
        assert "Tobias Carnsew was retired" in retired.text
        row = retired.text.split('id="person-TC"', 1)[1].split("</tr>", 1)[0]
        assert "Retired" in row and ">AP<" in row
    with Session(store) as s:
        events = [
            (e.kind, e.by, e.reason)
            for e in s.exec(select(AuditEvent).where(col(AuditEvent.kind).startswith("person_")))
        ]
    assert events == [
        ("person_changed", ADMIN_LABEL, "TC: delegate_code, away_until"),
        ("person_retired", ADMIN_LABEL, "TC: delegate_code, away_until"),
    ]


def test_the_people_pages_pass_axe_and_add_a_person_in_chromium(
    store: Engine, tmp_path: Path
) -> None:
    port = free_port()
    shots = tmp_path / "screenshots"
    with FormServer(_app(store), port=port), chromium_page() as browser:  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{port}"
        token = session_token(store, email=ADMIN[0], name=ADMIN[1], role=Role.ADMIN, now=WHEN)
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for path, heading in (("/people", "People"), ("/people/AP", "Aisha Pendleford")):
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
        browser.set_viewport_size({"width": 1024, "height": 900})
        browser.goto(base + "/people")
        browser.get_by_label("Code").fill("ZZ")
        browser.get_by_label("Full name").fill("Zia Zennor")
        browser.get_by_label("Email address").fill("not an address")
        browser.get_by_label("Delegate (optional)").select_option("AP")
        click_and_wait(browser, browser.get_by_role("button", name="Add person"))
        assert browser.get_by_role("heading", name="There is a problem").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "people-error.png"), full_page=True)
        browser.get_by_label("Email address").fill("zia.zennor@example.org")
        click_and_wait(browser, browser.get_by_role("button", name="Add person"))
        assert browser.get_by_text("Zia Zennor was added").is_visible()

        # a people CSV: previewed, then imported
        csv = tmp_path / "people.csv"
        csv.write_text(
            PEOPLE_CSV.read_text("utf-8").replace("aisha.pendleford@", "aisha.p@"), "utf-8"
        )
        browser.get_by_label("People CSV file").set_input_files(str(csv))
        click_and_wait(browser, browser.get_by_role("button", name="Preview the import"))
        assert browser.get_by_role("heading", level=1, name="Check the people import").is_visible()
        assert browser.get_by_text(
            "Email address: aisha.pendleford@example.org → aisha.p@example.org"
        ).is_visible()
        for width in (1024, 390):
            browser.set_viewport_size({"width": width, "height": 900})
            browser.screenshot(path=str(shots / f"people-import-{width}.png"), full_page=True)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
        assert _person(store, "AP").email == "aisha.pendleford@example.org"  # not yet
        click_and_wait(browser, browser.get_by_role("button", name="Import these people"))
        assert browser.get_by_text("People imported: 0 added, 1 changed").is_visible()
        assert [e for e in browser.errors if "status of 400" not in e] == []
    assert _person(store, "ZZ").delegate_code == "AP"
    assert _person(store, "AP").email == "aisha.p@example.org"
    print(f"screenshots in {shots}")


def test_it_previews_a_people_csv_and_imports_it_only_when_confirmed(store: Engine) -> None:
    lines = PEOPLE_CSV.read_text("utf-8").splitlines()
    header = lines[0].split(",")
    edited = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[header.index("code")] == "AP":
            cells[header.index("email")] = "aisha.p@example.org"
        edited.append(",".join(cells))
    new = dict.fromkeys(header, "")
    new |= {"code": "ZZ", "name": "Zia Zennor", "email": "zia.zennor@example.org", "sro": "no"}
    edited.append(",".join(new[h] for h in header))
    data = ("\n".join(edited) + "\n").encode()
    with _client(store) as client:
        csrf = _csrf(client.get("/people").text)
        preview = client.post(
            "/people/import",
            data={"csrf_token": csrf},
            files={"file": ("people (2).csv", data, "text/csv")},
        )
        assert preview.status_code == 200
        html = preview.text
        assert "Importing people _2_.csv would add <strong>1</strong>" in html
        assert "change <strong>1</strong> and leave <strong>26</strong> unchanged" in html
        row = html.split('id="change-AP"', 1)[1].split("</tr>", 1)[0]
        assert "Email address: aisha.pendleford@example.org → aisha.p@example.org" in row
        assert _person(store, "AP").email == "aisha.pendleford@example.org"  # not yet
        confirmed = client.post(
            "/people/import/confirm",
            data={
                "csrf_token": csrf,
                "source": re.search(r'name="source" value="([^"]*)"', html).group(1),  # type: ignore[union-attr]
                "csv": data.decode(),
            },
        )
        assert "People imported: 1 added, 1 changed, 26 unchanged" in confirmed.text
        # not a CSV, and a CSV with a bad cell: clear messages, nothing saved
        workbook = client.post(
            "/people/import",
            data={"csrf_token": csrf},
            files={"file": ("people.csv", PLAN_XLSX.read_bytes(), "text/csv")},
        )
        assert workbook.status_code == 400
        assert "people.csv: is not a text CSV file (it holds binary data)" in workbook.text
        assert "/tmp" not in workbook.text
        bad = b"code,name,email\nQQ,Quinn,not-an-address\n"
        refused = client.post(
            "/people/import",
            data={"csrf_token": csrf},
            files={"file": ("bad.csv", bad, "text/csv")},
        )
        assert refused.status_code == 400 and "bad.csv has 1 problem" in refused.text
        assert "email &#39;not-an-address&#39; of QQ is not an address" in refused.text
        assert client.post("/people/import", data={"csrf_token": csrf}).status_code == 400
    assert _person(store, "AP").email == "aisha.p@example.org"
    assert _person(store, "ZZ").name == "Zia Zennor"
    with Session(store) as s:
        (event,) = s.exec(select(AuditEvent).where(AuditEvent.kind == "people_imported")).all()
    assert (event.by, event.reason) == (ADMIN_LABEL, "people _2_.csv: 1 added, 1 changed")
