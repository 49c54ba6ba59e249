"""Calendar invitations to a group's meetings (pure): who is invited, and what each is sent.

The improvement notice asks that the DfE adviser, the NHS England adviser and the Department's
case lead be invited to *every* improvement board meeting. Chaser sends each meeting's members
(those with an email address) and its mandatory invitees a real calendar invitation, an
iCalendar object (RFC 5545) carried by email as iMIP (RFC 6047), with the scheduling method of
iTIP (RFC 5546):

- ``METHOD:REQUEST`` when a meeting comes within :data:`INVITE_AHEAD` of now, with a ``UID``
  that stays the meeting's for good (made from its plan, group and *slot*, the date the cycle
  gave it, which a move keeps) and ``SEQUENCE:0``;
- ``METHOD:REQUEST`` again with ``SEQUENCE`` raised by one when the meeting moves (its start,
  end or place changes): calendars update the event they hold;
- ``METHOD:CANCEL`` with ``SEQUENCE`` raised when the meeting is cancelled, or when someone who
  was invited is no longer on the list.

:func:`invitations_due` compares what the calendar says now with what was sent (the
:class:`Sent` records) and returns only what is new, so a tick that runs again sends nothing
twice; :func:`invitation_ics` writes the iCalendar text.

Through Microsoft Graph a meeting is one calendar event with every invitee on it, not one email
each: :func:`event_changes` turns one tick's items into one :class:`EventChange` per meeting,
and :func:`meeting_ics` writes that whole event (the per-invitee items are still recorded).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from icalendar import Calendar, Event, vCalAddress, vText

from workflows.calendar.cycles import Group, Person
from workflows.calendar.meetings import Meeting

__all__ = [
    "INVITE_AHEAD",
    "CalendarReply",
    "EventChange",
    "InvitationDue",
    "Invitee",
    "Method",
    "Missing",
    "Sent",
    "Standing",
    "event_changes",
    "invitation_ics",
    "invitations_due",
    "invitees",
    "meeting_ics",
    "meeting_uid",
    "missing_invitees",
    "read_calendar_reply",
]

#: How long before a meeting its invitations go by default (a group's ``invitations:
#: ahead_days`` in cycles.yaml sets its own): one six-weekly board cycle, so the next board's
#: invitations go out as the last one ends.
INVITE_AHEAD = dt.timedelta(days=42)
PRODID = "-//Chaser//Improvement plan meetings//EN"


class Method(StrEnum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclass(frozen=True)
class Invitee:
    """Someone a meeting's invitation goes to."""

    name: str
    email: str  # lower case
    role: str = ""
    mandatory: bool = False  # a mandatory invitee (the notice's advisers), not a member


@dataclass(frozen=True)
class Sent:
    """What was last sent to one invitee about one meeting (the store's record)."""

    uid: str
    email: str
    sequence: int
    method: Method
    starts_at: dt.datetime
    ends_at: dt.datetime
    location: str


@dataclass(frozen=True)
class InvitationDue:
    """One invitation (or update, or cancellation) to send now."""

    meeting: Meeting
    uid: str
    invitee: Invitee
    sequence: int
    method: Method
    location: str
    #: "new", "moved" (start, end or place changed), "cancelled" or "uninvited".
    why: str


def meeting_uid(plan_code: str, meeting: Meeting, domain: str) -> str:
    """The meeting's iCalendar UID: the same for every message about it, moves included."""
    seed = f"{plan_code}\n{meeting.group}\n{meeting.slot.isoformat()}".encode()
    return f"{hashlib.sha256(seed).hexdigest()[:24]}@{domain}"


def invitees(group: Group) -> list[Invitee]:
    """The group's mandatory invitees, then its members who have an email address; each once."""
    found: dict[str, Invitee] = {}
    people: list[tuple[Person, bool]] = [(p, True) for p in group.mandatory_invitees]
    people += [(p, False) for p in group.members]
    for person, mandatory in people:
        if not person.email:
            continue  # a member written as a role ("Chief Executive") has no address to invite
        email = person.email.strip().lower()
        found.setdefault(email, Invitee(person.name, email, person.role or "", mandatory))
    return list(found.values())


def invitations_due(
    plan_code: str,
    meetings: Iterable[Meeting],
    groups: Sequence[Group],
    sent: Iterable[Sent],
    *,
    now: dt.datetime,
    domain: str,
    ahead: dt.timedelta | None = None,
) -> list[InvitationDue]:
    """What to send now so that every invitee's calendar holds each coming meeting as it is.

    ``meetings`` are the groups' meetings around now, cancelled ones included; ``sent`` the
    records of what went before (any order). Meetings that have started are left alone. A
    meeting's invitations go from its group's ``invite_ahead_days`` before it (``ahead``, when
    given, overrides that for every group).
    """
    by_group = {g.code: g for g in groups}
    last: dict[tuple[str, str], Sent] = {}
    for record in sent:
        key = (record.uid, record.email)
        if key not in last or record.sequence > last[key].sequence:
            last[key] = record
    due: list[InvitationDue] = []
    for meeting in meetings:
        group = by_group.get(meeting.group)
        if group is None or meeting.starts_at <= now:
            continue
        uid = meeting_uid(plan_code, meeting, domain)
        invited = any(record_uid == uid for record_uid, _ in last)
        lead = ahead if ahead is not None else dt.timedelta(days=group.invite_ahead_days)
        if meeting.starts_at - now > lead and not invited:
            continue  # not yet; one moved further out after its invitations went is updated
        location = group.location or ""
        listed = {i.email: i for i in invitees(group)}
        wanted = listed if meeting.goes_ahead else {}
        for invitee in wanted.values():
            before = last.get((uid, invitee.email))
            if before is None:
                due.append(InvitationDue(meeting, uid, invitee, 0, Method.REQUEST, location, "new"))
            elif before.method is Method.CANCEL:
                # uninvited and now on the list again (or a cancelled meeting reinstated)
                due.append(
                    InvitationDue(
                        meeting, uid, invitee, before.sequence + 1, Method.REQUEST, location, "new"
                    )
                )
            elif (before.starts_at, before.ends_at, before.location) != (
                meeting.starts_at,
                meeting.ends_at,
                location,
            ):
                due.append(
                    InvitationDue(
                        meeting,
                        uid,
                        invitee,
                        before.sequence + 1,
                        Method.REQUEST,
                        location,
                        "moved",
                    )
                )
        for (record_uid, email), before in sorted(last.items()):
            if record_uid != uid or email in wanted or before.method is Method.CANCEL:
                continue
            invitee = listed.get(email) or Invitee(email, email)  # no longer listed: no name
            why = "cancelled" if not meeting.goes_ahead else "uninvited"
            due.append(
                InvitationDue(
                    meeting, uid, invitee, before.sequence + 1, Method.CANCEL, location, why
                )
            )
    return due


@dataclass(frozen=True)
class Standing:
    """Where one invitee's latest invitation to a meeting stands (from the store)."""

    method: Method
    #: the outbox row's state: "pending", "sending", "submitting", "sent", "failed", "dead"…
    state: str
    reason: str = ""  # the outbox row's last error, if any


@dataclass(frozen=True)
class Missing:
    """A mandatory invitee who does not hold a sent invitation to a meeting, and why."""

    invitee: Invitee
    why: str  # "not yet sent", "could not be sent: …", "taken off the list (cancelled)"
    reason: str = ""  # the outbox's own words when it could not be sent


def missing_invitees(
    meeting: Meeting, group: Group, standing: Mapping[str, Standing], *, now: dt.datetime
) -> list[Missing]:
    """The group's mandatory invitees who do not hold a sent invitation to ``meeting``, once it
    is within the group's ``invite_flag_days`` (empty before then, once it has started, or when
    it is cancelled). ``standing`` is each address's latest record (lower-case email)."""
    if not meeting.goes_ahead or meeting.starts_at <= now:
        return []
    if meeting.starts_at - now > dt.timedelta(days=group.invite_flag_days):
        return []
    missing: list[Missing] = []
    for invitee in invitees(group):
        if not invitee.mandatory:
            continue
        record = standing.get(invitee.email)
        if record is None:
            missing.append(Missing(invitee, "not yet sent"))
        elif record.method is Method.CANCEL:
            missing.append(Missing(invitee, "taken off the list: their invitation was cancelled"))
        elif record.state in ("failed", "dead"):
            reason = " ".join(record.reason.split())[:300]
            missing.append(Missing(invitee, "could not be sent", reason or "no reason recorded"))
        elif record.state != "sent" and record.reason:
            reason = " ".join(record.reason.split())[:300]
            missing.append(Missing(invitee, "not yet sent: the last try failed", reason))
        elif record.state != "sent":
            missing.append(Missing(invitee, "not yet sent (waiting in the outbox)"))
    return missing


def invitation_ics(
    due: InvitationDue,
    *,
    organizer: Person,
    summary: str,
    description: str,
    stamp: dt.datetime,
) -> str:
    """The iCalendar object for ``due`` (RFC 5545/5546): one VEVENT with its UID, SEQUENCE,
    ORGANIZER, the invitee as a required ATTENDEE asked to reply (RSVP), times in UTC."""
    return _ics(
        due.meeting,
        uid=due.uid,
        sequence=due.sequence,
        method=due.method,
        location=due.location,
        attendees=[due.invitee],
        organizer=organizer,
        summary=summary,
        description=description,
        stamp=stamp,
    )


@dataclass(frozen=True)
class EventChange:
    """What one meeting's single calendar event must become now (the Graph path, where the
    shared mailbox holds one event per meeting with every invitee on it, rather than one
    email per invitee): made from the meeting's :class:`InvitationDue` items of one tick."""

    meeting: Meeting
    uid: str
    #: REQUEST: the event exists, as it is now, with exactly ``attendees``; CANCEL: it is off.
    method: Method
    #: REQUEST: everyone on the list now (those already invited too); CANCEL: those it reached.
    attendees: tuple[Invitee, ...]
    location: str
    #: The per-invitee items it carries out (each is recorded, as for email).
    items: tuple[InvitationDue, ...]

    @property
    def why(self) -> str:
        """What the event's text says: "cancelled", "moved" (its time or place changed), else
        "new" (first sent, or only the list of invitees changed)."""
        if self.method is Method.CANCEL:
            return "cancelled"
        return "moved" if any(i.why == "moved" for i in self.items) else "new"


def event_changes(due: Sequence[InvitationDue], groups: Sequence[Group]) -> list[EventChange]:
    """``due`` (from :func:`invitations_due`) as one change per meeting, in the order first
    seen: a meeting that goes ahead keeps one event with every invitee listed now (an uninvited
    one drops off it, which Exchange tells them); a cancelled one is cancelled."""
    by_group = {g.code: g for g in groups}
    by_uid: dict[str, list[InvitationDue]] = {}
    for item in due:
        by_uid.setdefault(item.uid, []).append(item)
    changes: list[EventChange] = []
    for uid, items in by_uid.items():
        meeting = items[0].meeting
        group = by_group.get(meeting.group)
        if meeting.goes_ahead and group is not None:
            method, attendees = Method.REQUEST, tuple(invitees(group))
        else:
            method = Method.CANCEL
            attendees = tuple(i.invitee for i in items if i.method is Method.CANCEL)
        if attendees:
            changes.append(
                EventChange(meeting, uid, method, attendees, items[0].location, tuple(items))
            )
    return changes


def meeting_ics(
    change: EventChange,
    *,
    sequence: int,
    organizer: Person,
    summary: str,
    description: str,
    stamp: dt.datetime,
) -> str:
    """The iCalendar object for a whole meeting's event (every attendee on it): what the Graph
    channel turns into the event's JSON. ``sequence`` orders the changes to one event."""
    return _ics(
        change.meeting,
        uid=change.uid,
        sequence=sequence,
        method=change.method,
        location=change.location,
        attendees=change.attendees,
        organizer=organizer,
        summary=summary,
        description=description,
        stamp=stamp,
    )


def _ics(
    meeting: Meeting,
    *,
    uid: str,
    sequence: int,
    method: Method,
    location: str,
    attendees: Sequence[Invitee],
    organizer: Person,
    summary: str,
    description: str,
    stamp: dt.datetime,
) -> str:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", str(method))
    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", stamp.astimezone(dt.UTC))
    event.add("dtstart", meeting.starts_at.astimezone(dt.UTC))
    event.add("dtend", meeting.ends_at.astimezone(dt.UTC))
    event.add("summary", summary)
    if description:
        event.add("description", description)
    if location:
        event.add("location", location)
    event.add("status", "CANCELLED" if method is Method.CANCEL else "CONFIRMED")
    event.add("transp", "OPAQUE")
    boss = vCalAddress(f"mailto:{organizer.email}")
    boss.params["cn"] = vText(organizer.name)
    event.add("organizer", boss)
    for invitee in attendees:
        attendee = vCalAddress(f"mailto:{invitee.email}")
        attendee.params["cn"] = vText(invitee.name)
        # as in the subscription feed (``chaser cycles ics``): members are optional attendees
        attendee.params["role"] = vText(
            "REQ-PARTICIPANT" if invitee.mandatory else "OPT-PARTICIPANT"
        )
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE" if method is Method.REQUEST else "FALSE")
        event.add("attendee", attendee)
    cal.add_component(event)
    return str(cal.to_ical().decode("utf-8"))


@dataclass(frozen=True)
class CalendarReply:
    """An invitee's answer to an invitation (iTIP ``METHOD:REPLY``)."""

    uid: str
    email: str  # the attendee who answered, lower case
    answer: str  # "accepted", "declined", "tentative"


_ANSWERS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative"}


def read_calendar_reply(text: str) -> CalendarReply | None:
    """The answer in an iCalendar ``METHOD:REPLY`` object, or None if ``text`` is not one (or
    cannot be read: a calendar that fails to parse is simply not an answer)."""
    try:
        cal = Calendar.from_ical(text[:65_536])
    except Exception:  # icalendar raises ValueError and others on bad input
        return None
    if str(cal.get("METHOD", "")).upper() != "REPLY":
        return None
    for event in cal.walk("VEVENT"):
        uid = str(event.get("UID", "")).strip()
        attendee = event.get("ATTENDEE")
        if isinstance(attendee, list):
            attendee = attendee[0] if attendee else None
        if not uid or attendee is None:
            continue
        email = str(attendee).strip()
        email = email[7:] if email.lower().startswith("mailto:") else email
        answer = _ANSWERS.get(str(attendee.params.get("PARTSTAT", "")).upper())
        if answer and "@" in email:
            return CalendarReply(uid, email.lower(), answer)
    return None
