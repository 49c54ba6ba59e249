"""Microsoft Graph mail: send as a shared mailbox, exactly once, through msal and O365.

Why it is built this way:

- **Auth** is the client-credentials flow (app-only): a real msal ``ConfidentialClientApplication``
  with scope ``https://graph.microsoft.com/.default``. O365's ``Connection`` hard-codes Microsoft's
  authority and builds msal without our HTTP session, so :class:`_Connection` overrides
  ``msal_client`` (our authority, ``instance_discovery=False`` only when the authority is
  overridden, ``http_client=TimeoutSession``) and ``get_session`` (a :class:`TimeoutSession`
  without urllib3's retry adapter). Every request therefore has an explicit timeout, and nothing
  silently repeats a POST: retries, backoff and ``Retry-After`` belong to the outbox.
- **Exactly once.** Graph's ``sendMail`` answers 202 with no id, so a crash after Microsoft
  accepted a message but before Chaser recorded it would be invisible. Instead :meth:`send`
  creates a draft stamped with the outbox key twice over -- an ``X-Chaser-Key`` internet message
  header (travels with the mail, visible to recipients' systems) and a named
  ``singleValueExtendedProperty`` (:data:`KEY_PROPERTY_ID`, which Graph can ``$filter`` on; the
  header cannot be filtered) -- and then sends that draft. :meth:`find_sent` looks the key up in
  Sent Items (and the Outbox) to answer "did it go?" after a crash; see docs/microsoft-365.md for
  the window that remains.
- **Attachments** (the digest's XLSX and DOCX) are POSTed one by one as
  ``#microsoft.graph.fileAttachment`` objects to ``/messages/{id}/attachments`` *after* the draft
  is created and stamped, and before it is sent. Not O365's ``message.attachments``: its
  ``fileAttachment`` has no ``contentType`` (Graph would guess one), and it would put every
  attachment into the draft-create request, whose 4 MB limit two ~1 MB files (base64) approach.
  Graph takes a file in one POST only up to 3 MB (:data:`MAX_ATTACHMENT_BYTES`); larger ones need an
  upload session, which Chaser does not do, so :meth:`send` refuses them before calling Graph.
  Because the draft exists before its attachments, a crash can leave a stamped draft with only
  some of them: recovery (:meth:`find_sent`, or a retry after an unknown outcome) lists the
  leftover draft's attachments and adds those missing *by file name* before sending it. An
  attachment POST is atomic in Graph (it either created the attachment or did not), and the
  outbox's message for a key never changes, so a name already on the draft is that file; sizes are
  not compared, as Graph's ``size`` includes its own overhead.
- ``Prefer: IdType="ImmutableId"`` keeps a message's id stable when Exchange moves it from Drafts
  to Sent Items.

Failures map onto the outbox's two outcomes: 429, 5xx, timeouts and connection errors raise
:class:`TransientError` (with ``retry_after`` from ``Retry-After``); 400/401/403/404 and token
errors such as ``invalid_client`` raise :class:`PermanentError` naming the fix. The client secret
and access tokens never appear in exception messages or (via a filter on O365's logger) logs.

One instance per worker thread: O365's connection object is not thread-safe.
"""

from __future__ import annotations

import logging
import os
import re
from base64 import b64encode
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parseaddr
from typing import Any, TypedDict
from urllib.parse import quote, urlencode, urlsplit

import requests
import structlog
from msal import ConfidentialClientApplication
from msal.exceptions import MsalServiceError
from O365 import Account
from O365.connection import Connection, MSGraphProtocol
from O365.utils.token import MemoryTokenBackend

from integrations.http import DEFAULT_TIMEOUT, TimeoutSession, raise_for_status
from notifications.channel import (
    Attachment,
    OutgoingMessage,
    PermanentError,
    Receipt,
    TransientError,
)

log = structlog.get_logger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

#: The internet message header carrying the outbox key on every message Chaser sends.
KEY_HEADER = "X-Chaser-Key"
#: The named MAPI property carrying the same key, in Chaser's own property set (a fixed GUID).
#: Unlike internet headers, extended properties can be searched with ``$filter``.
KEY_PROPERTY_ID = "String {f36b38d6-821a-4097-9936-3e18f987e04e} Name ChaserKey"

#: Environment variables read by :meth:`GraphMailChannel.from_env`.
ENV_TENANT_ID = "CHASER_GRAPH_TENANT_ID"
ENV_CLIENT_ID = "CHASER_GRAPH_CLIENT_ID"
ENV_CLIENT_SECRET = "CHASER_GRAPH_CLIENT_SECRET"  # the name, not the secret
ENV_MAILBOX = "CHASER_GRAPH_MAILBOX"
ENV_AUTHORITY_HOST = "CHASER_GRAPH_AUTHORITY_HOST"  # optional (national clouds, tests)
ENV_GRAPH_URL = "CHASER_GRAPH_URL"  # optional

#: The largest file Graph accepts in one attachment POST (3 MB); larger needs an upload session.
MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024
_ATTACHMENT_TOO_LARGE = "attachments over 3 MB need an upload session; not supported"

#: Folders searched for an already-sent message: once in either, it is Exchange's to deliver.
_SENT_FOLDERS = ("sentitems", "outbox")
_SELECT = "id,internetMessageId,isDraft,parentFolderId,createdDateTime"
_ADMIN_DOC = "see docs/microsoft-365.md"


class GraphSettings(TypedDict):
    tenant_id: str
    client_id: str
    client_secret: str
    mailbox: str
    authority_host: str
    graph_url: str


def graph_settings(
    environ: Mapping[str, str] | None = None, *, what: str = "Graph", mailbox: str = ""
) -> GraphSettings:
    """The ``CHASER_GRAPH_*`` settings as constructor arguments, for sending and reading alike.

    ``mailbox`` is the default when ``CHASER_GRAPH_MAILBOX`` is unset. Raises ValueError naming
    every missing variable.
    """
    env = os.environ if environ is None else environ
    settings = GraphSettings(
        tenant_id=env.get(ENV_TENANT_ID, ""),
        client_id=env.get(ENV_CLIENT_ID, ""),
        client_secret=env.get(ENV_CLIENT_SECRET, ""),
        mailbox=env.get(ENV_MAILBOX) or mailbox,
        authority_host=env.get(ENV_AUTHORITY_HOST) or DEFAULT_AUTHORITY_HOST,
        graph_url=env.get(ENV_GRAPH_URL) or DEFAULT_GRAPH_URL,
    )
    required = (
        (settings["tenant_id"], ENV_TENANT_ID),
        (settings["client_id"], ENV_CLIENT_ID),
        (settings["client_secret"], ENV_CLIENT_SECRET),
        (settings["mailbox"], ENV_MAILBOX),
    )
    missing = [name for value, name in required if not value]
    if missing:
        raise ValueError(f"{what} needs {', '.join(missing)} ({_ADMIN_DOC})")
    return settings


_FIX_BY_STATUS = {
    401: (
        "Graph refused the app's token: check CHASER_GRAPH_TENANT_ID is the tenant that owns "
        f"the mailbox and CHASER_GRAPH_CLIENT_ID is that tenant's app registration ({_ADMIN_DOC})"
    ),
    403: (
        "the app lacks Mail.Send (and Mail.ReadWrite, for drafts) on the shared mailbox: grant "
        "them with Exchange RBAC for Applications, scoped to that mailbox "
        f"({_ADMIN_DOC})"
    ),
    404: (
        "no such mailbox or message: check CHASER_GRAPH_MAILBOX is the shared mailbox's primary "
        f"SMTP address and that it exists in Exchange Online ({_ADMIN_DOC})"
    ),
    413: f"Graph refused the request as too large: {_ATTACHMENT_TOO_LARGE}",
}
_TRANSIENT_TOKEN_ERRORS = {"temporarily_unavailable", "server_error"}


class _RedactBearer(logging.Filter):
    """O365 logs the session's headers at DEBUG, bearer token included: redact it."""

    _BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Bearer" in message:
            record.msg = self._BEARER.sub("Bearer [redacted]", message)
            record.args = ()
        return True


def _install_log_redaction() -> None:
    logger = logging.getLogger("O365.connection")
    if not any(isinstance(f, _RedactBearer) for f in logger.filters):
        logger.addFilter(_RedactBearer())


class _GraphProtocol(MSGraphProtocol):  # type: ignore[misc]
    """MSGraphProtocol with a configurable base URL (it reads ``_protocol_url`` before init)."""

    def __init__(self, *, graph_url: str) -> None:
        base, _, version = graph_url.rstrip("/").rpartition("/")
        self._protocol_url = f"{base}/"
        super().__init__(api_version=version, timezone="UTC")


class _Connection(Connection):  # type: ignore[misc]
    """O365's Connection with our authority, our msal options and timeout-bound sessions."""

    def __init__(
        self,
        credentials: tuple[str, str],
        *,
        authority: str,
        instance_discovery: bool | None,
        http_timeout: tuple[float, float],
        **kwargs: Any,
    ) -> None:
        super().__init__(credentials, timeout=http_timeout, **kwargs)
        self._msal_client: Any = None
        self._chaser_authority = authority
        self._chaser_instance_discovery = instance_discovery
        self._chaser_timeout = http_timeout
        #: msal's HTTP client, kept so :meth:`GraphMailChannel.close` can close it.
        self.msal_http = TimeoutSession(http_timeout)

    @property
    def msal_client(self) -> Any:
        if self._msal_client is None:
            self._msal_client = ConfidentialClientApplication(
                client_id=self.auth[0],
                client_credential=self.auth[1],
                authority=self._chaser_authority,
                token_cache=self.token_backend,
                http_client=self.msal_http,
                instance_discovery=self._chaser_instance_discovery,
            )
        return self._msal_client

    def get_session(self, load_token: bool = False) -> requests.Session:
        """Like O365's, but a :class:`TimeoutSession` and no urllib3 retries (the outbox's job)."""
        if load_token and not self.token_backend.has_data:
            self.load_token_from_backend()
        session = TimeoutSession(self._chaser_timeout)
        token = self.token_backend.get_access_token(username=self.username)
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token['secret']}"
        session.proxies.update(self.proxy)
        return session

    def get_naive_session(self) -> requests.Session:
        session = TimeoutSession(self._chaser_timeout)
        session.proxies.update(self.proxy)
        return session


class _Account(Account):  # type: ignore[misc]
    connection_constructor = _Connection


class GraphMailChannel:
    """Sends :class:`OutgoingMessage` as a shared mailbox through Microsoft Graph.

    Construction makes no network call; the first :meth:`send` or :meth:`find_sent` discovers
    the tenant and fetches a token (msal caches it until it nearly expires).
    """

    name = "email"

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        mailbox: str,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        graph_url: str = DEFAULT_GRAPH_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        for label, value in (
            ("tenant_id", tenant_id),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("mailbox", mailbox),
        ):
            if not value:
                raise ValueError(f"GraphMailChannel needs {label}")
        for label, url in (("authority_host", authority_host), ("graph_url", graph_url)):
            if urlsplit(url).scheme != "https":
                raise ValueError(f"{label} must be an https URL (msal accepts nothing else)")
        _install_log_redaction()
        self.mailbox = mailbox
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.authority_host = authority_host.rstrip("/")
        self.graph_url = graph_url.rstrip("/")
        self.timeout = (timeout, timeout) if isinstance(timeout, int | float) else timeout
        overridden = self.authority_host != DEFAULT_AUTHORITY_HOST
        self._account = _Account(
            (client_id, client_secret),
            auth_flow_type="credentials",
            tenant_id=tenant_id,
            protocol=_GraphProtocol(graph_url=self.graph_url),
            token_backend=MemoryTokenBackend(),
            authority=f"{self.authority_host}/{tenant_id}",
            instance_discovery=False if overridden else None,
            http_timeout=self.timeout,
            default_headers={"Prefer": 'IdType="ImmutableId"'},
            request_retries=0,  # the outbox retries, honouring Retry-After
            requests_delay=0,  # the outbox's per-mailbox token bucket paces sends
        )
        self._mailbox = self._account.mailbox(resource=mailbox)
        #: Keys whose last attempt in this process began creating a draft but never
        #: confirmed the send; the next :meth:`send` for such a key recovers first.
        self._unsettled: set[str] = set()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> GraphMailChannel:
        """Build from ``CHASER_GRAPH_*`` variables (the secret never lives in YAML)."""
        return cls(**graph_settings(environ, what="Graph mail"), timeout=timeout)

    def __repr__(self) -> str:
        return f"GraphMailChannel(mailbox={self.mailbox!r}, client_id={self.client_id!r})"

    # -- the Channel interface -------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> Receipt:
        """Create a draft stamped with ``message.key``, attach ``message.attachments`` to it, then
        send that draft.

        If an earlier attempt in this process left the outcome unknown (a timeout or 5xx after
        the draft was created), recover first (:meth:`find_sent`) so a retry never sends twice.
        """
        self._check(message)
        self._authenticate()
        if message.key in self._unsettled:
            found = self._recover(message)
            if found is not None:
                return found
        draft = self._mailbox.new_message()
        self._compose(draft, message)
        self._unsettled.add(message.key)
        try:
            with self._graph_errors("Graph: creating the draft"):
                if not draft.save_draft():
                    raise TransientError("Graph: creating the draft failed")
            self._attach(draft.object_id, message.attachments)
            internet_message_id = self._internet_message_id(draft.object_id)
            with self._graph_errors("Graph: sending the draft"):
                if not draft.send():
                    raise TransientError("Graph: sending the draft failed")
        except PermanentError:
            self._unsettled.discard(message.key)
            if draft.object_id:
                self._discard_draft(draft)
            raise
        self._unsettled.discard(message.key)
        return Receipt(
            provider_id=internet_message_id or str(draft.object_id),
            detail=f"graph message {draft.object_id}",
        )

    def find_sent(self, message: OutgoingMessage) -> Receipt | None:
        """After a crash left the delivery's fate unknown: the receipt if a message with this key
        is in Sent Items (or the Outbox, already submitted), else None.

        A draft with the key that was never sent (the crash came between creating and sending
        it) is sent now and its receipt returned, so recovery never creates a second draft; any of
        ``message.attachments`` the draft lacks (the crash came while attaching) are added first.
        Like :meth:`send`, this may raise TransientError or PermanentError.
        """
        self._authenticate()
        return self._recover(message)

    def close(self) -> None:
        con = self._account.con
        for session in (con.session, con.naive_session, con.msal_http):
            if session is not None:
                session.close()
        con.session = None
        con.naive_session = None

    # -- internals -------------------------------------------------------------------------

    def _check(self, message: OutgoingMessage) -> None:
        sender = parseaddr(message.sender)[1] if message.sender else ""
        if sender and sender.lower() != self.mailbox.lower():
            raise PermanentError(
                f"this Graph channel sends as {self.mailbox}, but the message is from "
                f"{sender}: configure a channel for that mailbox or change the sender"
            )
        if not message.to:
            raise PermanentError("the message has no recipients")
        for attachment in message.attachments:
            if len(attachment.data) > MAX_ATTACHMENT_BYTES:
                raise PermanentError(
                    f"attachment {attachment.filename!r} is {len(attachment.data)} bytes: "
                    f"{_ATTACHMENT_TOO_LARGE} (make it smaller or send a link to it)"
                )

    def _compose(self, draft: Any, message: OutgoingMessage) -> None:
        """Fill an O365 draft. Graph accepts only ``X-``/``x-`` internet headers, so others in
        ``message.headers`` are dropped (their names are logged, never their values)."""
        draft.subject = message.subject
        if message.html:
            draft.body_type = "HTML"
            draft.body = message.html
        else:
            draft.body_type = "Text"
            draft.body = message.text
        draft.to.add([(a.name, a.email) for a in message.to])
        if message.cc:
            draft.cc.add([(a.name, a.email) for a in message.cc])
        if message.reply_to:
            draft.reply_to.add((message.reply_to.name, message.reply_to.email))
        draft.add_message_header(KEY_HEADER, message.key)
        dropped = []
        for header, value in message.headers.items():
            if header.lower() == KEY_HEADER.lower():
                continue
            if header.lower().startswith("x-"):
                draft.add_message_header(header, value)
            else:
                dropped.append(header)
        if dropped:
            log.info("graph_mail.headers_dropped", headers=sorted(dropped), key=message.key)
        draft.single_value_extended_properties.append({"id": KEY_PROPERTY_ID, "value": message.key})

    def _attach(
        self, message_id: str, attachments: Iterable[Attachment], *, present: Iterable[str] = ()
    ) -> None:
        """POST each attachment to the draft as a ``fileAttachment``, skipping one per name in
        ``present`` (those a previous attempt already attached)."""
        already = Counter(present)
        url = self._mailbox.build_url(f"/messages/{message_id}/attachments")
        for attachment in attachments:
            if already[attachment.filename] > 0:
                already[attachment.filename] -= 1
                continue
            data = {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": attachment.filename,
                "contentType": attachment.content_type or "application/octet-stream",
                "contentBytes": b64encode(attachment.data).decode("ascii"),
            }
            with self._graph_errors(f"Graph: attaching {attachment.filename}"):
                self._account.con.post(url, data=data)

    def _attachment_names(self, message_id: str) -> list[str]:
        """The names of the attachments already on a message (without their content)."""
        url = self._mailbox.build_url(f"/messages/{message_id}/attachments")
        with self._graph_errors("Graph: listing the leftover draft's attachments"):
            response = self._account.con.get(url, params={"$select": "id,name"})
        return [str(item.get("name") or "") for item in response.json().get("value", [])]

    def _discard_draft(self, draft: Any) -> None:
        """Best effort: delete a draft Graph refused to send, so that a later recovery of the
        same key (after the dead letter is re-queued) cannot send its stale content."""
        try:
            with self._graph_errors("Graph: deleting the refused draft"):
                draft.delete()
        except (TransientError, PermanentError) as exc:
            log.warning("graph_mail.draft_left", reason=str(exc), message_id=draft.object_id)

    def _internet_message_id(self, message_id: str) -> str:
        """O365's save_draft keeps only the id; read the draft's RFC 5322 Message-ID back."""
        url = self._mailbox.build_url(f"/messages/{message_id}")
        with self._graph_errors("Graph: reading the draft"):
            response = self._account.con.get(url, params={"$select": "internetMessageId,isDraft"})
        return str(response.json().get("internetMessageId") or "")

    def _recover(self, message: OutgoingMessage) -> Receipt | None:
        key = message.key
        for folder in _SENT_FOLDERS:
            found = self._lookup(folder, key)
            if found:
                self._unsettled.discard(key)
                return self._receipt(found[0], f"found in {folder}")
        drafts = self._lookup("drafts", key)
        if not drafts:
            return None
        leftover = drafts[0]  # the oldest; any later duplicates stay unsent in Drafts
        draft = self._mailbox.message_constructor(
            parent=self._mailbox, **{self._mailbox._cloud_data_key: leftover}
        )
        if message.attachments:
            # The crash may have come while attaching: complete the set before sending.
            present = self._attachment_names(draft.object_id)
            self._attach(draft.object_id, message.attachments, present=present)
        with self._graph_errors("Graph: sending the leftover draft"):
            if not draft.send():
                raise TransientError("Graph: sending the leftover draft failed")
        self._unsettled.discard(key)
        return self._receipt(leftover, "sent the draft a previous attempt left")

    def _lookup(self, folder: str, key: str) -> list[dict[str, Any]]:
        """Messages in ``folder`` whose extended property carries ``key``, oldest first.

        The property is also ``$expand``-ed and checked here, so a server that ignored the
        filter could never make an unrelated message count as already sent.
        """
        literal = key.replace("'", "''")
        prop = KEY_PROPERTY_ID.replace("'", "''")
        params = {
            "$filter": (
                f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' "
                f"and ep/value eq '{literal}')"
            ),
            "$select": _SELECT,
            "$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')",
            "$top": "10",
        }
        query = urlencode(params, quote_via=quote, safe="$/(),:'")
        url = self._mailbox.build_url(f"/mailFolders/{folder}/messages")
        with self._graph_errors(f"Graph: searching {folder}"):
            response = self._account.con.get(f"{url}?{query}")
        matches = [
            item
            for item in response.json().get("value", [])
            if any(
                str(p.get("id", "")).lower() == KEY_PROPERTY_ID.lower() and p.get("value") == key
                for p in item.get("singleValueExtendedProperties", [])
            )
        ]
        return sorted(matches, key=lambda item: str(item.get("createdDateTime") or ""))

    @staticmethod
    def _receipt(item: Mapping[str, Any], detail: str) -> Receipt:
        return Receipt(
            provider_id=str(item.get("internetMessageId") or item.get("id") or ""),
            detail=f"graph message {item.get('id')}: {detail}",
        )

    def _authenticate(self) -> None:
        """Get an app-only token through msal (from its cache when still valid).

        Done here rather than through O365's ``authenticate()``, which reduces msal's error to
        ``False``: the error code is what says whether waiting can help.
        """
        con = self._account.con
        try:
            result = con.msal_client.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except requests.RequestException as exc:
            raise TransientError(f"Entra ID token request: {type(exc).__name__}") from exc
        except MsalServiceError as exc:
            raise TransientError("Entra ID token request: server error") from exc
        except ValueError as exc:
            # msal's OIDC discovery got a 4xx: usually an unknown tenant.
            raise PermanentError(
                f"Entra ID does not know tenant {self.tenant_id!r} at {self.authority_host}: "
                f"check {ENV_TENANT_ID} ({_ADMIN_DOC})"
            ) from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            if con.session is not None:
                con.update_session_auth_header(access_token=token)
            return
        raise self._token_error(result if isinstance(result, dict) else {})

    def _token_error(self, result: Mapping[str, Any]) -> TransientError | PermanentError:
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
        return PermanentError(f"Entra ID refused the token request ({label}): {fix} ({_ADMIN_DOC})")

    @contextmanager
    def _graph_errors(self, what: str) -> Iterator[None]:
        """Turn what O365/requests raise into the outbox's TransientError/PermanentError."""
        try:
            yield
        except requests.HTTPError as exc:
            response = exc.response
            if response is None:
                raise TransientError(f"{what}: {type(exc).__name__}") from exc
            try:
                raise_for_status(response, what)
            except PermanentError as permanent:
                fix = _FIX_BY_STATUS.get(response.status_code)
                raise PermanentError(f"{permanent}: {fix}" if fix else str(permanent)) from exc
            raise TransientError(f"{what}: HTTP {response.status_code}") from exc
        except requests.RequestException as exc:  # timeouts, connection and TLS errors
            raise TransientError(f"{what}: {type(exc).__name__}") from exc
        except RuntimeError as exc:
            # O365 renewing an expired token: "Refresh token operation failed: invalid_client".
            raise PermanentError(f"{what}: Entra ID refused to renew the token ({exc})") from exc
