"""Signing tests in: a user with a role, and a live session whose cookie a client carries.

Tests run on simulated clocks that jump days, so their apps use :data:`TEST_SIGNIN`, whose
sessions last a year; the idle and absolute limits have tests of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from integrations.web.signin import SignInOptions
from workflows.access.sessions import start_session
from workflows.access.users import add_user
from workflows.store.models import Role

SECRETARY_EMAIL = "morwenna.tregear@example.org"
SECRETARY_NAME = "Morwenna Tregear"
SECRETARY_LABEL = f"{SECRETARY_NAME} <{SECRETARY_EMAIL}>"
COOKIE = "chaser_session"
YEAR = timedelta(days=365)
TEST_SIGNIN = SignInOptions(idle=YEAR, lifetime=YEAR)


def session_token(
    engine: Engine,
    *,
    email: str = SECRETARY_EMAIL,
    name: str = SECRETARY_NAME,
    role: Role = Role.SECRETARY,
    plan_code: str = "",
    now: datetime | None = None,
) -> str:
    """A user with ``role`` (on ``plan_code``, or every plan) and a new session's token."""
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        user, _ = add_user(
            session, email, role=role, plan_code=plan_code, name=name, by="test", now=now
        )
        token = start_session(session, user, method="email", now=now, lifetime=YEAR)
        session.commit()
    return token


def sign_in(client: Any, engine: Engine, **kwargs: Any) -> str:
    """Sign ``client`` (a TestClient) in; the session's token."""
    token = session_token(engine, **kwargs)
    client.cookies.set(COOKIE, token)
    return token
