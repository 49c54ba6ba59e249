"""Receiving replies by SMTP: the embedded default when there is no Microsoft 365 mailbox.

Point the reply address's forwarding (or, in the demo, the simulated leads) at this listener.
A message is handed to ``on_message`` before the listener answers 250; if that fails, the
listener answers 451 so the sending server keeps the message and tries again: nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from aiosmtpd.controller import Controller

log = structlog.get_logger(__name__)


class _Handler:
    def __init__(self, on_message: Callable[[bytes], None]) -> None:
        self.on_message = on_message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.on_message, data)
        except Exception:
            log.exception("inbound_message_failed")
            return "451 4.3.0 Could not take the message in; please try again later"
        return "250 2.0.0 Message accepted"


class InboundSmtp:
    """An SMTP listener on ``host:port`` that passes every message to ``on_message``."""

    def __init__(self, host: str, port: int, on_message: Callable[[bytes], None]) -> None:
        self.host, self.port = host, port
        self._controller = Controller(
            _Handler(on_message), hostname=host, port=port, data_size_limit=25 * 1024 * 1024
        )

    def start(self) -> InboundSmtp:
        self._controller.start()
        log.info("inbound_smtp_listening", host=self.host, port=self.port)
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> InboundSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
