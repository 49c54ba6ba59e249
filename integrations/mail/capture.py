"""The demo's built-in mail sink: an SMTP listener that keeps every message it is sent.

``chaser demo`` points its email channel here instead of at a real mail server, so nothing
leaves the machine; the captured mail is browsable at ``/outbox`` and each message is also
written to ``<folder>/<number>.eml``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from integrations.mail.inbound_smtp import InboundSmtp
from integrations.web.outbox_pages import CapturedMessage


class MailCapture:
    """Keeps messages in arrival order (numbered from 1), stamped by ``clock``."""

    def __init__(self, folder: Path, clock: Callable[[], datetime]) -> None:
        self.folder, self.clock = folder, clock
        self._messages: list[CapturedMessage] = []
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, raw: bytes) -> CapturedMessage:
        with self._lock:
            captured = CapturedMessage(len(self._messages) + 1, self.clock(), raw)
            (self.folder / f"{captured.number:05d}.eml").write_bytes(raw)
            self._messages.append(captured)
            return captured

    def messages(self) -> Sequence[CapturedMessage]:
        with self._lock:
            return tuple(self._messages)

    def since(self, number: int) -> Sequence[CapturedMessage]:
        """Messages numbered above ``number``."""
        with self._lock:
            return tuple(self._messages[number:])

    def listener(self, host: str, port: int) -> InboundSmtp:
        """The SMTP server that feeds this capture (start and stop it yourself)."""
        return InboundSmtp(host, port, self.take)

    def take(self, raw: bytes) -> None:
        self.add(raw)
