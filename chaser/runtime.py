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
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from notifications.channel import Channel
from notifications.outbox import Dispatcher, RetryPolicy
from notifications.render import Templates
from workflows.calendar.cycles import CyclesConfig
from workflows.chasing.config import ChasingConfig
from workflows.digest.config import DigestConfig

if TYPE_CHECKING:
    from chaser.metrics import Metrics
    from chaser.settings_reload import PlanSettingsReloader


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
class PlanRuntime:
    """One plan's part of the service: its configuration, as loaded (the calendar reloaded as
    admins edit it)."""

    code: str
    chasing: ChasingConfig
    cycles: Callable[[datetime], CyclesConfig]  # the current (reloaded) calendar config
    templates: Templates
    digests: DigestConfig | None = None
    #: Picks up saved edits of chasing.yaml and digest.yaml (None: they stay as loaded).
    settings: PlanSettingsReloader | None = None

    @property
    def partnership(self) -> str:
        return self.chasing.partnership


@dataclass
class Runtime:
    """Everything a tick needs, wired once by the composition root: the plans, and what they
    share (the store, the channels and the mailbox they send from, the signing key, the clock).
    """

    engine: Engine
    plans: dict[str, PlanRuntime]
    secret: bytes
    channels: dict[str, Channel]
    data_dir: Path
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] | None = None
    inbox: Inbox | None = None
    #: What /metrics shows (chaser run builds one; a tick by hand has none).
    metrics: Metrics | None = None
    dispatcher: Dispatcher | None = field(default=None, init=False)

    @property
    def plan(self) -> PlanRuntime:
        """The only plan (for what runs one plan at a time: the demo, a verb given --plan)."""
        if len(self.plans) != 1:
            raise ValueError(f"{len(self.plans)} plans are running: name one")
        return next(iter(self.plans.values()))

    # The only plan's parts, for code that runs one plan (the demo, and tests of one plan).
    @property
    def chasing(self) -> ChasingConfig:
        return self.plan.chasing

    @chasing.setter
    def chasing(self, value: ChasingConfig) -> None:
        self.plan.chasing = value

    @property
    def cycles(self) -> Callable[[datetime], CyclesConfig]:
        return self.plan.cycles

    @property
    def templates(self) -> Templates:
        return self.plan.templates

    @property
    def digests(self) -> DigestConfig | None:
        return self.plan.digests

    @property
    def first(self) -> PlanRuntime:
        """The first plan: whose sender, retry policy and form address the deployment uses."""
        return next(iter(self.plans.values()))

    def get_dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            kwargs = {"sleep": self.sleep} if self.sleep is not None else {}
            self.dispatcher = Dispatcher(
                self.engine,
                self.channels,
                rate_per_minute=self._rates(),
                policy=self._policy(),
                clock=self.clock,
                **kwargs,  # type: ignore[arg-type]
            )
        return self.dispatcher

    def chasing_reloaded(self) -> None:
        """A plan's chasing.yaml was reloaded: its mailbox's pace and the retries apply to the
        next message (the dispatcher keeps its place in the pace)."""
        if self.dispatcher is not None:
            self.dispatcher.rates = self._rates()
            self.dispatcher.policy = self._policy()

    def _rates(self) -> dict[str, int | None]:
        return {
            plan.chasing.sender.mailbox: plan.chasing.sender.rate_per_minute
            for plan in self.plans.values()
        }

    def _policy(self) -> RetryPolicy:
        retry = self.first.chasing.retry
        return RetryPolicy(
            max_attempts=retry.max_attempts,
            first_delay=retry.first_delay_seconds,
            max_delay=retry.max_delay_seconds,
        )

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
