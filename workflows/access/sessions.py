"""Signed-in browsers: a random token in the cookie, only its SHA-256 in the store.

A session ends when it has not been used for ``idle`` (an hour by default), at its absolute
limit (twelve hours after sign-in), or at sign-out. Each sign-in starts a new session, so a token
planted before sign-in is worth nothing after it. Each session has its own CSRF secret, which
every form of the secretary's pages carries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from workflows.access.users import SignedIn, signed_in
from workflows.store.models import UserAccount, WebSession

IDLE = timedelta(hours=1)
ABSOLUTE = timedelta(hours=12)
#: ``last_seen_at`` is written at most this often (a page load need not always write).
TOUCH_EVERY = timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    session: Session,
    user: UserAccount,
    *,
    method: str,
    now: datetime,
    lifetime: timedelta = ABSOLUTE,
) -> str:
    """A new session for ``user``; the token for the cookie (kept nowhere else). No commit."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=digest(token),
            user_id=user.id,
            method=method,
            csrf_secret=secrets.token_hex(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def find_session(
    session: Session, token: str, *, now: datetime, idle: timedelta = IDLE
) -> tuple[WebSession, SignedIn] | None:
    """The live session behind ``token`` and its user, or None (unknown, ended, expired, idle
    too long, or the user was deactivated). Marks it used. Does not commit."""
    if not token or len(token) > 200:
        return None
    found = session.get(WebSession, digest(token))
    if found is None or found.revoked_at is not None:
        return None
    if now >= found.expires_at or now - found.last_seen_at >= idle:
        return None
    user = session.get(UserAccount, found.user_id)
    if user is None or not user.active:
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        found.last_seen_at = now
        session.add(found)
    return found, signed_in(session, user)


def end_session(session: Session, token: str, *, now: datetime) -> int | None:
    """Sign out: the session's user id, or None if there was no live one. Does not commit."""
    found = session.get(WebSession, digest(token)) if token else None
    if found is None or found.revoked_at is not None:
        return None
    found.revoked_at = now
    session.add(found)
    return found.user_id


def end_all_sessions(session: Session, user_id: int, *, now: datetime) -> None:
    """Every session of a user ends (they were deactivated, or their roles removed)."""
    session.execute(
        update(WebSession)
        .where(col(WebSession.user_id) == user_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def csrf_ok(web_session: WebSession, field: str) -> bool:
    return bool(field) and hmac.compare_digest(field, web_session.csrf_secret)


def live_sessions(session: Session, user_id: int, *, now: datetime) -> int:
    rows = session.exec(
        select(WebSession).where(
            WebSession.user_id == user_id,
            col(WebSession.revoked_at).is_(None),
            col(WebSession.expires_at) > now,
        )
    ).all()
    return len(rows)
