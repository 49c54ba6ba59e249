"""Signing in to the secretary's pages: with Microsoft (a local OpenID provider driven by the real
msal code) and by an emailed one-time link; sessions, roles, refusals and the audit log."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import import_people, import_plan
from chaser.settings import Settings
from chaser.wiring import build_runtime, web_app
from integrations.entra import EntraSignIn
from integrations.web import FormServer, create_app
from integrations.web.signin import SignInOptions
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.fake_entra import PARTNER_TENANT, Account, FakeEntra, fake_entra_fixture  # noqa: F401
from tests.mail_servers import SmtpSink, free_port
from tests.signin import COOKIE, session_token
from workflows.access.users import add_user
from workflows.plan.mapping import load_mapping
from workflows.store.models import (
    AuditEvent,
    Delivery,
    Reply,
    Role,
    UserAccount,
    WebSession,
)

BASE = "http://127.0.0.1:8080"
PLAN = "plymouth-send-2023"
SECRET = b"s" * 40
NOW = datetime(2025, 9, 26, 11, 0, tzinfo=UTC)
MORWENNA = "morwenna.tregear@example.org"


@dataclass
class World:
    engine: Engine
    clock: Clock
    fake: FakeEntra
    sent: list[tuple[str, str]] = field(default_factory=list)  # (email, link) of sign-in mail
    apps: dict[str, Any] = field(default_factory=dict)

    def app(self, **overrides: Any) -> Any:
        options: dict[str, Any] = {
            "entra": self.entra(),
            "send_link": lambda user, link: self.sent.append((user.email, link)),
            "network": True,
        }
        options.update(overrides.pop("signin", {}))
        return create_app(
            engine=self.engine,
            secret=SECRET,
            clock=self.clock,
            form_url=overrides.pop("form_url", BASE),
            plan_code=PLAN,
            signin=SignInOptions(**options),
            **overrides,
        )

    def entra(self, **overrides: Any) -> EntraSignIn:
        settings: dict[str, Any] = {
            "tenant": self.fake.tenant,
            "client_id": self.fake.client_id,
            "client_secret": self.fake.client_secret,
            "authority_host": self.fake.url,
        }
        settings.update(overrides)
        return EntraSignIn(**settings)

    def client(self, app: Any = None, **kwargs: Any) -> TestClient:
        return TestClient(app or self.app(), base_url=kwargs.pop("base_url", BASE), **kwargs)

    def audit(self) -> list[tuple[str, str, str]]:
        with Session(self.engine) as s:
            return [(e.kind, e.email, e.reason) for e in s.exec(select(AuditEvent))]


@pytest.fixture
def world(engine: Engine, fake_entra: FakeEntra) -> Iterator[World]:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    with Session(engine) as s:
        add_user(s, MORWENNA, role=Role.SECRETARY, name="Morwenna Tregear", by="test", now=NOW)
        add_user(s, "board.member@example.org", role=Role.VIEWER, name="A Member", by="t", now=NOW)
        s.commit()
    yield World(engine, Clock(NOW), fake_entra)


def with_microsoft(client: TestClient, fake: FakeEntra, *, next_path: str = "/plan") -> Any:
    """The browser's round trip: our /signin/entra, Entra's authorize, back to our callback."""
    started = client.get(f"/signin/entra?next={next_path}", follow_redirects=False)
    assert started.status_code == 303, started.text
    authorize = started.headers["location"]
    assert authorize.startswith(fake.url) and "code_challenge_method=S256" in authorize
    back = requests.get(authorize, allow_redirects=False, verify=str(fake.ca_path), timeout=10)
    assert back.status_code == 302, back.text
    return client.get(back.headers["location"].removeprefix(BASE), follow_redirects=False)


def _cookie_header(response: Any) -> str:
    return "; ".join(v for k, v in response.headers.multi_items() if k == "set-cookie")


# -- with Microsoft --------------------------------------------------------------------------


def test_it_signs_in_with_microsoft_and_opens_the_page_asked_for(world: World) -> None:
    with world.client() as client:
        asked = client.get("/review", follow_redirects=False)
        assert asked.status_code == 303 and asked.headers["location"] == "/signin?next=/review"
        back = with_microsoft(client, world.fake, next_path="/review")
        assert back.status_code == 303 and back.headers["location"] == "/review"
        cookies = _cookie_header(back)
        assert f"{COOKIE}=" in cookies and "HttpOnly" in cookies and "SameSite=lax" in cookies
        page = client.get("/review")
        assert page.status_code == 200
        assert "Signed in as Morwenna Tregear" in unescape(page.text)
    with Session(world.engine) as s:
        user = s.exec(select(UserAccount).where(UserAccount.email == MORWENNA)).one()
        assert (user.entra_oid, user.entra_tid) == ("oid-mt", world.fake.tenant)
    assert ("signin", MORWENNA, "") in world.audit()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("forged", "signature"),
        ("expired", "expired"),
        ("audience", "audience"),
        ("issuer", "issuer"),
        ("tenant", "issuer"),  # another tenant's issuer, for a single-tenant app
        ("nonce", "nonce"),
    ],
)
def test_a_bad_id_token_is_refused_with_a_page_that_says_why(
    world: World, bad: str, reason: str
) -> None:
    world.fake.next_token = bad
    with world.client() as client:
        back = with_microsoft(client, world.fake)
        assert back.status_code == 403
        assert "You are not signed in" in back.text and "Traceback" not in back.text
        assert f"{COOKIE}=" not in _cookie_header(back)
        assert client.get("/plan", follow_redirects=False).status_code == 303  # still signed out
    assert ("signin_refused", "", reason) in world.audit()


def test_a_replayed_sign_in_is_refused(world: World) -> None:
    with world.client() as client:
        started = client.get("/signin/entra", follow_redirects=False)
        authorize = started.headers["location"]
        back = requests.get(authorize, allow_redirects=False, verify=str(world.fake.ca_path))
        callback = back.headers["location"].removeprefix(BASE)
        assert client.get(callback, follow_redirects=False).status_code == 303
        again = client.get(callback, follow_redirects=False)
    assert again.status_code == 403
    assert "did not start in this browser, or was already used" in unescape(again.text)
    assert ("signin_refused", "", "flow") in world.audit()


def test_a_sign_in_finished_in_another_browser_is_refused(world: World) -> None:
    with world.client() as mine, world.client() as theirs:
        started = mine.get("/signin/entra", follow_redirects=False)
        back = requests.get(
            started.headers["location"], allow_redirects=False, verify=str(world.fake.ca_path)
        )
        stolen = theirs.get(back.headers["location"].removeprefix(BASE), follow_redirects=False)
    assert stolen.status_code == 403
    assert f"{COOKIE}=" not in _cookie_header(stolen)


def test_an_account_chaser_does_not_know_is_refused_naming_the_fix(world: World) -> None:
    world.fake.account = Account("stranger@example.org", "A Stranger", "oid-x")
    with world.client() as client:
        back = with_microsoft(client, world.fake)
    assert back.status_code == 403
    assert "Your Microsoft account (stranger@example.org) is not set up in Chaser" in unescape(
        back.text
    )
    assert ("signin_refused", "", "no account") in world.audit()


def test_several_tenants_may_sign_in_only_when_named(world: World) -> None:
    world.fake.account = Account(MORWENNA, "Morwenna Tregear", "oid-partner", PARTNER_TENANT)
    only_ours = world.app(
        signin={"entra": world.entra(tenant="organizations", allowed_tenants=[world.fake.tenant])}
    )
    with world.client(only_ours) as client:
        assert with_microsoft(client, world.fake).status_code == 403
    assert ("signin_refused", "", "tenant") in world.audit()
    both = world.app(
        signin={
            "entra": world.entra(
                tenant="organizations", allowed_tenants=[world.fake.tenant, PARTNER_TENANT]
            )
        }
    )
    with world.client(both) as client:
        back = with_microsoft(client, world.fake)
        assert back.status_code == 303 and client.get("/plan").status_code == 200


def test_signing_out_ends_the_session_and_the_microsoft_one(world: World) -> None:
    with world.client() as client:
        with_microsoft(client, world.fake)
        token = client.cookies.get(COOKIE)
        page = client.get("/plan")
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        assert csrf is not None
        out = client.post("/signout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
        assert out.status_code == 303
        assert out.headers["location"].startswith(f"{world.fake.url}/{world.fake.tenant}/oauth2")
        assert "post_logout_redirect_uri=" in out.headers["location"]
    with world.client() as replay:
        replay.cookies.set(COOKIE, str(token))
        assert replay.get("/plan", follow_redirects=False).status_code == 303
    assert ("signout", MORWENNA, "") in world.audit()


# -- by an emailed link ----------------------------------------------------------------------


def _ask_for_link(client: TestClient, email: str = MORWENNA) -> Any:
    page = client.get("/signin")
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert csrf is not None
    return client.post(
        "/signin/email",
        data={"csrf_token": csrf.group(1), "email": email, "next": "/meetings"},
        headers={"Origin": BASE},
    )


def _continue(client: TestClient, link: str) -> Any:
    page = client.get(link.removeprefix(BASE))
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert csrf is not None and "You are signing in as" in page.text
    return client.post(
        link.removeprefix(BASE).split("?")[0],
        data={"csrf_token": csrf.group(1), "next": "/meetings"},
        headers={"Origin": BASE},
        follow_redirects=False,
    )


def test_it_emails_a_link_that_signs_in_once_in_the_browser_that_asked(world: World) -> None:
    with world.client() as client:
        asked = _ask_for_link(client)
        assert "Check your email" in asked.text and MORWENNA in asked.text
        [(email, link)] = world.sent
        assert email == MORWENNA and "/signin/link/" in link
        opened = client.get(link.removeprefix(BASE))
        assert client.get("/plan", follow_redirects=False).status_code == 303  # GET signs in no one
        assert "Continue" in opened.text
        signed_in = _continue(client, link)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/meetings"
        assert client.get("/meetings").status_code == 200
        used_again = client.get(link.removeprefix(BASE))
    assert used_again.status_code == 410
    assert "already been used" in unescape(used_again.text)
    kinds = [kind for kind, _, _ in world.audit()]
    assert kinds[:2] == ["link_sent", "signin"] and "signin_refused" in kinds


def test_a_link_opened_in_another_browser_is_refused(world: World) -> None:
    with world.client() as mine, world.client() as theirs:
        _ask_for_link(mine)
        [(_, link)] = world.sent
        refused = theirs.get(link.removeprefix(BASE))
    assert refused.status_code == 410
    assert "asked for in another browser" in unescape(refused.text)


def test_an_expired_link_is_refused(world: World) -> None:
    with world.client() as client:
        _ask_for_link(client)
        [(_, link)] = world.sent
        world.clock.now = NOW + timedelta(minutes=16)
        refused = client.get(link.removeprefix(BASE))
    assert refused.status_code == 410 and "has expired" in unescape(refused.text)


def test_asking_for_an_unknown_address_looks_the_same_and_sends_nothing(world: World) -> None:
    with world.client() as client:
        asked = _ask_for_link(client, "nobody@example.org")
    assert asked.status_code == 200 and "Check your email" in asked.text
    assert world.sent == []
    assert ("signin_refused", "nobody@example.org", "no account") in world.audit()


def test_sign_in_attempts_are_limited_per_account_and_per_address(world: World) -> None:
    with world.client() as client:
        for _ in range(5):
            assert _ask_for_link(client).status_code == 200
        assert _ask_for_link(client).status_code == 429
        assert len(world.sent) == 5
        for _ in range(20):
            client.get("/signin/link/not-a-real-link")
        limited = client.get("/signin/link/another-bad-one")
    assert limited.status_code == 429 and "Too many sign-in attempts" in limited.text


def test_a_forged_link_request_is_refused(world: World) -> None:
    with world.client() as client:
        client.get("/signin")
        response = client.post(
            "/signin/email",
            data={"csrf_token": "0" * 64, "email": MORWENNA},
            headers={"Origin": BASE},
        )
    assert response.status_code == 403 and world.sent == []


# -- sessions -------------------------------------------------------------------------------


def test_a_new_session_at_sign_in_and_a_planted_one_is_worth_nothing(world: World) -> None:
    with world.client() as client:
        client.cookies.set(COOKIE, "planted-by-someone-else", domain="127.0.0.1")
        with_microsoft(client, world.fake)
        assert client.cookies.get(COOKIE) != "planted-by-someone-else"
        assert client.get("/plan").status_code == 200
    with Session(world.engine) as s:
        stored = [w.token_hash for w in s.exec(select(WebSession))]
    assert all(len(h) == 64 for h in stored)  # only hashes are kept


def test_sessions_end_when_idle_and_at_their_absolute_limit(world: World) -> None:
    app = world.app(signin={"idle": timedelta(hours=1), "lifetime": timedelta(hours=12)})
    with world.client(app) as client:
        with_microsoft(client, world.fake)
        for minutes in (50, 100, 150):  # used every 50 minutes: still signed in
            world.clock.now = NOW + timedelta(minutes=minutes)
            assert client.get("/plan", follow_redirects=False).status_code == 200
        world.clock.now += timedelta(minutes=61)
        assert client.get("/plan", follow_redirects=False).status_code == 303  # idle too long
        with_microsoft(client, world.fake)
        signed_in_at = world.clock.now
        for minutes in range(50, 12 * 60, 50):  # kept busy all day: never idle
            world.clock.now = signed_in_at + timedelta(minutes=minutes)
            assert client.get("/plan", follow_redirects=False).status_code == 200, minutes
        world.clock.now = signed_in_at + timedelta(hours=12)  # but twelve hours is the end
        assert client.get("/plan", follow_redirects=False).status_code == 303


def test_over_https_the_cookie_is_secure_and_host_only(world: World) -> None:
    app = world.app(form_url="https://chaser.council.example")
    with world.client(app, base_url="https://chaser.council.example") as client:
        page = client.get("/signin")
        assert "Secure" in _cookie_header(page)
        token = session_token(world.engine, now=NOW)
        client.cookies.set("__Host-chaser_session", token)
        assert client.get("/plan").status_code == 200


# -- roles ----------------------------------------------------------------------------------


def test_a_viewer_reads_the_pages_and_is_refused_every_post(world: World) -> None:
    with Session(world.engine) as s:
        reply = Reply(
            plan_id=1,
            channel="email",
            received_at=NOW,
            sender="someone@elsewhere.example",
            raw="Subject: 2.5\n\n2.5: complete",
            verdict="review",
            reason="the sender is not in the people directory",
        )
        s.add(reply)
        s.commit()
        reply_id = reply.id
    with world.client() as client:
        client.cookies.set(
            COOKIE,
            session_token(world.engine, email="board.member@example.org", role=Role.VIEWER),
        )
        for path in ("/plan", "/actions/2.5", "/meetings", "/review"):
            assert client.get(path).status_code == 200, path
        page = client.get("/review")
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        assert csrf is not None
        refused = client.post(
            f"/review/{reply_id}",
            data={"csrf_token": csrf.group(1), "decision": "apply"},
            headers={"Origin": BASE},
        )
    assert refused.status_code == 403
    assert "You can read this plan but not change it" in refused.text
    with Session(world.engine) as s:
        kept = s.get(Reply, reply_id)
        assert kept is not None and kept.verdict == "review" and kept.decided_by == ""


def test_a_user_of_another_plan_is_refused_this_plans_pages(world: World) -> None:
    token = session_token(
        world.engine, email="other.plan@example.org", role=Role.SECRETARY, plan_code="another"
    )
    with world.client() as client:
        client.cookies.set(COOKIE, token)
        refused = client.get("/plan")
    assert refused.status_code == 403
    assert "You do not have access to this plan" in refused.text
    assert "Traceback" not in refused.text


# -- where the pages are served ---------------------------------------------------------------


def test_with_sign_in_configured_the_pages_are_served_on_any_address(world: World) -> None:
    app = world.app(bind_host="0.0.0.0", form_url="https://chaser.council.example")
    with world.client(app, base_url="https://chaser.council.example") as client:
        assert client.get("/plan", follow_redirects=False).headers["location"].startswith("/signin")
        assert client.get("/signin").status_code == 200
        client.cookies.set("__Host-chaser_session", session_token(world.engine, now=NOW))
        assert client.get("/plan").status_code == 200


def test_without_sign_in_configured_the_pages_stay_on_this_computer(world: World) -> None:
    app = world.app(bind_host="0.0.0.0", signin={"network": False})
    with world.client(app, base_url="http://chaser.council.example") as client:
        client.cookies.set(COOKIE, session_token(world.engine, now=NOW))
        for path in ("/plan", "/signin"):
            refused = client.get(path)
            assert refused.status_code == 403
            assert "only available on the computer running Chaser" in refused.text


def test_forwarded_addresses_are_believed_only_from_a_trusted_proxy(world: World) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    for trusted, expected in ((["testclient"], "203.0.113.7"), ([], "testclient")):
        app = world.app(trusted_proxies=trusted)
        with world.client(app) as client:
            client.get("/signin/link/no-such-link", headers=forwarded)
        with Session(world.engine) as s:
            newest = s.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()  # type: ignore[union-attr]
        assert newest is not None and newest.address == expected


def test_no_token_or_secret_is_ever_in_the_audit_log(world: World) -> None:
    with world.client() as client, world.client() as other:
        with_microsoft(client, world.fake)
        session = str(client.cookies.get(COOKIE))
        _ask_for_link(other)
    [(_, link)] = world.sent
    with Session(world.engine) as s:
        text = repr([e.model_dump() for e in s.exec(select(AuditEvent))])
    for secret in (
        session,
        link.rsplit("/", 1)[1],
        world.fake.client_secret,
        *world.fake.tokens_issued,
    ):
        assert secret not in text


# -- in a browser, and through the real outbox ------------------------------------------------


def test_in_a_browser_she_signs_in_with_microsoft_and_her_decision_bears_her_name(
    world: World,
) -> None:
    """Chromium, the real msal code and the local OpenID provider: sign in, open the plan,
    apply a reply from the review queue, and see the decision recorded under her name."""
    with Session(world.engine) as s:
        reply = Reply(
            plan_id=1,
            channel="email",
            received_at=NOW,
            sender="someone@elsewhere.example",
            raw="Subject: Re: update\n\n2.5: complete",
            parsed={"subject": "Re: update", "body": "2.5: complete"},
            verdict="review",
            reason="the sender is not in the people directory",
        )
        s.add(reply)
        s.commit()
        reply_id = reply.id
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = world.app(form_url=base)
    with FormServer(app, port=port), chromium_page(trust_test_certificates=True) as page:
        page.goto(base + "/review")
        assert page.url == base + "/signin?next=/review"
        assert axe_violations(page) == [], describe(axe_violations(page))
        page.get_by_role("button", name="Sign in with Microsoft").click()
        page.wait_for_url(base + "/review")
        assert page.get_by_text("Signed in as Morwenna Tregear").is_visible()
        page.goto(base + "/plan")
        assert page.get_by_role("heading", level=1, name="Plan status").is_visible()
        page.goto(base + "/review")
        section = page.locator(f"#reply-{reply_id}")
        section.get_by_label("Apply it").check()
        click_and_wait(
            page, section.get_by_role("button", name=f"Save decision on reply {reply_id}")
        )
        assert page.get_by_text(f"Reply {reply_id} applied").is_visible()
        assert axe_violations(page) == [], describe(axe_violations(page))
        page.goto(base + "/actions/2.5")
        assert page.get_by_text(
            "Email, applied from the review queue by Morwenna Tregear"
        ).first.is_visible()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(base + "/signin?signed_out=1")
        assert page.get_by_text("You have signed out.").is_visible()
        assert axe_violations(page) == [], describe(axe_violations(page))
    with Session(world.engine) as s:
        decided = s.get(Reply, reply_id)
        assert decided is not None and decided.verdict == "applied"
        assert decided.decided_by == "Morwenna Tregear <morwenna.tregear@example.org>"


def test_every_sign_in_page_passes_axe_at_phone_and_desktop_widths(
    world: World, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    with FormServer(world.app(form_url=base), port=port), chromium_page() as page:
        for width in (390, 1024):
            page.set_viewport_size({"width": width, "height": 844})
            page.goto(base + "/signin")
            page.get_by_role("button", name="Email me a sign-in link").click()  # empty: an error
            page.get_by_role("heading", name="There is a problem").wait_for()  # the answer came
            assert axe_violations(page) == [], describe(axe_violations(page))
            page.get_by_label("Email address").fill(MORWENNA)
            page.get_by_role("button", name="Email me a sign-in link").click()
            page.get_by_role("heading", name="Check your email").wait_for()  # the answer came
            assert axe_violations(page) == [], describe(axe_violations(page))
            page.screenshot(path=str(shots / f"check-email-{width}.png"), full_page=True)
            page.goto(world.sent[-1][1].replace(BASE, base))
            assert page.get_by_role("heading", name="Sign in to Chaser").is_visible()
            assert axe_violations(page) == [], describe(axe_violations(page))
            page.screenshot(path=str(shots / f"link-{width}.png"), full_page=True)
            page.goto(base + "/signin/link/not-a-link")
            assert page.get_by_role("heading", name="This sign-in link cannot be used").is_visible()
            assert axe_violations(page) == [], describe(axe_violations(page))
            page.goto(base + "/signin")
            page.screenshot(path=str(shots / f"signin-{width}.png"), full_page=True)
            assert axe_violations(page) == [], describe(axe_violations(page))
            width_used = page.evaluate("document.documentElement.scrollWidth")
            assert width_used <= width, (width, width_used)  # no sideways scrolling
            page.context.clear_cookies()


def test_the_sign_in_email_goes_through_the_outbox_to_a_real_smtp_server(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    with Session(engine) as s:
        add_user(s, MORWENNA, role=Role.SECRETARY, name="Morwenna Tregear", by="test", now=NOW)
        s.commit()
    settings = Settings.from_env(
        {
            "CHASER_SECRET_KEY": "w" * 40,
            "CHASER_DATA_DIR": str(tmp_path),
            "CHASER_SMTP_HOST": sink.host,
            "CHASER_SMTP_PORT": str(sink.port),
            "CHASER_SMTP_STARTTLS": "no",
        },
        config_dir=ROOT / "config",
    )
    runtime = build_runtime(settings, engine)
    runtime.chasing = runtime.chasing.model_copy(update={"sender": _unpaced(runtime)})
    assert settings.signin_configured  # email really is emailed: the pages may be published
    with TestClient(web_app(runtime, settings, bind_host="0.0.0.0"), base_url=BASE) as client:
        _ask_for_link(client)
        sink.wait_for(1, timeout=30)
        [got] = sink.messages
        assert got.rcpt_tos == [MORWENNA]
        assert got.message["Subject"] == "Sign in to Chaser"
        text = str(got.message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        link = re.search(r"(http://\S+/signin/link/\S+)", text)
        assert link is not None and "works once, for 15 minutes" in text
        assert _continue(client, link.group(1)).status_code == 303
        assert client.get("/meetings").status_code == 200
    # The mail server has the message; the background dispatch records it as sent just after.
    for thread in threading.enumerate():
        if thread.name == "signin-mail":
            thread.join(timeout=30)
    with Session(engine) as s:
        [row] = s.exec(select(Delivery).where(Delivery.kind == "signin")).all()
        assert row.state == "sent"
    runtime.close()


def _unpaced(runtime: Any) -> Any:
    return runtime.chasing.sender.model_copy(update={"rate_per_minute": None})
