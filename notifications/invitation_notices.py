"""The email telling a group's secretary that a meeting's mandatory invitees were not all sent
its calendar invitation in time (issue 17): who, why, and how to put it right."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from notifications.channel import KEY_HEADER, Address, OutgoingMessage
from notifications.render import Templates

__all__ = ["MissingLine", "render_invitations_missing"]


@dataclass(frozen=True)
class MissingLine:
    """One mandatory invitee without a sent invitation."""

    name: str
    role: str
    email: str
    why: str
    reason: str = ""


def render_invitations_missing(
    lines: Sequence[MissingLine],
    *,
    key: str,
    to: Address,
    meeting: str,
    when: str,
    plan_title: str,
    page: str,
    commands: Sequence[str],
    sender: str,
    sender_name: str,
    templates: Templates,
) -> OutgoingMessage:
    """The email naming each mandatory invitee of ``meeting`` who does not hold its invitation."""
    context: dict[str, Any] = {
        "name": to.name,
        "lines": list(lines),
        "meeting": meeting,
        "when": when,
        "plan_title": plan_title,
        "page": page,
        "commands": list(commands),
    }
    raw = templates.text.get_template("invitations_missing_subject.txt").render(context)
    subject = " ".join(raw.split())
    context["subject"] = subject
    text = templates.text.get_template("invitations_missing.txt").render(context).strip() + "\n"
    html = templates.inliner.inline(
        templates.html.get_template("invitations_missing.html").render(context)
    )
    return OutgoingMessage(
        key=key,
        channel="email",
        sender=sender,
        sender_name=sender_name,
        to=(to,),
        subject=subject,
        text=text,
        html=html.encode("ascii", "xmlcharrefreplace").decode("ascii"),
        headers={KEY_HEADER: key},
    )
