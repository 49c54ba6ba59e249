"""Channel name → class, and building the channels the settings configure.

For each kind of message the outbox sends ("email", "teams"), the first registered class that
the settings configure carries it: SMTP when ``CHASER_SMTP_HOST`` is set, else Microsoft Graph
when ``CHASER_GRAPH_*`` are, else files in the data directory (for development). To add a
channel, write its module beside these and add one line here.
"""

from __future__ import annotations

from typing import Any

import structlog

from integrations.channels.base import ChannelClass
from integrations.channels.files import FileChannel
from integrations.channels.graph_mail import GraphMailChannel
from integrations.channels.smtp import SmtpChannel
from integrations.channels.teams import TeamsWebhookChannel
from integrations.graph.client import GraphClient
from notifications.channel import Channel
from workflows.chasing.config import Sender

log = structlog.get_logger(__name__)

#: In order of preference for what each delivers.
CHANNELS: dict[str, ChannelClass] = {
    "smtp": SmtpChannel,
    "graph": GraphMailChannel,
    "teams": TeamsWebhookChannel,
    "file": FileChannel,
}


def build_channels(
    settings: Any, *, sender: Sender, graph: GraphClient | None
) -> dict[str, Channel]:
    """The outbox's channels by what they deliver: the first configured class for each."""
    built: dict[str, Channel] = {}
    for kind, cls in CHANNELS.items():
        if cls.delivers in built or not cls.configured(settings):
            continue
        built[cls.delivers] = cls.from_settings(settings, sender=sender, graph=graph)
        log.debug("channel_configured", delivers=cls.delivers, channel=kind)
    return built
