"""The one HTTP helper every outgoing call goes through: explicit timeouts, errors classified.

Retries are not done here: the outbox owns them (with backoff, jitter and ``Retry-After``), so a
POST is never silently repeated by a library. msal and O365 get :class:`TimeoutSession` so their
calls have timeouts too (O365 has none by default).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from notifications.channel import PermanentError, TransientError

#: (connect, read) seconds.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)


class TimeoutSession(requests.Session):
    """A requests session whose every request has a timeout unless one is given."""

    def __init__(self, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def raise_for_status(response: requests.Response, what: str) -> None:
    """TransientError for 429/5xx (with Retry-After), PermanentError for other 4xx."""
    status = response.status_code
    if status < 400:
        return
    detail = _error_detail(response)
    if status == 429 or status >= 500:
        raise TransientError(
            f"{what}: HTTP {status}{detail}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    raise PermanentError(f"{what}: HTTP {status}{detail}")


def call(
    session: requests.Session, method: str, url: str, *, what: str, **kwargs: Any
) -> requests.Response:
    """Make one request; network failures become TransientError, bad statuses are classified."""
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    try:
        response = session.request(method, url, **kwargs)
    except (requests.Timeout, requests.ConnectionError) as exc:
        # Not chained: requests' own message quotes the URL, and webhook URLs carry secrets.
        raise TransientError(f"{what}: {type(exc).__name__}") from None
    raise_for_status(response, what)
    return response


def _error_detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code", ""), error.get("message", "")
        return f" ({code}: {message})"[:300]
    return ""
