"""What the secretary's pages need from the calendar and the digest rules, as plain callables.

``integrations/web`` knows nothing of ``config/``: the composition root gives it the flags the
next digest would raise and the chased meetings around a moment, through these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import structlog

from chaser.digests import build
from chaser.runtime import PlanRuntime, Runtime
from integrations.web.secretary import FlagsNow, MeetingsNear
from workflows.calendar.meetings import Meeting, MeetingStatus, meetings
from workflows.digest.contents import Flag

log = structlog.get_logger(__name__)
#: The meetings page lists chased meetings this far back and ahead.
PAST, AHEAD = timedelta(days=91), timedelta(days=63)


def meetings_near(plan: PlanRuntime) -> MeetingsNear:
    def near(now: datetime) -> Sequence[Meeting]:
        today = now.date()
        found = meetings(
            plan.cycles(now), today - PAST, today + AHEAD, groups=list(plan.chasing.meetings)
        )
        return [m for m in found if m.status != MeetingStatus.CANCELLED]

    return near


def flags_now(runtime: Runtime, plan: PlanRuntime) -> FlagsNow | None:
    """The flags of the plan's digest for the next meeting that gets one (None without its
    digest.yaml)."""
    config = plan.digests
    if config is None:
        return None

    def flags(now: datetime) -> Mapping[str, Sequence[Flag]]:
        today = now.date()
        upcoming = [
            m
            for m in meetings(plan.cycles(now), today, today + AHEAD, groups=list(config.groups))
            if m.status != MeetingStatus.CANCELLED
        ]
        if not upcoming:
            return {}
        meeting = upcoming[0]
        digest = build(runtime, plan, meeting.group, meeting, now)
        return {row.ref: row.flags for row in digest.log if row.flags}

    return flags
