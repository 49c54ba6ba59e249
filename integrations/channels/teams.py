"""Microsoft Teams: an Adaptive Card posted to a group's channel through a Teams Workflows webhook.

Graph refuses app-only posts to channels and chats (except for migration), so a service posts
through a Workflows webhook ("When a Teams webhook request is received" → "Post card in a chat or
channel"), one per group, named by the group code. Direct messages to one person wait for a bot.

The webhook URL carries a signature (``sig=``) and is a secret: it comes from the environment
(``CHASER_TEAMS_WEBHOOK_<CODE>``), and it never appears in a log line, an exception message or
the exception's chain (the HTTP library's own errors quote the URL, so they are not chained).

A 202 means the workflow accepted the request; if the flow then fails to post (for example the
flow's owner lost access to the channel), that shows in the flow's run history, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from integrations.graph.client import GraphClient
from integrations.http import DEFAULT_TIMEOUT, TimeoutSession, call
from notifications.channel import (
    Mention,
    OutgoingMessage,
    PermanentError,
    Receipt,
    TransientError,
)
from workflows.chasing.config import Sender

#: Teams refuses messages over about 28 KB; keep the whole payload under this many bytes.
MAX_PAYLOAD_BYTES = 27_000
_MAX_PARAGRAPH = 3_000
_MAX_ITEM = 1_000
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def env_var_for(name: str) -> str:
    """The environment variable holding the webhook URL for ``name`` (a group code)."""
    return "CHASER_TEAMS_WEBHOOK_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def build_card(
    message: OutgoingMessage,
    *,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    button: str = "Send your update",
) -> dict[str, Any]:
    """The Workflows payload for ``message``: one Adaptive Card 1.5 attachment.

    ``message.text`` is read as paragraphs separated by blank lines (each a TextBlock, Adaptive
    Card markdown allowed); lines starting ``- `` are list items, one TextBlock each. Every
    :class:`Mention` becomes an ``msteams`` mention entity; one whose ``<at>Name</at>`` is not in
    the text is added at the top, so nobody listed is silently left out. ``message.link`` becomes
    an Action.OpenUrl button. If the payload would exceed ``max_bytes`` (UTF-8 JSON), list items
    are dropped from the end and replaced by "…and N more".
    """
    paragraphs, items = _blocks(message.text)
    missing = [m for m in message.mentions if _at(m) not in message.text]
    head = [_text_block(", ".join(_at(m) for m in missing))] if missing else []
    first_item = paragraphs.index(None) if None in paragraphs else len(paragraphs)
    before = head + [_text_block(p) for p in paragraphs[:first_item] if p is not None]
    after = [_text_block(p) for p in paragraphs[first_item + 1 :] if p is not None]
    item_blocks = [_text_block(f"- {item}", spacing="Small") for item in items]

    def payload(kept: list[dict[str, Any]], more: int) -> dict[str, Any]:
        tail = [_text_block(f"…and {more} more", spacing="Small")] if more else []
        return _payload(message, [*before, *kept, *tail, *after], button)

    full = payload(item_blocks, 0)
    if _size(full) <= max_bytes:
        return full
    base = _size(payload([], len(item_blocks)))
    budget = max_bytes - base
    kept: list[dict[str, Any]] = []
    for block in item_blocks:
        cost = _size(block) + 1  # and a comma
        if cost > budget:
            break
        budget -= cost
        kept.append(block)
    card = payload(kept, len(item_blocks) - len(kept))
    while kept and _size(card) > max_bytes:  # the estimate was off (it should not be)
        kept.pop()
        card = payload(kept, len(item_blocks) - len(kept))
    return card


def _payload(message: OutgoingMessage, body: list[dict[str, Any]], button: str) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": body,
        "msteams": {
            "width": "Full",
            "entities": [
                {
                    "type": "mention",
                    "text": _at(m),
                    "mentioned": {"id": m.upn, "name": m.name},
                }
                for m in message.mentions
            ],
        },
    }
    if message.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": button, "url": message.link}]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _blocks(text: str) -> tuple[list[str | None], list[str]]:
    """Paragraphs in order, with None where the (first) list of ``- `` items sits; the items."""
    paragraphs: list[str | None] = []
    items: list[str] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in chunk.splitlines() if line.strip()]
        if not lines:
            continue
        is_list = all(line.startswith("- ") for line in lines)
        if is_list and None not in paragraphs:
            paragraphs.append(None)
            items.extend(_clip(line[2:], _MAX_ITEM) for line in lines)
            continue
        paragraphs.append(_clip(("\n" if is_list else " ").join(lines), _MAX_PARAGRAPH))
    return paragraphs, items


def _text_block(text: str, *, spacing: str = "Default") -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True}
    if spacing != "Default":
        block["spacing"] = spacing
    return block


def _at(mention: Mention) -> str:
    return f"<at>{mention.name}</at>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


class TeamsWebhookChannel:
    """Posts cards to Teams Workflows webhooks, chosen by ``message.webhook`` (a group code)."""

    name = "teams"
    kind: ClassVar[str] = "teams"
    delivers: ClassVar[str] = "teams"

    @classmethod
    def configured(cls, settings: Any) -> bool:
        return bool(settings.teams_webhooks)

    @classmethod
    def from_settings(
        cls, settings: Any, *, sender: Sender, graph: GraphClient | None
    ) -> TeamsWebhookChannel:
        """One webhook per group, from ``CHASER_TEAMS_WEBHOOK_<GROUP>``."""
        return cls({name: url.get_secret_value() for name, url in settings.teams_webhooks.items()})

    def __init__(
        self,
        webhooks: Mapping[str, str],
        session: requests.Session | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._webhooks = {name.casefold(): url for name, url in webhooks.items() if url}
        self._own_session = session is None
        self._session = session if session is not None else TimeoutSession(timeout)
        self.timeout = timeout

    def __repr__(self) -> str:  # names only: the URLs are secrets
        return f"TeamsWebhookChannel(webhooks={sorted(self._webhooks)})"

    def send(self, message: OutgoingMessage) -> Receipt:
        url = self._webhooks.get(message.webhook.casefold()) if message.webhook else None
        if url is None:
            which = message.webhook or "(none given)"
            raise PermanentError(
                f"no Teams webhook is configured for group {which!r}: set "
                f"{env_var_for(message.webhook or 'CODE')} to the URL of that group's Teams "
                "Workflows webhook"
            )
        what = f"Teams webhook for {message.webhook!r}"
        try:
            response = call(
                self._session,
                "POST",
                url,
                what=what,
                json=build_card(message),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except TransientError as exc:
            # Not chained: requests' exceptions quote the URL, and the URL is the secret.
            raise TransientError(str(exc), retry_after=exc.retry_after) from None
        except PermanentError as exc:
            raise PermanentError(
                f"{exc}: check that {env_var_for(message.webhook)} is the workflow's current "
                "URL and that the workflow is turned on"
            ) from None
        if not 200 <= response.status_code < 300:
            raise PermanentError(
                f"{what}: unexpected HTTP {response.status_code}: check that "
                f"{env_var_for(message.webhook)} is the workflow's URL"
            )
        run_id = response.headers.get("x-ms-workflow-run-id", "")
        return Receipt(provider_id=run_id, detail=f"HTTP {response.status_code}")

    def find_sent(self, message: OutgoingMessage) -> Receipt | None:
        """A webhook cannot be asked what it already posted: always None."""
        return None

    def close(self) -> None:
        if self._own_session:
            self._session.close()
