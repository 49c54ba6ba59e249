"""Microsoft Graph inbox: read replies from the shared mailbox incrementally.

Why it is built this way:

- **Incremental, not by date.** Graph's message *delta* on the Inbox
  (``/users/{mailbox}/mailFolders/inbox/messages/delta``) hands back what arrived since a state
  token, so nothing is missed or re-read however irregular the polling is. O365 has no delta API,
  so the calls go straight through the Graph client; the cursor Chaser stores is the whole
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
- **What Exchange recorded of the sender.** A reply's ``From`` proves nothing; Exchange Online's
  ``Authentication-Results`` (SPF, DKIM, DMARC, composite authentication) does. It is read from
  the message's ``internetMessageHeaders`` (``GET .../messages/{id}`` with
  ``$select=internetMessageHeaders``: Graph returns them only when selected), in order, topmost
  first, where Exchange puts its own stamp above anything the sender wrote (see
  :mod:`workflows.replies.authentication`).
- **Same client as sending.** Authentication, timeouts, ``Prefer: IdType="ImmutableId"``, no
  silent retries and the error handling are :class:`~integrations.graph.client.GraphClient`'s,
  one instance shared with the mail channel.
- **The cursor is a URL our bearer token goes to**, so a cursor or link whose origin is not
  ``graph_url`` is refused before any request is made.

Failures follow the outbox's conventions (:mod:`integrations.http`): 429, 5xx, timeouts and
connection errors raise :class:`TransientError` (with ``retry_after`` from ``Retry-After``);
401/403/404 raise :class:`PermanentError` naming the fix; 410 (Graph dropped the sync state behind
the cursor) raises :class:`StaleCursorError`. The client secret and tokens never appear in errors.

One instance per worker thread: O365's connection object is not thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import requests
import structlog

from integrations.graph.client import ADMIN_DOC, GoneError, GraphClient, NotFoundError, origin_of
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
_FIXES = {
    403: (
        "the app lacks Mail.Read (to read the Inbox) or Mail.ReadWrite (to mark replies read) on "
        "the shared mailbox: grant Mail.ReadWrite with Exchange RBAC for Applications, scoped to "
        f"that mailbox ({ADMIN_DOC})"
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
    #: The headers as Exchange holds them (``internetMessageHeaders``: name, value), topmost first.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


class StaleCursorError(PermanentError):
    """The cursor can no longer be used: Graph dropped its sync state (``410 Gone``, after a long
    pause or a mailbox move) or it belongs to another Graph endpoint. Start again with
    ``fetch(None, initial=...)``, from the last message's ``received_at`` to miss nothing."""


class GraphInbox:
    """Reads the messages that arrive in a shared mailbox's folder (the Inbox) through Graph.

    Construction makes no network call; the first :meth:`fetch` discovers the tenant and fetches
    a token (msal caches it until it nearly expires).
    """

    def __init__(
        self,
        client: GraphClient,
        *,
        mailbox: str,
        folder: str = "inbox",
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        for label, value in (("mailbox", mailbox), ("folder", folder)):
            if not value:
                raise ValueError(f"GraphInbox needs {label}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.client = client
        self.mailbox = mailbox
        self.graph_url = client.graph_url
        self.folder = folder
        self.page_size = page_size

    def __repr__(self) -> str:
        return (
            f"GraphInbox(mailbox={self.mailbox!r}, folder={self.folder!r}, client={self.client!r})"
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
        try:
            self._call(
                "PATCH",
                self._message_url(message_id),
                "marking the message read",
                json={"isRead": True},
            )
        except NotFoundError:
            log.info("graph_inbox.mark_read_gone", mailbox=self.mailbox, message_id=message_id)

    def close(self) -> None:
        """Release the HTTP sessions (Graph's and msal's)."""
        self.client.close()

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
        base = self.client.mailbox_url(self.mailbox, f"/mailFolders/{folder}/messages/delta")
        return f"{base}?{urlencode(params, quote_via=quote, safe='$,:')}"

    def _cursor_url(self, cursor: str) -> str:
        if origin_of(cursor) != self.client.origin:
            raise StaleCursorError(
                f"the cursor is not for {self.client.origin} (was graph_url changed?): start again "
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
            response = self._call(
                "GET",
                url,
                "reading new messages",
                headers={"Prefer": f'odata.maxpagesize={self.page_size}, IdType="ImmutableId"'},
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
        if origin_of(link) != self.client.origin:
            raise PermanentError(
                f"Graph: refusing to follow an {label} to another host ({urlsplit(link).netloc})"
            )
        return link

    def _download(self, item: Mapping[str, Any]) -> InboundMessage | None:
        """The message's MIME and the headers Exchange holds for it, or None if it was deleted
        since the delta listed it."""
        message_id = str(item["id"])
        url = self._message_url(message_id)
        try:
            response = self._call("GET", f"{url}/$value", "downloading a message")
            described = self._call(
                "GET",
                f"{url}?{urlencode({'$select': 'internetMessageHeaders'}, safe='$')}",
                "reading a message's headers",
            )
        except NotFoundError:
            # Gone already (someone deleted it): there is nothing left to read, and raising
            # would stop every later reply behind it.
            log.warning("graph_inbox.message_gone", mailbox=self.mailbox, message_id=message_id)
            return None
        return InboundMessage(
            id=message_id,
            internet_message_id=str(item.get("internetMessageId") or ""),
            received_at=_received_at(item.get("receivedDateTime"), message_id),
            raw=response.content,
            headers=_headers(_json_object(described, "Graph: reading a message's headers")),
        )

    def _message_url(self, message_id: str) -> str:
        return self.client.mailbox_url(self.mailbox, f"/messages/{quote(message_id, safe='')}")

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            return self.client.request(method, url, what=f"Graph: {what}", fixes=_FIXES, **kwargs)
        except GoneError:
            raise StaleCursorError(
                f"Graph: {what}: HTTP 410: Graph no longer has the sync state behind the cursor: "
                "start again with fetch(None, initial=<the last received_at>)"
            ) from None


def _json_object(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"{what}: Graph answered with something other than JSON") from None
    if not isinstance(body, dict):
        raise TransientError(f"{what}: Graph answered with an unexpected JSON shape")
    return body


def _headers(body: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """``internetMessageHeaders`` as (name, value) pairs, in Graph's order (anything else in
    the list is skipped)."""
    listed = body.get("internetMessageHeaders")
    if not isinstance(listed, list):
        return ()
    return tuple(
        (str(h.get("name") or ""), str(h.get("value") or ""))
        for h in listed
        if isinstance(h, dict) and h.get("name")
    )


def _received_at(value: Any, message_id: str) -> datetime:
    """Graph's ``receivedDateTime`` as an aware datetime (UTC if Graph gave no offset)."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        # Never block the inbox on one odd timestamp: the MIME still has its Date header.
        log.warning("graph_inbox.bad_received_at", message_id=message_id)
        return datetime.now(UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
