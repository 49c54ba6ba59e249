"""An iCalendar (RFC 5545) feed of meetings and papers deadlines, built with ``icalendar``.

A secretary subscribes to it in Outlook (or any calendar app). What is in it:

* each meeting is a ``VEVENT`` with ``UID`` ``{group}:{slot}@chaser`` (stable when the meeting
  moves, so subscribers see the move instead of a new event), ``DTSTART``/``DTEND`` with
  ``TZID=Europe/London`` and a matching ``VTIMEZONE``;
* a moved meeting carries ``SEQUENCE:1``; a cancelled one (including a recess) is kept with
  ``STATUS:CANCELLED`` so that subscribed calendars drop it rather than keep a stale copy;
* each papers deadline is an all-day ``VEVENT`` (``papers-{group}:{slot}@chaser``), marked free
  (``TRANSP:TRANSPARENT``);
* ``ORGANIZER`` is the group's secretary when there is one; mandatory invitees are
  ``ATTENDEE``s with ``ROLE=REQ-PARTICIPANT``, other members with an email address
  ``ROLE=OPT-PARTICIPANT``, and a chair with an email ``ROLE=CHAIR``.

The feed carries no ``METHOD``: it is a subscription feed, not an iTIP message (RFC 5546), so
calendar apps show it and send no invitations; RFC 5545 forbids ``ATTENDEE`` in a
``METHOD:PUBLISH`` object, and the attendees are wanted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from icalendar import Calendar, Event, vCalAddress
from icalendar.enums import STATUS, TRANSP

from workflows.calendar.cycles import CyclesConfig, Group, Person
from workflows.calendar.meetings import Meeting, MeetingStatus, meeting_key

__all__ = ["PRODID", "UID_DOMAIN", "build_ics", "meeting_uid", "papers_uid"]

PRODID = "-//Chaser//Governance calendar//EN"
UID_DOMAIN = "chaser"


def meeting_uid(meeting: Meeting) -> str:
    return f"{meeting_key(meeting)}@{UID_DOMAIN}"


def papers_uid(meeting: Meeting) -> str:
    return f"papers-{meeting_key(meeting)}@{UID_DOMAIN}"


def _address(person: Person, role: str | None) -> vCalAddress:
    assert person.email is not None
    return vCalAddress.new(person.email, cn=person.name, role=role)


def _attendees(group: Group) -> list[vCalAddress]:
    out: list[vCalAddress] = []
    seen: set[str] = set()

    def add(person: Person | None, role: str) -> None:
        if person is None or person.email is None or person.email.lower() in seen:
            return
        seen.add(person.email.lower())
        out.append(_address(person, role))

    add(group.chair, "CHAIR")
    for person in group.mandatory_invitees:
        add(person, "REQ-PARTICIPANT")
    for person in group.members:
        add(person, "OPT-PARTICIPANT")
    return out


def _describe(group: Group, meeting: Meeting) -> str:
    lines = [f"{group.name} ({group.code})."]
    if meeting.status is not MeetingStatus.CANCELLED:
        lines.append(
            f"Papers due by {meeting.papers_deadline:%A %d %B %Y} "
            f"({group.papers_deadline_working_days} working days before)."
        )
    if meeting.note:
        lines.append(meeting.note[0].upper() + meeting.note[1:] + ".")
    if group.mandatory_invitees:
        invited = ", ".join(
            f"{p.name} ({p.role})" if p.role else p.name for p in group.mandatory_invitees
        )
        lines.append(f"Must be invited: {invited}.")
    return "\n".join(lines)


def build_ics(
    config: CyclesConfig,
    meetings: Sequence[Meeting],
    *,
    stamp: dt.datetime,
    name: str = "Chaser governance calendar",
) -> bytes:
    """The feed for ``meetings`` (from :func:`workflows.calendar.meetings.meetings`, usually with
    ``include_cancelled=True``). ``stamp`` (aware) is the feed's ``DTSTAMP``; pass the current
    time from the caller so that the output is reproducible in tests."""
    stamp = stamp.astimezone(dt.UTC)
    events: list[Event] = []
    for meeting in meetings:
        group = config.group(meeting.group)
        cancelled = meeting.status is MeetingStatus.CANCELLED
        sequence = 0 if meeting.status in (MeetingStatus.SCHEDULED, MeetingStatus.ADDED) else 1
        title = f"{group.code}: {group.name}"
        event = Event.new(
            uid=meeting_uid(meeting),
            stamp=stamp,
            summary=f"CANCELLED {title}" if cancelled else title,
            start=meeting.starts_at,
            end=meeting.ends_at,
            description=_describe(group, meeting),
            location=group.location,
            status=STATUS.CANCELLED if cancelled else STATUS.CONFIRMED,
            sequence=sequence,
            categories=["Governance"],
            organizer=(
                _address(group.secretary, None)
                if group.secretary is not None and group.secretary.email
                else None
            ),
            attendees=_attendees(group),
        )
        events.append(event)
        papers = Event.new(
            uid=papers_uid(meeting),
            stamp=stamp,
            summary=f"Papers due: {group.code} {meeting.date:%d %b %Y}",
            start=meeting.papers_deadline,
            end=meeting.papers_deadline + dt.timedelta(days=1),
            description=(
                f"Papers for {group.name} on {meeting.starts_at:%A %d %B %Y at %H:%M} "
                "are due today."
            ),
            status=STATUS.CANCELLED if cancelled else STATUS.CONFIRMED,
            sequence=sequence,
            transparency=TRANSP.TRANSPARENT,
            categories=["Papers deadline"],
        )
        events.append(papers)
    calendar = Calendar.new(
        prodid=PRODID,
        name=name,
        refresh_interval=dt.timedelta(hours=6),
        uid=f"{name}@{UID_DOMAIN}",
        subcomponents=events,
    )
    if meetings:
        first = min(m.papers_deadline for m in meetings)
        last = max(m.date for m in meetings)
        calendar.add_missing_timezones(
            first_date=first - dt.timedelta(days=366), last_date=last + dt.timedelta(days=366)
        )
    return bytes(calendar.to_ical())
