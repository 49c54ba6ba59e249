"""What a calendar invitation says: the email carrying it (iMIP), rendered from the templates.

With Graph (:func:`render_event_invitation`) the message is the meeting's one calendar event
instead: marked with :data:`EVENT_HEADER`, its calendar carrying every attendee, its text the
event's body (or the cancellation's comment). Exchange then writes and sends the invitations.
"""

from __future__ import annotations

from typing import Any

from notifications.channel import KEY_HEADER, Address, OutgoingMessage
from notifications.render import Templates
from workflows.calendar.invitations import EventChange, InvitationDue, Method
from workflows.calendar.meetings import Meeting

#: Marks a message the Graph channel makes (or changes, or cancels) a calendar event in the
#: shared mailbox from, rather than sending it as mail.
EVENT_HEADER = "X-Chaser-Calendar-Event"


def render_invitation(
    due: InvitationDue,
    *,
    key: str,
    calendar: str,
    purpose: str,
    secretary: Address | None,
    sender: str,
    sender_name: str,
    templates: Templates,
) -> OutgoingMessage:
    """The email for one invitation, update or cancellation: a short text saying what it is,
    and the iCalendar object (``calendar``) that calendars act on."""
    context = _context(
        due.meeting,
        name=due.invitee.name,
        role=due.invitee.role,
        method=due.method,
        why=due.why,
        location=due.location,
        purpose=purpose,
        secretary=secretary,
    )
    subject = " ".join(
        templates.text.get_template("invitation_subject.txt").render(context).split()
    )
    text = templates.text.get_template("invitation.txt").render(context).strip() + "\n"
    return OutgoingMessage(
        key=key,
        channel="email",
        sender=sender,
        sender_name=sender_name,
        to=(Address(due.invitee.name, due.invitee.email),),
        subject=subject,
        text=text,
        headers={KEY_HEADER: key},
        calendar=calendar,
    )


def render_event_invitation(
    change: EventChange,
    *,
    key: str,
    calendar: str,
    purpose: str,
    secretary: Address | None,
    sender: str,
    sender_name: str,
    templates: Templates,
) -> OutgoingMessage:
    """The message for one change to a meeting's Graph calendar event: to every attendee (the
    event's), the same words as the email would have, addressed to all of them."""
    context = _context(
        change.meeting,
        name="all",
        role="",
        method=change.method,
        why=change.why,
        location=change.location,
        purpose=purpose,
        secretary=secretary,
    )
    subject = " ".join(
        templates.text.get_template("invitation_subject.txt").render(context).split()
    )
    text = templates.text.get_template("invitation.txt").render(context).strip() + "\n"
    return OutgoingMessage(
        key=key,
        channel="email",
        sender=sender,
        sender_name=sender_name,
        to=tuple(Address(i.name, i.email) for i in change.attendees),
        subject=subject,
        text=text,
        headers={KEY_HEADER: key, EVENT_HEADER: "1"},
        calendar=calendar,
    )


def _context(
    meeting: Meeting,
    *,
    name: str,
    role: str,
    method: Method,
    why: str,
    location: str,
    purpose: str,
    secretary: Address | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "method": str(method),
        "why": why,
        "group_name": meeting.group_name,
        "when": f"{meeting.starts_at:%A} {meeting.starts_at.day} {meeting.starts_at:%B %Y}",
        "start": f"{meeting.starts_at:%H:%M}",
        "end": f"{meeting.ends_at:%H:%M}",
        "location": location,
        "purpose": " ".join(purpose.split()),
        "papers": f"{meeting.papers_deadline:%A} {meeting.papers_deadline.day} "
        f"{meeting.papers_deadline:%B}",
        "secretary_line": (
            f"{secretary.name}, secretary to the {meeting.group_name} ({secretary.email})"
            if secretary is not None
            else ""
        ),
    }
