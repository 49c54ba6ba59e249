"""What the registry needs of a channel class: its name, what it delivers, how it is built."""

from __future__ import annotations

from typing import Any, Protocol

from integrations.graph.client import GraphClient
from notifications.channel import Channel
from workflows.chasing.config import Sender


class ChannelConfigError(ValueError):
    """The settings ask for a channel that cannot be built as they are; says what to change."""


class ChannelClass(Protocol):
    """A channel class, as registered in :data:`integrations.channels.registry.CHANNELS`.

    The class object itself satisfies this: ``kind`` and ``delivers`` are class attributes,
    ``configured`` and ``from_settings`` class methods.
    """

    @property
    def kind(self) -> str:
        """The registry's name for it ("smtp")."""
        ...

    @property
    def delivers(self) -> str:
        """Which messages it carries: the outbox's channel name ("email" or "teams")."""
        ...

    def configured(self, settings: Any) -> bool:
        """Whether ``settings`` (:class:`chaser.settings.Settings`) ask for this channel."""
        ...

    def from_settings(self, settings: Any, *, sender: Sender, graph: GraphClient | None) -> Channel:
        """The channel, built from ``settings``, sending as ``sender``; ``graph`` is the
        service's one Graph client (None when Graph is not configured)."""
        ...
