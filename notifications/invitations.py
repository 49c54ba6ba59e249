"""What a calendar invitation says: the email carrying it (iMIP), rendered from the templates."""

from __future__ import annotations

from typing import Any

from notifications.channel import KEY_HEADER, Address, OutgoingMessage
from notifications.render import Templates
from workflows.calendar.invitations import InvitationDue


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
    meeting = due.meeting
    context: dict[str, Any] = {
        "name": due.invitee.name,
        "role": due.invitee.role,
        "method": str(due.method),
        "why": due.why,
        "group_name": meeting.group_name,
        "when": f"{meeting.starts_at:%A} {meeting.starts_at.day} {meeting.starts_at:%B %Y}",
        "start": f"{meeting.starts_at:%H:%M}",
        "end": f"{meeting.ends_at:%H:%M}",
        "location": due.location,
        "purpose": " ".join(purpose.split()),
        "papers": f"{meeting.papers_deadline:%A} {meeting.papers_deadline.day} "
        f"{meeting.papers_deadline:%B}",
        "secretary_line": (
            f"{secretary.name}, secretary to the {meeting.group_name} ({secretary.email})"
            if secretary is not None
            else ""
        ),
    }
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
