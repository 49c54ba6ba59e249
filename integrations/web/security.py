"""The reply form's defences: CSRF tokens, same-origin checks, security headers, quiet logs.

A form post must carry the link's CSRF token twice (double submit): in a hidden field and in a
``SameSite=Strict`` cookie set when the form was shown, and must not come from another site
(its ``Origin``, or failing that its ``Referer``). The token is derived from the link token, so
nothing is stored; the cookie is scoped to the link's own path, so two links open in two tabs do
not overwrite each other's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import structlog
from starlette.requests import Request
from starlette.responses import Response

log = structlog.get_logger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_COOKIE = "chaser_csrf"


def content_security_policy(form_targets: Iterable[str] = ()) -> str:
    """No script at all (the pages work without JavaScript); forms post only to this site, and
    to ``form_targets`` (origins) that a form's answer redirects to: Chromium applies
    ``form-action`` to redirects, and signing out of Microsoft ends on Microsoft's page."""
    return "; ".join(
        (
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            " ".join(["form-action 'self'", *form_targets]),
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


CSP = content_security_policy()
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not "no-referrer": with it, browsers send "Origin: null" on form posts, which would defeat
    # the same-origin check. "same-origin" still keeps the link's token from other sites.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def csrf_token(secret: bytes, link_token: str) -> str:
    return hmac.new(secret, b"csrf:" + link_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, link_token: str, field: str, cookie: str) -> bool:
    expected = csrf_token(secret, link_token)
    return hmac.compare_digest(field, expected) and hmac.compare_digest(cookie, expected)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, allowed: Iterable[str]) -> bool:
    """False when the browser says the post came from another site (or hides where from)."""
    ok = {o.lower() for o in allowed} | {origin_of(str(request.base_url))}
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() in ok  # "null" (sandboxed frames, data: pages) is refused
    referer = request.headers.get("referer")
    if referer is not None:
        return origin_of(referer) in ok
    return True  # no browser hint (a script, an old client): the CSRF token still applies


_TOKEN_IN_PATH = re.compile(r"^/r/[^/]+")


def loggable_path(path: str) -> str:
    """The path without the link's token: tokens in logs would be credentials in logs."""
    return _TOKEN_IN_PATH.sub("/r/…", path)


def security_middleware(
    csp: str = CSP,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Security headers on every response, no caching of link pages (a signed-in page may be
    kept privately and revalidated, ``private, no-cache``), and a token-free log line."""

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.monotonic()
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        cache = response.headers.get("Cache-Control", "")
        if not request.url.path.startswith("/assets/") and not cache.startswith("private"):
            # nothing is kept, but a page that asks to be revalidated every time (with its ETag,
            # after the sign-in check: integrations.web.pages.with_etag)
            response.headers["Cache-Control"] = "no-store"
        log.info(
            "form_request",
            method=request.method,
            path=loggable_path(request.url.path),
            status=response.status_code,
            ms=round((time.monotonic() - started) * 1000),
        )
        return response

    return middleware
