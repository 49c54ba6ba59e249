"""Signed, expiring tokens for reply links, and short references for emailed replies.

A token is ``base64url(json payload) "." base64url(HMAC-SHA256(secret, payload))``. The payload
names who it was issued to and for what; nothing in it is secret, but it cannot be changed or
made to live longer without the server's key. Trust comes from the signature, never from who
opened the link or which address a reply came from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: The shape of every token Chaser signs, and more than the longest it signs.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_TOKEN = 2048


class TokenError(ValueError):
    """The token cannot be trusted: ``reason`` is "malformed", "tampered" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    person: str  # who the link was sent to (the lead, or their delegate)
    lead: str  # whose actions it covers
    key: str  # the outbox key of the message that carried it
    meeting: str  # the meeting key, "" for nudges
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())


def sign_link(secret: bytes, claims: LinkClaims) -> str:
    payload: dict[str, Any] = {
        "p": claims.person,
        "l": claims.lead,
        "k": claims.key,
        "m": claims.meeting,
        "e": int(claims.expires_at.timestamp()),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(secret, body)}"


def verify_link(secret: bytes, token: str, *, now: datetime) -> LinkClaims:
    """The claims of a genuine, unexpired token, else TokenError (a token of anything but
    base64url characters, or longer than any Chaser signs, is malformed, not a crash)."""
    if len(token) > MAX_TOKEN or not _TOKEN.fullmatch(token):
        raise TokenError("malformed")
    body, _, mac = token.partition(".")
    if not hmac.compare_digest(_mac(secret, body), mac):
        raise TokenError("tampered")
    try:
        data = json.loads(_unb64(body))
        claims = LinkClaims(
            person=str(data["p"]),
            lead=str(data["l"]),
            key=str(data["k"]),
            meeting=str(data["m"]),
            expires_at=datetime.fromtimestamp(int(data["e"]), tz=UTC),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed") from exc
    if now >= claims.expires_at:
        raise TokenError("expired")
    return claims


def reference_for(secret: bytes, key: str) -> str:
    """A short code for a message ("CHS-4K7QX2M9PA"), quoted in subjects and replies."""
    digest = hmac.new(secret, key.encode(), hashlib.sha256).digest()
    return "CHS-" + base64.b32encode(digest).decode("ascii")[:10]
