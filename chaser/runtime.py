"""The running service's parts, wired once by :mod:`chaser.wiring` and handed to every tick.

A :class:`Runtime` holds what ``tick(now)`` needs: the store, the configuration (the calendar
reloaded as admins edit it), the templates, the signing key, the channels, the inbox, and the
clock. Nothing in it reads the environment; :func:`chaser.wiring.build_runtime` does, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from notifications.channel import Channel
from notifications.outbox import Dispatcher, RetryPolicy
from notifications.render import Templates
from workflows.calendar.cycles import CyclesConfig
from workflows.chasing.config import ChasingConfig
from workflows.digest.config import DigestConfig


class InboundMail(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def raw(self) -> bytes: ...


class Inbox(Protocol):
    """A mailbox read incrementally (Microsoft Graph): messages since a cursor."""

    def fetch(
        self, cursor: str | None, *, initial: Any = "now"
    ) -> tuple[Sequence[InboundMail], str]: ...

    def mark_processed(self, message_id: str) -> None: ...

    def close(self) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a tick needs, wired once by the composition root."""

    engine: Engine
    chasing: ChasingConfig
    cycles: Callable[[datetime], CyclesConfig]  # the current (reloaded) calendar config
    templates: Templates
    secret: bytes
    channels: dict[str, Channel]
    data_dir: Path
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] | None = None
    inbox: Inbox | None = None
    digests: DigestConfig | None = None
    dispatcher: Dispatcher | None = field(default=None, init=False)

    def get_dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            retry = self.chasing.retry
            kwargs = {"sleep": self.sleep} if self.sleep is not None else {}
            self.dispatcher = Dispatcher(
                self.engine,
                self.channels,
                rate_per_minute={self.chasing.sender.mailbox: self.chasing.sender.rate_per_minute},
                policy=RetryPolicy(
                    max_attempts=retry.max_attempts,
                    first_delay=retry.first_delay_seconds,
                    max_delay=retry.max_delay_seconds,
                ),
                clock=self.clock,
                **kwargs,  # type: ignore[arg-type]
            )
        return self.dispatcher

    def close(self) -> None:
        """Release the channels' and the inbox's connections."""
        for channel in self.channels.values():
            channel.close()
        if self.inbox is not None:
            self.inbox.close()


def data_path(data_dir: Path, *parts: str) -> Path:
    path = data_dir.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
