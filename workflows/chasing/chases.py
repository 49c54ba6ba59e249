"""What the chasing rules decide must be sent: plain data, rendered by notifications/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Step(StrEnum):
    """A rung of the chase ladder, or a due-date nudge."""

    REQUEST = "request"  # the update request before a meeting's papers deadline
    REMINDER = "reminder"
    FINAL_REMINDER = "final_reminder"
    ESCALATION = "escalation"  # to the senior responsible officer, secretary copied
    NUDGE_BEFORE = "nudge_before"  # an action falls due soon
    NUDGE_DUE = "nudge_due"  # an action is due today
    NUDGE_OVERDUE = "nudge_overdue"  # an action is past its due date
    #: One day's nudge about actions of more than one of the three kinds above (each action's
    #: own kind is its ``ChasedAction.nudge``).
    NUDGE = "nudge"

    @property
    def is_nudge(self) -> bool:
        return self in NUDGE_KINDS or self is Step.NUDGE


#: The kinds of due-date nudge, most urgent first (the order a mixed nudge lists them in).
NUDGE_KINDS = (Step.NUDGE_OVERDUE, Step.NUDGE_DUE, Step.NUDGE_BEFORE)


@dataclass(frozen=True)
class Who:
    code: str
    name: str
    email: str
    teams_id: str = ""


@dataclass(frozen=True)
class ChasedAction:
    """One action listed in a chase, as the lead should see it."""

    ref: str
    title: str
    due: str  # as the plan wrote it: "Dec 2023", "TBC"
    forecast: str  # "" when the same as due
    last_status: str  # the plan's own label ("Amber"), or "" if never reported
    last_update: date | None  # when the lead last reported on it
    #: Whose action it is, in a message about several people's actions (an escalation).
    lead: Who | None = None
    #: In a nudge, why this action is in it: ``nudge_before``, ``nudge_due`` or
    #: ``nudge_overdue`` ("" in other messages).
    nudge: str = ""


@dataclass(frozen=True)
class Chase:
    """One message the rules say must go out: one per person, per meeting (or action), per step."""

    key: str  # the outbox idempotency key
    step: Step
    plan_code: str
    to: Who  # who receives it (a delegate when the lead is away)
    lead: Who  # whose actions these are (== to unless delegated or escalated)
    cc: tuple[Who, ...]
    actions: tuple[ChasedAction, ...]
    channels: tuple[str, ...]  # "email", "teams"
    group_code: str = ""
    group_name: str = ""
    meeting_key: str = ""  # "SIB:2025-07-08": the meeting's stable key (its original slot)
    meeting_date: date | None = None
    papers_deadline: date | None = None
    send_at: datetime | None = None  # not before (the send window)
    delegated: bool = False

    @property
    def leads(self) -> tuple[tuple[Who, tuple[ChasedAction, ...]], ...]:
        """The actions by whose they are, in order: one entry unless this is an escalation
        listing several silent leads."""
        out: dict[str, tuple[Who, list[ChasedAction]]] = {}
        for action in self.actions:
            who = action.lead or self.lead
            out.setdefault(who.code, (who, []))[1].append(action)
        return tuple((who, tuple(actions)) for who, actions in out.values())


def outbox_key(plan_code: str, key: str) -> str:
    """A message's key in the outbox, unique across plans: ``plan/step:lead:meeting``.

    The key is what makes a message go once (the outbox inserts unless the key exists) and
    what finds it again after a crash (in Graph's Sent Items), so two plans' requests to leads
    with the same initials for groups with the same code must never share one.
    """
    return f"{plan_code}/{key}"


def plan_of_key(key: str) -> tuple[str, str]:
    """``("plymouth-send-2023", "request:AP:SIB:2025-09-30")`` from an outbox key."""
    plan, slash, rest = key.partition("/")
    return (plan, rest) if slash else ("", key)
