"""What the secretary's pages need from the calendar and the digest rules, as plain callables.

``integrations/web`` knows nothing of ``config/``: the composition root gives it how the flags
the next digest would raise are found (kept in the store's read model,
:mod:`workflows.views.flag_model`) and the chased meetings around a moment.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import structlog
from sqlmodel import Session, select

from chaser.collector import collector_paused
from chaser.runtime import PlanRuntime, Runtime
from integrations.web.secretary import MeetingsNear
from workflows.calendar.cycles import LONDON
from workflows.calendar.meetings import Meeting, MeetingStatus, meetings
from workflows.digest.build import action_flags
from workflows.digest.slippage import SlippageConfig
from workflows.store.models import Plan
from workflows.views.flag_model import Computed, FlagRules, refresh

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


def flag_rules(runtime: Runtime, plan: PlanRuntime) -> FlagRules | None:
    """How the plan's flags are found: those of its digest for the next meeting that gets one
    (None without its digest.yaml: nothing is flagged). The digest settings are read at each
    use: the tick reloads them when an admin saves digest.yaml."""
    if plan.digests is None:
        return None

    def next_meeting(now: datetime) -> Meeting | None:
        config = plan.digests
        if config is None:
            return None
        today = now.astimezone(LONDON).date()
        upcoming = [
            m
            for m in meetings(plan.cycles(now), today, today + AHEAD, groups=list(config.groups))
            if m.status != MeetingStatus.CANCELLED
        ]
        return upcoming[0] if upcoming else None

    def meeting_key(now: datetime) -> str:
        found = next_meeting(now)
        return found.key if found else ""

    def compute(session: Session, now: datetime, only: Collection[int] | None) -> Computed:
        meeting, config = next_meeting(now), plan.digests
        if meeting is None or config is None:
            return {}
        # A slice of the plan (a whole plan is refreshed a slice at a time): the objects it loads
        # live until it ends. Paused per slice, so a slice's leftovers are collected before the
        # next one's pile up: memory stays that of one slice.
        with collector_paused():
            return action_flags(
                session,
                plan_code=plan.code,
                cycles=plan.cycles(now),
                group_code=meeting.group,
                meeting=meeting,
                now=now,
                config=SlippageConfig.from_mapping(config.slippage),
                cycle_groups=list(config.cycle_groups or (meeting.group,)),
                only=only,
            )

    return FlagRules(meeting_key=meeting_key, compute=compute)


NOTHING_FLAGGED = FlagRules(meeting_key=lambda now: "", compute=lambda session, now, only: {})


def refresh_flags(runtime: Runtime, plan: PlanRuntime, now: datetime) -> bool:
    """Bring the plan's kept flags up to date (the tick calls it; cheap when nothing changed)."""
    # Without a digest.yaml nothing is flagged, but the plan's state row is still kept: the
    # tick reads its revision to know the plan has not changed.
    rules = flag_rules(runtime, plan) or NOTHING_FLAGGED
    with Session(runtime.engine) as session:
        found = session.exec(select(Plan.id).where(Plan.code == plan.code)).first()
        if found is None:
            return False
        return refresh(session, found, now, rules)
