"""The secretary's pages: the plan by area, one action's history, meetings, the review queue.

(Being written: the interface below is fixed.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import Engine

from integrations.web.pages import NavItem, Pages
from workflows.calendar import Meeting
from workflows.digest_types import Flag

SECRETARY_NAVIGATION = [
    NavItem("/plan", "Plan"),
    NavItem("/meetings", "Meetings"),
    NavItem("/review", "Review queue"),
]

#: The flags the next digest would raise, by action ref, as of ``now``.
FlagsNow = Callable[[datetime], Mapping[str, Sequence[Flag]]]
#: The chased meetings around ``now`` (recent and coming), oldest first.
MeetingsNear = Callable[[datetime], Sequence[Meeting]]


def secretary_router(
    *,
    pages: Pages,
    engine: Engine,
    clock: Callable[[], datetime],
    plan_code: str,
    secret: bytes,
    flags: FlagsNow | None = None,
    meetings: MeetingsNear | None = None,
) -> APIRouter:
    return APIRouter()
