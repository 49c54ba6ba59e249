"""One app's connection to Microsoft Graph: an msal token and a session, shared by mail in and out.

:class:`GraphClient` is the only place Chaser talks to Entra ID and Graph. Sending mail
(:mod:`integrations.channels.graph_mail`) and reading replies (:mod:`integrations.graph.inbox`)
both go through one instance, so there is one token cache and one connection pool.

- **Auth** is the client-credentials flow (app-only), through a real msal
  ``ConfidentialClientApplication`` with scope ``https://graph.microsoft.com/.default``. msal
  caches the token and renews it shortly before it expires; the authority is configurable (national
  clouds, and the local fake Graph in the tests), with instance discovery off when it is not
  Microsoft's own. msal gets our :class:`~integrations.http.TimeoutSession` as its HTTP client.
- **Requests** go through one :class:`~integrations.http.TimeoutSession` (explicit timeouts, no
  urllib3 retries): retries, backoff and ``Retry-After`` are the outbox's, so nothing silently
  repeats a POST. Every request carries ``Prefer: IdType="ImmutableId"``, so a message keeps its
  id when Exchange moves it from Drafts to Sent Items.
- **Failures** map onto the outbox's two outcomes: 429, 5xx, timeouts and connection errors raise
  :class:`TransientError` (with ``retry_after``), other 4xx and token errors such as
  ``invalid_client`` raise :class:`PermanentError` naming the fix. 404 and 410 have their own
  subclasses, for callers to whom they mean something (a message already gone, a stale cursor).
  The client secret and tokens never appear in an exception, its chain, or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import structlog

from integrations.http import DEFAULT_TIMEOUT, TimeoutSession, raise_for_status
from notifications.channel import PermanentError, TransientError

log = structlog.get_logger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

#: The variables that configure Graph (chaser.settings reads them); named in every fix.
ENV_TENANT_ID = "CHASER_GRAPH_TENANT_ID"
ENV_CLIENT_ID = "CHASER_GRAPH_CLIENT_ID"
ENV_CLIENT_SECRET = "CHASER_GRAPH_CLIENT_SECRET"  # the name, not the secret
ENV_MAILBOX = "CHASER_GRAPH_MAILBOX"
ADMIN_DOC = "see docs/microsoft-365.md"

#: What to do about each refusal, whoever made the request (callers add their own for 403).
FIX_BY_STATUS = {
    401: (
        f"Graph refused the app's token: check {ENV_TENANT_ID} is the tenant that owns "
        f"the mailbox and {ENV_CLIENT_ID} is that tenant's app registration ({ADMIN_DOC})"
    ),
    404: (
        f"no such mailbox, folder or message: check {ENV_MAILBOX} is the shared mailbox's "
        f"primary SMTP address and that it exists in Exchange Online ({ADMIN_DOC})"
    ),
}
_TRANSIENT_TOKEN_ERRORS = {"temporarily_unavailable", "server_error"}


class NotFoundError(PermanentError):
    """404: the mailbox, folder or message does not exist (or no longer does)."""


class GoneError(PermanentError):
    """410: Graph no longer has what the request pointed at (a delta cursor's sync state)."""


class GraphClient:
    """Authenticated requests to Microsoft Graph as one app registration.

    Construction makes no network call; the first request discovers the tenant and fetches a
    token. Safe to share between the mail channel and the inbox of one service.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        graph_url: str = DEFAULT_GRAPH_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        for label, value in (
            ("tenant_id", tenant_id),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ):
            if not value:
                raise ValueError(f"GraphClient needs {label}")
        for label, url in (("authority_host", authority_host), ("graph_url", graph_url)):
            if urlsplit(url).scheme != "https":
                raise ValueError(f"{label} must be an https URL (msal accepts nothing else)")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.authority_host = authority_host.rstrip("/")
        self.graph_url = graph_url.rstrip("/")
        self.timeout = (timeout, timeout) if isinstance(timeout, int | float) else timeout
        self._secret = client_secret
        self._session = TimeoutSession(self.timeout)
        self._session.headers["Prefer"] = 'IdType="ImmutableId"'
        self._msal_http = TimeoutSession(self.timeout)
        self._msal: Any = None

    def __repr__(self) -> str:  # never shows the secret
        return f"GraphClient(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    @property
    def origin(self) -> tuple[str, str]:
        """Graph's scheme and host: the only place the bearer token may be sent."""
        return origin_of(self.graph_url)

    def mailbox_url(self, mailbox: str, path: str = "") -> str:
        """``{graph_url}/users/{mailbox}{path}``."""
        return f"{self.graph_url}/users/{quote(mailbox, safe='@')}{path}"

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        fixes: Mapping[int, str] | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One authenticated request; any failure raises Transient/PermanentError naming the
        fix (``fixes`` adds the caller's own, by status, to :data:`FIX_BY_STATUS`)."""
        if origin_of(url) != self.origin:
            raise PermanentError(f"{what}: refusing to send the token to {urlsplit(url).netloc}")
        token = self.token()
        try:
            response = self._session.request(
                method,
                url,
                json=json,
                params=params,
                headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:  # timeouts, connection and TLS errors
            # Not chained: requests' message quotes the URL, and a cursor URL is a capability.
            raise TransientError(f"{what}: {type(exc).__name__}") from None
        status = response.status_code
        if status == 410:
            raise GoneError(f"{what}: HTTP 410")
        try:
            raise_for_status(response, what)
        except PermanentError as refused:
            fix = {**FIX_BY_STATUS, **(fixes or {})}.get(status)
            text = f"{refused}: {fix}" if fix else str(refused)
            raise (NotFoundError if status == 404 else PermanentError)(text) from None
        return response

    def token(self) -> str:
        """An app-only access token (msal's cached one while it is valid).

        Asked of msal directly rather than through a wrapper that reduces its error to False: the
        error code is what says whether waiting can help.
        """
        from msal.exceptions import MsalServiceError

        try:
            result = self._app().acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except requests.RequestException as exc:
            raise TransientError(f"Entra ID token request: {type(exc).__name__}") from None
        except MsalServiceError:
            raise TransientError("Entra ID token request: server error") from None
        except ValueError:
            # msal's OIDC discovery got a 4xx: usually an unknown tenant.
            raise PermanentError(
                f"Entra ID does not know tenant {self.tenant_id!r} at {self.authority_host}: "
                f"check {ENV_TENANT_ID} ({ADMIN_DOC})"
            ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        raise _token_error(result if isinstance(result, dict) else {})

    def close(self) -> None:
        """Release the HTTP sessions (Graph's and msal's)."""
        self._session.close()
        self._msal_http.close()

    def _app(self) -> Any:
        if self._msal is None:
            from msal import ConfidentialClientApplication  # heavy: only when Graph is used

            overridden = self.authority_host != DEFAULT_AUTHORITY_HOST
            self._msal = ConfidentialClientApplication(
                client_id=self.client_id,
                client_credential=self._secret,
                authority=f"{self.authority_host}/{self.tenant_id}",
                http_client=self._msal_http,
                instance_discovery=False if overridden else None,
            )
        return self._msal


def origin_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _token_error(result: Mapping[str, Any]) -> TransientError | PermanentError:
    error = str(result.get("error") or "unknown_error")
    codes = [int(c) for c in result.get("error_codes") or [] if str(c).isdigit()]
    label = error + "".join(f", AADSTS{c}" for c in codes)
    if error in _TRANSIENT_TOKEN_ERRORS:
        return TransientError(f"Entra ID token request: {label}")
    if 7000222 in codes:
        fix = f"the client secret has expired: create a new one and set {ENV_CLIENT_SECRET}"
    elif error == "invalid_client":
        fix = (
            f"the client secret was refused: set {ENV_CLIENT_SECRET} to the secret's Value "
            "(not its Secret ID), or create a new secret in the app registration"
        )
    elif error == "unauthorized_client" or 700016 in codes:
        fix = (
            f"no such app in this tenant: check {ENV_CLIENT_ID} and {ENV_TENANT_ID} "
            "(the app registration must live in the tenant that owns the mailbox)"
        )
    elif 90002 in codes or error == "invalid_tenant":
        fix = f"no such tenant: check {ENV_TENANT_ID}"
    elif error == "invalid_scope":
        fix = f"the token scope must be {GRAPH_SCOPE}"
    else:
        description = str(result.get("error_description") or "").split(" Trace ID:")[0]
        fix = description[:200] or "see the Entra ID sign-in logs for the app"
    return PermanentError(f"Entra ID refused the token request ({label}): {fix} ({ADMIN_DOC})")
