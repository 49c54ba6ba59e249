"""`chaser users`: adding users with roles, listing them, and the first admin's sign-in link."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.store import open_store
from integrations.web import create_app
from integrations.web.signin import SignInOptions
from tests.conftest import ROOT
from workflows.store.models import AuditEvent

BASE = "http://127.0.0.1:8080"  # form_url in the shipped chasing.yaml


def _run(db: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--db", db, "--config", str(ROOT / "config"), *args])
    return result.exit_code, result.stdout, result.stderr


def test_it_adds_users_with_a_role_on_every_plan_or_one_and_lists_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert _run(db, "users", "list")[1].startswith("no users yet; add the first admin with:")
    code, out, _ = _run(db, "users", "add", "Admin@Council.example", "--role", "admin")
    assert (code, out.strip()) == (0, "added admin@council.example: admin on every plan")
    code, out, _ = _run(
        db,
        "users",
        "add",
        "member@nhs.example",
        "--role",
        "viewer",
        "--plan",
        "send-2023",
        "--name",
        "A Member",
    )
    assert (code, out.strip()) == (0, "added member@nhs.example: viewer on plan send-2023")
    code, out, _ = _run(db, "users", "add", "member@nhs.example", "--role", "secretary")
    assert out.strip() == "updated member@nhs.example: secretary on every plan"
    code, out, _ = _run(db, "users", "list", "--json")
    assert json.loads(out) == [
        {
            "email": "admin@council.example",
            "name": "",
            "active": True,
            "microsoft": False,
            "roles": [{"plan": None, "role": "admin"}],
        },
        {
            "email": "member@nhs.example",
            "name": "A Member",
            "active": True,
            "microsoft": False,
            "roles": [{"plan": None, "role": "secretary"}, {"plan": "send-2023", "role": "viewer"}],
        },
    ]
    with Session(open_store(db)) as s:
        kinds = [(e.kind, e.email, e.reason) for e in s.exec(select(AuditEvent))]
    assert kinds[0] == ("user_added", "admin@council.example", "admin on every plan")
    assert kinds[-1] == ("role_granted", "member@nhs.example", "secretary on every plan")


def test_it_refuses_what_is_not_an_address_or_a_role(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    code, _, err = _run(db, "users", "add", "not-an-address", "--role", "admin")
    assert code == 1 and "'not-an-address' is not an email address" in err
    code, _, err = _run(db, "users", "add", "a@b.example", "--role", "owner")
    assert code == 2 and "'owner' is not one of 'admin', 'secretary', 'viewer'" in err


def test_the_printed_link_signs_the_first_admin_in_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    code, _, err = _run(db, "users", "signin-link", "nobody@council.example")
    assert code == 1 and "no active user nobody@council.example" in err
    _run(db, "users", "add", "admin@council.example", "--role", "admin")
    code, out, _ = _run(db, "users", "signin-link", "admin@council.example")
    link = out.strip()
    assert code == 0 and re.fullmatch(rf"{BASE}/signin/link/[A-Za-z0-9_-]{{43}}", link)
    engine = open_store(db)
    app = create_app(
        engine=engine,
        secret=b"k" * 40,
        clock=lambda: datetime.now(UTC),
        form_url=BASE,
        plan_code="plymouth-send-2023",
        signin=SignInOptions(),
    )
    with TestClient(app, base_url=BASE) as client:
        page = client.get(link.removeprefix(BASE))
        assert "You are signing in as <strong>admin@council.example</strong>" in page.text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        assert csrf is not None
        signed_in = client.post(
            link.removeprefix(BASE),
            data={"csrf_token": csrf.group(1)},
            headers={"Origin": BASE},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/plan"
        again = TestClient(app, base_url=BASE).get(link.removeprefix(BASE))
        assert again.status_code == 410  # once only
    with Session(engine) as s:
        kinds = [e.kind for e in s.exec(select(AuditEvent))]
    assert kinds == ["user_added", "link_printed", "signin", "signin_refused"]
