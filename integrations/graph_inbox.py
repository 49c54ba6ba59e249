"""Microsoft Graph inbox: read replies from the shared mailbox incrementally, through msal and O365.

Why it is built this way:

- **Incremental, not by date.** Graph's message *delta* on the Inbox
  (``/users/{mailbox}/mailFolders/inbox/messages/delta``) hands back what arrived since a state
  token, so nothing is missed or re-read however irregular the polling is. O365 has no delta API,
  so the calls go through ``account.con.get``; the cursor Chaser stores is the whole
  ``@odata.deltaLink`` (Graph encodes the query options into it), and pages are followed through
  ``@odata.nextLink`` until the deltaLink arrives.
- **Arrivals only.** The first request asks for ``changeType=created``: otherwise marking a reply
  read (:meth:`GraphInbox.mark_processed`), or a colleague flagging it in Outlook, would bring it
  back as an "updated" message.
- **Starting now.** ``fetch(None)`` must not feed the whole existing Inbox to the reply parser, and
  paging through it only to throw it away could take thousands of requests. So the first request
  carries ``$filter=receivedDateTime ge <start>`` (the one filter message delta accepts, kept
  inside the delta token for later rounds), with ``<start>`` a few minutes before now so that a
  clock running ahead of Exchange's cannot hide a reply that arrives just after start-up. The
  first call therefore returns the replies of the last few minutes (normally none) and a cursor.
  ``initial="all"`` reads the whole Inbox instead; an aware ``datetime`` starts from that moment
  (to catch up after a :class:`StaleCursorError`, say).
- **At least once.** :meth:`GraphInbox.fetch` downloads every message before it returns the new
  cursor; any failure raises and the old cursor still works, so the next call returns the same
  messages again. Callers store the messages first (deduplicating on ``id``, which is immutable)
  and only then the cursor.
- **The real MIME.** Each message is fetched as RFC 5322 bytes (``GET .../messages/{id}/$value``),
  so multipart, HTML-only and attached replies reach the reply parser exactly as they were sent,
  as they would over SMTP; Graph's JSON ``body`` is Exchange's re-rendering of them.
- **Same connection as sending.** Authentication, timeouts, ``Prefer: IdType="ImmutableId"``, no
  silent urllib3 retries and the bearer-token log filter are :class:`GraphMailChannel`'s: one is
  held privately for its connection and never used to send.
- **The cursor is a URL our bearer token goes to**, so a cursor or link whose origin is not
  ``graph_url`` is refused before any request is made.

Failures follow the outbox's conventions (:mod:`integrations.http`): 429, 5xx, timeouts and
connection errors raise :class:`TransientError` (with ``retry_after`` from ``Retry-After``);
401/403/404 raise :class:`PermanentError` naming the fix; 410 (Graph dropped the sync state behind
the cursor) raises :class:`StaleCursorError`. The client secret and tokens never appear in errors.

One instance per worker thread: O365's connection object is not thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import requests
import structlog

from integrations.graph_mail import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_GRAPH_URL,
    GraphMailChannel,
    graph_settings,
)
from integrations.http import DEFAULT_TIMEOUT, raise_for_status
from notifications.channel import PermanentError, TransientError

log = structlog.get_logger(__name__)

#: Where a first :meth:`GraphInbox.fetch` starts: now, the whole folder, or a given moment.
Initial = Literal["now", "all"] | datetime

#: Messages per delta page (Graph's default for messages is 10).
DEFAULT_PAGE_SIZE = 50
#: ``initial="now"`` starts this long before our clock's now (see the module docstring).
START_MARGIN = timedelta(minutes=5)

#: ``isDraft`` so a draft someone saved in the Inbox is never taken for a reply.
_DELTA_SELECT = "id,internetMessageId,receivedDateTime,isDraft"
_ADMIN_DOC = "see docs/microsoft-365.md"
_FIX_BY_STATUS = {
    401: (
        "Graph refused the app's token: check CHASER_GRAPH_TENANT_ID is the tenant that owns "
        f"the mailbox and CHASER_GRAPH_CLIENT_ID is that tenant's app registration ({_ADMIN_DOC})"
    ),
    403: (
        "the app lacks Mail.Read (to read the Inbox) or Mail.ReadWrite (to mark replies read) on "
        "the shared mailbox: grant Mail.ReadWrite with Exchange RBAC for Applications, scoped to "
        f"that mailbox ({_ADMIN_DOC})"
    ),
    404: (
        "no such mailbox or folder: check CHASER_GRAPH_MAILBOX is the shared mailbox's primary "
        f"SMTP address and that it exists in Exchange Online ({_ADMIN_DOC})"
    ),
}


@dataclass(frozen=True)
class InboundMessage:
    """One message that arrived in the shared mailbox, as the reply parser needs it."""

    #: Graph's immutable id: stable when the message is moved; what :meth:`mark_processed` takes.
    id: str
    #: The RFC 5322 ``Message-ID`` (with angle brackets), or "" if the message had none.
    internet_message_id: str
    #: When Exchange received it (timezone-aware, UTC).
    received_at: datetime
    #: The full RFC 5322 message, byte for byte as Graph's ``$value`` returned it.
    raw: bytes = field(repr=False)


class StaleCursorError(PermanentError):
    """The cursor can no longer be used: Graph dropped its sync state (``410 Gone``, after a long
    pause or a mailbox move) or it belongs to another Graph endpoint. Start again with
    ``fetch(None, initial=...)``, from the last message's ``received_at`` to miss nothing."""


class _NotFoundError(PermanentError):
    """404: the message (or, on the first request, the mailbox or folder) does not exist."""


class GraphInbox:
    """Reads the messages that arrive in a shared mailbox's folder (the Inbox) through Graph.

    Construction makes no network call; the first :meth:`fetch` discovers the tenant and fetches
    a token (msal caches it until it nearly expires).
    """

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
        folder: str = "inbox",
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        for label, value in (
            ("tenant_id", tenant_id),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("mailbox", mailbox),
            ("folder", folder),
        ):
            if not value:
                raise ValueError(f"GraphInbox needs {label}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        # The sending channel owns the msal/O365 set-up; it is never asked to send from here.
        self._graph = GraphMailChannel(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            mailbox=mailbox,
            authority_host=authority_host,
            graph_url=graph_url,
            timeout=timeout,
        )
        self.mailbox = mailbox
        self.client_id = client_id
        self.graph_url = self._graph.graph_url
        self.folder = folder
        self.page_size = page_size
        self._origin = _origin(self.graph_url)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> GraphInbox:
        """Build from the same ``CHASER_GRAPH_*`` variables as the sending channel."""
        return cls(**graph_settings(environ, what="the Graph inbox"), timeout=timeout)

    def __repr__(self) -> str:
        return (
            f"GraphInbox(mailbox={self.mailbox!r}, folder={self.folder!r}, "
            f"client_id={self.client_id!r})"
        )

    def __enter__(self) -> GraphInbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the inbox interface -----------------------------------------------------------------

    def fetch(
        self, cursor: str | None, *, initial: Initial = "now"
    ) -> tuple[list[InboundMessage], str]:
        """The messages that arrived since ``cursor``, oldest first, and the cursor to pass next.

        ``cursor`` is the string a previous call returned; ``None`` starts tracking, from
        ``initial`` (ignored when there is a cursor): ``"now"`` (the default: an existing Inbox is
        not re-read, and the first call normally returns no messages), ``"all"`` (everything in
        the folder) or an aware datetime. Store the messages before the returned cursor: if this
        raises, nothing has moved on and the same cursor returns the same messages again.
        """
        url = self._start_url(initial) if cursor is None else self._cursor_url(cursor)
        self._graph._authenticate()
        items, delta_link = self._changes(url)
        messages = [message for item in items if (message := self._download(item)) is not None]
        log.info(
            "graph_inbox.fetched",
            mailbox=self.mailbox,
            folder=self.folder,
            messages=len(messages),
            started=cursor is None,
        )
        return messages, delta_link

    def mark_processed(self, message_id: str) -> None:
        """Mark the message read, so people sharing the mailbox see Chaser has taken it.

        Bookkeeping only -- :meth:`fetch` never relies on it (it asks for arrivals, not unread
        messages) -- so a message deleted in the meantime is not an error.
        """
        if not message_id:
            raise ValueError("mark_processed needs a message id")
        self._graph._authenticate()
        url = self._message_url(message_id)
        try:
            with self._errors("Graph: marking the message read"):
                self._graph._account.con.patch(url, data={"isRead": True})
        except _NotFoundError:
            log.info("graph_inbox.mark_read_gone", mailbox=self.mailbox, message_id=message_id)

    def close(self) -> None:
        """Release the HTTP sessions (Graph's and msal's)."""
        self._graph.close()

    # -- internals ---------------------------------------------------------------------------

    def _start_url(self, initial: Initial) -> str:
        params = {"changeType": "created", "$select": _DELTA_SELECT}
        since: datetime | None
        if isinstance(initial, datetime):
            if initial.tzinfo is None or initial.utcoffset() is None:
                raise ValueError("initial must be timezone-aware")
            since = initial
        elif initial == "now":
            since = datetime.now(UTC) - START_MARGIN
        elif initial == "all":
            since = None
        else:
            raise ValueError(f"initial must be 'now', 'all' or a datetime, not {initial!r}")
        if since is not None:
            # Whole seconds, rounded down: "ge" then errs towards reading one second more.
            stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            params["$filter"] = f"receivedDateTime ge {stamp}"
        folder = quote(self.folder, safe="")
        base = self._graph._mailbox.build_url(f"/mailFolders/{folder}/messages/delta")
        return f"{base}?{urlencode(params, quote_via=quote, safe='$,:')}"

    def _cursor_url(self, cursor: str) -> str:
        if _origin(cursor) != self._origin:
            raise StaleCursorError(
                f"the cursor is not for {self._origin} (was graph_url changed?): start again "
                "with fetch(None, initial=...)"
            )
        return cursor

    def _changes(self, url: str) -> tuple[list[dict[str, Any]], str]:
        """Follow one round of delta pages: the new messages' metadata and the deltaLink."""
        items: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        visited: set[str] = set()
        what = "Graph: reading new messages"
        while True:
            if url in visited:
                raise TransientError(f"{what}: Graph repeated a page link")
            visited.add(url)
            with self._errors(what):
                response = self._graph._account.con.get(
                    url, headers={"Prefer": f"odata.maxpagesize={self.page_size}"}
                )
            page = _json_object(response, what)
            for item in page.get("value") or []:
                if not isinstance(item, dict) or "@removed" in item or item.get("isDraft"):
                    continue
                message_id = str(item.get("id") or "")
                if message_id and message_id not in seen_ids:
                    seen_ids.add(message_id)
                    items.append(item)
            next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
            if isinstance(next_link, str) and next_link:
                url = self._server_link(next_link, "@odata.nextLink")
            elif isinstance(delta_link, str) and delta_link:
                return items, self._server_link(delta_link, "@odata.deltaLink")
            else:
                raise TransientError(f"{what}: a page had neither a nextLink nor a deltaLink")

    def _server_link(self, link: str, label: str) -> str:
        if _origin(link) != self._origin:
            raise PermanentError(
                f"Graph: refusing to follow an {label} to another host ({urlsplit(link).netloc})"
            )
        return link

    def _download(self, item: Mapping[str, Any]) -> InboundMessage | None:
        """The message's MIME, or None if it was deleted since the delta listed it."""
        message_id = str(item["id"])
        try:
            with self._errors("Graph: downloading a message"):
                response = self._graph._account.con.get(f"{self._message_url(message_id)}/$value")
        except _NotFoundError:
            # Gone already (someone deleted it): there is nothing left to read, and raising
            # would stop every later reply behind it.
            log.warning("graph_inbox.message_gone", mailbox=self.mailbox, message_id=message_id)
            return None
        return InboundMessage(
            id=message_id,
            internet_message_id=str(item.get("internetMessageId") or ""),
            received_at=_received_at(item.get("receivedDateTime"), message_id),
            raw=response.content,
        )

    def _message_url(self, message_id: str) -> str:
        return str(self._graph._mailbox.build_url(f"/messages/{quote(message_id, safe='')}"))

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn what O365/requests raise into TransientError/PermanentError, naming the fix."""
        try:
            yield
        except requests.HTTPError as exc:
            response = exc.response
            if response is None:
                raise TransientError(f"{what}: {type(exc).__name__}") from None
            if response.status_code == 410:
                raise StaleCursorError(
                    f"{what}: HTTP 410: Graph no longer has the sync state behind the cursor: "
                    "start again with fetch(None, initial=<the last received_at>)"
                ) from None
            try:
                raise_for_status(response, what)
            except PermanentError as permanent:
                fix = _FIX_BY_STATUS.get(response.status_code)
                text = f"{permanent}: {fix}" if fix else str(permanent)
                if response.status_code == 404:
                    raise _NotFoundError(text) from None
                raise PermanentError(text) from None
            raise TransientError(f"{what}: HTTP {response.status_code}") from None
        except requests.RequestException as exc:  # timeouts, connection and TLS errors
            # Not chained: requests' message quotes the URL, and a cursor is a capability.
            raise TransientError(f"{what}: {type(exc).__name__}") from None
        except RuntimeError as exc:
            # O365 renewing an expired token: "Refresh token operation failed: invalid_client".
            raise PermanentError(f"{what}: Entra ID refused to renew the token ({exc})") from exc


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _json_object(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"{what}: Graph answered with something other than JSON") from None
    if not isinstance(body, dict):
        raise TransientError(f"{what}: Graph answered with an unexpected JSON shape")
    return body


def _received_at(value: Any, message_id: str) -> datetime:
    """Graph's ``receivedDateTime`` as an aware datetime (UTC if Graph gave no offset)."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        # Never block the inbox on one odd timestamp: the MIME still has its Date header.
        log.warning("graph_inbox.bad_received_at", message_id=message_id)
        return datetime.now(UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
