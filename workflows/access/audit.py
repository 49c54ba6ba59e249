"""The audit log of sign-ins, and the limits on how often sign-in may be tried.

Every sign-in, sign-out, refusal, sign-in email and change to a user is a row (never a token).
The same rows set the limits: too many refusals from one address, or too many links asked for
one account, within a quarter of an hour, and the next attempt is refused until it passes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from workflows.store.models import AuditEvent

WINDOW = timedelta(minutes=15)
#: Refused sign-ins (bad links, refused Microsoft sign-ins) from one address in the window.
MAX_REFUSALS_PER_ADDRESS = 20
#: Sign-in emails for one account in the window (each one can be asked for by anyone).
MAX_LINKS_PER_ACCOUNT = 5
#: Sign-in attempts of any kind from one address in the window.
MAX_ATTEMPTS_PER_ADDRESS = 60

REFUSED = "signin_refused"


def record(
    session: Session,
    kind: str,
    *,
    now: datetime,
    email: str = "",
    user_id: int | None = None,
    address: str = "",
    method: str = "",
    reason: str = "",
    by: str = "",
) -> None:
    """Add one event. Does not commit."""
    session.add(
        AuditEvent(
            at=now,
            kind=kind,
            email=email[:320],
            user_id=user_id,
            address=address[:64],
            method=method,
            reason=reason[:200],
            by=by[:320],
        )
    )


def _count(session: Session, *conditions: object) -> int:
    query = select(func.count()).select_from(AuditEvent).where(*conditions)  # type: ignore[arg-type]
    return int(session.exec(query).one())


def too_many(
    session: Session, *, now: datetime, address: str, email: str = "", kind: str = ""
) -> str | None:
    """Why this attempt must wait, or None. ``kind="link_sent"`` also counts the account's
    sign-in emails."""
    since = col(AuditEvent.at) > now - WINDOW
    if address:
        refused = _count(session, since, AuditEvent.address == address, AuditEvent.kind == REFUSED)
        if refused >= MAX_REFUSALS_PER_ADDRESS:
            return "too many refused sign-ins from this address"
        attempts = _count(session, since, AuditEvent.address == address)
        if attempts >= MAX_ATTEMPTS_PER_ADDRESS:
            return "too many sign-in attempts from this address"
    if email and kind == "link_sent":
        sent = _count(session, since, AuditEvent.email == email, AuditEvent.kind == "link_sent")
        if sent >= MAX_LINKS_PER_ACCOUNT:
            return "too many sign-in emails for this account"
    return None
