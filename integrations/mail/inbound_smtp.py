"""Receiving replies by SMTP: the embedded default when there is no Microsoft 365 mailbox.

Point the council's mail relay (its inbound gateway) at this listener, or, in the demo, the
simulated leads. It takes mail only from the relays it is given (``CHASER_INBOUND_SMTP_RELAYS``;
anyone else is refused at ``MAIL FROM`` with a 550 naming why), because it authenticates nothing
itself: whether a sender is who they say is the gateway's word, in the ``Authentication-Results``
header it stamps (see :mod:`workflows.replies.authentication`). A peer that could hand mail in
directly could write that header itself.

A message is handed to ``on_message`` before the listener answers 250. ``on_message`` keeps
whatever it is given (a message it cannot read is quarantined, not refused), so 250 means the
message is stored; if even storing it fails, the listener answers 451 so the sending server keeps
the message and tries again: nothing is lost, and no message is refused forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from aiosmtpd.controller import Controller

log = structlog.get_logger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The listener's message size limit (RFC 1870 SIZE; larger messages get 552).
DATA_SIZE_LIMIT = 25 * 1024 * 1024
#: Who may hand mail in when no relays are given: this computer only.
LOOPBACK = ("127.0.0.1", "::1")


def networks(relays: Iterable[str]) -> tuple[Network, ...]:
    """The relays (addresses or networks, ``10.0.0.5`` or ``10.0.0.0/8``) as networks."""
    return tuple(ipaddress.ip_network(r.strip(), strict=False) for r in relays if r.strip())


def peer_allowed(peer: Any, allowed: tuple[Network, ...]) -> bool:
    """Whether an aiosmtpd ``session.peer`` (``(host, port, ...)``) is one of ``allowed``."""
    host = peer[0] if isinstance(peer, tuple | list) and peer else peer
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == n.version and address in n for n in allowed)


class _Handler:
    def __init__(self, on_message: Callable[[bytes], None], allowed: tuple[Network, ...]) -> None:
        self.on_message = on_message
        self.allowed = allowed

    def _refusal(self, session: Any) -> str | None:
        if peer_allowed(session.peer, self.allowed):
            return None
        log.warning("inbound_smtp_refused_peer")
        return (
            "550 5.7.1 This server takes mail only from the council's mail relays "
            "(CHASER_INBOUND_SMTP_RELAYS), and your address is not one of them"
        )

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        refused = self._refusal(session)
        if refused is not None:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        refused = self._refusal(session)
        if refused is not None:
            return refused
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.on_message, data)
        except Exception as exc:
            # Not even kept: the store is unavailable. The sender's server keeps the message
            # and tries again. (The error's type only: its text may quote the message.)
            log.warning("inbound_message_not_stored", error=type(exc).__name__)
            return "451 4.3.0 Could not store the message; please try again later"
        return "250 2.0.0 Message accepted"


class InboundSmtp:
    """An SMTP listener on ``host:port`` that passes every message from one of ``relays`` to
    ``on_message``."""

    def __init__(
        self,
        host: str,
        port: int,
        on_message: Callable[[bytes], None],
        *,
        relays: Iterable[str] = LOOPBACK,
    ) -> None:
        self.host, self.port = host, port
        self.relays = networks(relays)
        self._controller = Controller(
            _Handler(on_message, self.relays),
            hostname=host,
            port=port,
            data_size_limit=DATA_SIZE_LIMIT,
        )

    def start(self) -> InboundSmtp:
        self._controller.start()
        log.info("inbound_smtp_listening", host=self.host, port=self.port, relays=len(self.relays))
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> InboundSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
