"""One-time sign-in links: single use, 15 minutes, and bound to the browser that asked.

The token travels in the link; the store keeps only its SHA-256. When the link was asked for on
the sign-in page, that browser was given a random value in a cookie, whose hash is kept with the
link: the link then works only in that browser, so a forwarded or intercepted email is no use.
Links printed by ``chaser users signin-link`` (for the first admin) are bound to no browser. A
link is spent by a conditional UPDATE, so two clicks at once sign in once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, update

from workflows.store.models import SigninLink, UserAccount

LIFETIME = timedelta(minutes=15)

#: Why a link was refused, in words for the page that says so.
REFUSALS = {
    "unknown": "This sign-in link is not valid. It may have been copied wrongly.",
    "used": "This sign-in link has already been used. Each link works once.",
    "expired": "This sign-in link has expired. Links work for 15 minutes.",
    "other_browser": "This sign-in link was asked for in another browser. Open it in the "
    "browser where you asked for it, or ask for a new link here.",
    "inactive": "Your account is not active. Ask an admin of Chaser to add you again.",
}


class LinkRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def words(self) -> str:
        return REFUSALS[self.reason]


@dataclass(frozen=True)
class LinkInfo:
    user: UserAccount
    on_open: bool


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_browser_value() -> str:
    """The random value the asking browser keeps in a cookie."""
    return secrets.token_urlsafe(24)


def create_link(
    session: Session,
    user: UserAccount,
    *,
    now: datetime,
    browser: str = "",
    on_open: bool = False,
    lifetime: timedelta = LIFETIME,
) -> str:
    """A new link's token for ``user``, bound to ``browser`` (a cookie value) when given.
    Does not commit."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(
        SigninLink(
            token_hash=digest(token),
            user_id=user.id,
            browser_hash=digest(browser) if browser else "",
            on_open=on_open,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def check_link(session: Session, token: str, *, browser: str, now: datetime) -> LinkInfo:
    """What the link is, if it could be used now in this browser; raises :class:`LinkRefused`."""
    if not token or len(token) > 200 or not token.isascii():
        raise LinkRefused("unknown")
    link = session.get(SigninLink, digest(token))
    if link is None:
        raise LinkRefused("unknown")
    if link.used_at is not None:
        raise LinkRefused("used")
    if now >= link.expires_at:
        raise LinkRefused("expired")
    if link.browser_hash and (not browser or digest(browser) != link.browser_hash):
        raise LinkRefused("other_browser")
    user = session.get(UserAccount, link.user_id)
    if user is None or not user.active:
        raise LinkRefused("inactive")
    return LinkInfo(user, link.on_open)


def redeem_link(session: Session, token: str, *, browser: str, now: datetime) -> UserAccount:
    """Spend the link and return its user; raises :class:`LinkRefused`. Does not commit."""
    info = check_link(session, token, browser=browser, now=now)
    spent = session.execute(
        update(SigninLink)
        .where(col(SigninLink.token_hash) == digest(token), col(SigninLink.used_at).is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkRefused("used")  # another click spent it a moment ago
    return info.user
