"""Meeting invitations as Microsoft Graph calendar events in the shared mailbox, exactly once.

When Graph carries Chaser's email, a meeting's invitations are not one email per invitee with an
``.ics`` attached: the shared mailbox holds one real calendar **event** per meeting with every
invitee on it as an attendee, and Exchange writes and sends the invitations, updates and
cancellations (and collects the answers on the event). The outbox still drives it: each change
to a meeting is one outbox row (:func:`notifications.invitations.render_event_invitation`)
whose iCalendar object says what the event must now be; :class:`GraphCalendar` makes it so.

Why it is built this way:

- **Found by the meeting, not remembered.** The event is stamped with two named extended
  properties in Chaser's property set: the meeting's iCalendar ``UID``
  (:data:`UID_PROPERTY_ID`, which Graph can ``$filter`` on) and the ``SEQUENCE`` of the change
  last applied (:data:`SEQUENCE_PROPERTY_ID`). Every change first looks the meeting's event up
  by its UID, so a crash between Graph creating the event and the outbox recording it never
  makes a second one: the retry finds it.
- **transactionId** on the create, from the outbox key: should a retry's lookup ever miss the
  event, Graph itself answers a second create with the same ``transactionId`` with the first
  event (and refuses one with different content, ``ErrorDuplicateTransactionId``).
- **Ordered by SEQUENCE.** A change whose sequence is below the event's (a dead letter re-queued
  after later changes went) is a no-op: it never puts an old time back.
- **Moves** are one ``PATCH /users/{mailbox}/events/{id}`` (start, end, place, attendees, text);
  Exchange sends the update to the attendees, and a cancellation to one taken off the list.
  **Cancellations** are ``POST .../events/{id}/cancel`` with the message's text as the comment;
  Exchange moves the event to Deleted Items, so a meeting reinstated later gets a new event.
- **Answers** (accept, decline, tentative) go to the shared mailbox, where Exchange records them
  on the event's attendees; :meth:`GraphCalendar.answers` reads them back from there (their
  iMIP replies name Exchange's ``iCalUId``, not the UID Chaser gave the meeting).

Times go as London wall-clock time with ``timeZone: "Europe/London"`` (one of the calendar API's
supported zones), so Outlook shows the meeting in UK time across the clock changes. Failures are
the client's: 429, 5xx and timeouts are transient, other refusals permanent and name the fix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import structlog
from icalendar import Calendar

from integrations.graph.client import ADMIN_DOC, GraphClient, NotFoundError
from notifications.channel import OutgoingMessage, PermanentError, Receipt
from notifications.invitations import EVENT_HEADER

log = structlog.get_logger(__name__)

#: Chaser's own MAPI property set (the GUID of the mail channel's ``ChaserKey``).
_PROPERTY_SET = "{f36b38d6-821a-4097-9936-3e18f987e04e}"
#: The meeting's iCalendar UID, on its event: what finds the event again.
UID_PROPERTY_ID = f"String {_PROPERTY_SET} Name ChaserUid"
#: The SEQUENCE of the last change applied to the event.
SEQUENCE_PROPERTY_ID = f"String {_PROPERTY_SET} Name ChaserSequence"
#: Graph's name for the zone the times are given in, and the zone itself.
TIME_ZONE = "Europe/London"
_LONDON = ZoneInfo(TIME_ZONE)
_SELECT = "id,iCalUId,subject,start,end,isCancelled,transactionId,createdDateTime"
_FIXES = {
    403: (
        "the app lacks Calendars.ReadWrite on the shared mailbox: grant the role "
        "'Application Calendars.ReadWrite' with Exchange RBAC for Applications, scoped to that "
        f"mailbox ({ADMIN_DOC})"
    ),
}


def is_event_message(message: OutgoingMessage) -> bool:
    """Whether ``message`` is a change to a meeting's calendar event (not a mail to send)."""
    return bool(message.calendar) and any(
        name.lower() == EVENT_HEADER.lower() for name in message.headers
    )


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str
    required: bool


@dataclass(frozen=True)
class WantedEvent:
    """What a change message's iCalendar object says the meeting's event must be."""

    uid: str
    sequence: int
    cancel: bool
    summary: str
    location: str
    starts_at: dt.datetime  # aware
    ends_at: dt.datetime
    attendees: tuple[Attendee, ...]


def read_event(calendar: str) -> WantedEvent:
    """The event ``calendar`` (one VEVENT with METHOD REQUEST or CANCEL) describes (pure).

    A calendar that cannot be read is a bug in what Chaser enqueued, so it is permanent."""
    try:
        cal = Calendar.from_ical(calendar)
        (event,) = cal.walk("VEVENT")
        method = str(cal.get("METHOD", "")).upper()
        uid = str(event["UID"])
        starts_at = event.decoded("DTSTART")
        ends_at = event.decoded("DTEND")
        sequence = int(str(event.get("SEQUENCE", 0)))
    except (KeyError, ValueError, TypeError) as exc:
        raise PermanentError(
            f"the invitation's calendar object cannot be read ({type(exc).__name__}): "
            "re-send it with `chaser outbox retry` after fixing cycles.yaml"
        ) from None
    if method not in ("REQUEST", "CANCEL") or not isinstance(starts_at, dt.datetime):
        raise PermanentError(
            "the invitation's calendar object is not a timed REQUEST or CANCEL of one meeting"
        )
    raw = event.get("ATTENDEE") or []
    attendees = []
    for address in raw if isinstance(raw, list) else [raw]:
        email = str(address)
        email = email[7:] if email.lower().startswith("mailto:") else email
        role = str(address.params.get("ROLE", "REQ-PARTICIPANT")).upper()
        name = str(address.params.get("CN", "")) or email
        attendees.append(Attendee(name, email, role != "OPT-PARTICIPANT"))
    return WantedEvent(
        uid=uid,
        sequence=sequence,
        cancel=method == "CANCEL",
        summary=str(event.get("SUMMARY", "")),
        location=str(event.get("LOCATION", "")),
        starts_at=starts_at,
        ends_at=ends_at,
        attendees=tuple(attendees),
    )


def _when(moment: dt.datetime) -> dict[str, str]:
    local = moment.astimezone(_LONDON).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": TIME_ZONE}


def event_payload(wanted: WantedEvent, body: str) -> dict[str, Any]:
    """The Graph JSON of the event (for a create, or a PATCH of every field Chaser owns)."""
    return {
        "subject": wanted.summary,
        "body": {"contentType": "text", "content": body},
        "start": _when(wanted.starts_at),
        "end": _when(wanted.ends_at),
        "location": {"displayName": wanted.location},
        "attendees": [
            {
                "emailAddress": {"address": a.email, "name": a.name},
                "type": "required" if a.required else "optional",
            }
            for a in wanted.attendees
        ],
        "isOnlineMeeting": False,
        "responseRequested": True,
        # The board's dates are the secretary's to set, in cycles.yaml.
        "allowNewTimeProposals": False,
        "singleValueExtendedProperties": [
            {"id": UID_PROPERTY_ID, "value": wanted.uid},
            {"id": SEQUENCE_PROPERTY_ID, "value": str(wanted.sequence)},
        ],
    }


def transaction_id(key: str) -> str:
    """The create's ``transactionId``: the outbox key's digest (keys can be long and carry
    characters Graph need not see), the same on every retry of that row."""
    return "chaser-" + hashlib.sha256(key.encode()).hexdigest()[:40]


#: Graph's ``responseStatus.response`` -> Chaser's word for the answer (as for iMIP replies).
_ANSWERS = {"accepted": "accepted", "declined": "declined", "tentativelyAccepted": "tentative"}


@dataclass(frozen=True)
class Answer:
    """One attendee's answer on the event, and when they gave it (None if Graph does not say)."""

    answer: str  # "accepted", "declined" or "tentative"
    at: dt.datetime | None


def _instant(value: object) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.year < 1900:  # Graph's "0001-01-01T00:00:00Z": not answered
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class FoundEvent:
    id: str
    sequence: int
    ical_uid: str


class GraphCalendar:
    """Makes each meeting's event in ``mailbox``'s calendar what the change messages say."""

    def __init__(self, client: GraphClient, *, mailbox: str) -> None:
        self.client = client
        self.mailbox = mailbox

    def apply(self, message: OutgoingMessage) -> Receipt:
        """Create, update or cancel the meeting's event as ``message`` says, unless it already
        is so (a retry) or a later change has been applied (this one is superseded)."""
        wanted = read_event(message.calendar)
        found = self.find(wanted.uid)
        if found is not None and found.sequence > wanted.sequence:
            return _receipt(found.id, f"superseded by change {found.sequence}")
        if wanted.cancel:
            if found is None:
                return Receipt(provider_id="", detail="graph event: none to cancel")
            self._call(
                "POST",
                f"/events/{quote(found.id, safe='')}/cancel",
                "cancelling the meeting's event",
                json={"comment": message.text},
            )
            log.info("graph_calendar.cancelled", key=message.key)
            return _receipt(found.id, "cancelled")
        payload = event_payload(wanted, message.text)
        if found is None:
            created = self._call(
                "POST",
                "/events",
                "creating the meeting's event",
                json={**payload, "transactionId": transaction_id(message.key)},
            ).json()
            event_id = str(created.get("id") or "")
            if not event_id:
                raise PermanentError("Graph: creating the meeting's event returned no id")
            log.info("graph_calendar.created", key=message.key)
            return _receipt(event_id, "created")
        if found.sequence == wanted.sequence:
            return _receipt(found.id, "already applied")
        self._call(
            "PATCH",
            f"/events/{quote(found.id, safe='')}",
            "updating the meeting's event",
            json=payload,
        )
        log.info("graph_calendar.updated", key=message.key)
        return _receipt(found.id, "updated")

    def find_applied(self, message: OutgoingMessage) -> Receipt | None:
        """After a crash left the change's fate unknown: its receipt if the event already shows
        it (or a later change; for a cancellation: no live event left), else None."""
        wanted = read_event(message.calendar)
        found = self.find(wanted.uid)
        if wanted.cancel:
            if found is None:
                return Receipt(provider_id="", detail="graph event: cancelled (none left)")
            return _receipt(found.id, "superseded") if found.sequence > wanted.sequence else None
        if found is not None and found.sequence >= wanted.sequence:
            return _receipt(found.id, "found in the calendar")
        return None

    def answers(self, event_id: str) -> dict[str, Answer]:
        """What each attendee answered, as Exchange keeps it on the event (lower-case address
        -> answer); those who have not answered are left out. An event no longer there (moved
        or deleted by hand) has none."""
        try:
            response = self._call(
                "GET",
                f"/events/{quote(event_id, safe='')}?$select=attendees,isCancelled",
                "reading the answers on the meeting's event",
            )
        except NotFoundError:
            return {}
        found: dict[str, Answer] = {}
        for attendee in response.json().get("attendees") or []:
            email = str((attendee.get("emailAddress") or {}).get("address") or "").lower()
            status = attendee.get("status") or {}
            answer = _ANSWERS.get(str(status.get("response") or ""))
            if email and answer:
                found[email] = Answer(answer, _instant(status.get("time")))
        return found

    def find(self, uid: str) -> FoundEvent | None:
        """The meeting's live event in the calendar (by its UID property), else None; the
        latest change's when, against everything, there are two."""
        literal = uid.replace("'", "''")
        prop = UID_PROPERTY_ID.replace("'", "''")
        sequence = SEQUENCE_PROPERTY_ID.replace("'", "''")
        params = {
            "$filter": (
                f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' "
                f"and ep/value eq '{literal}')"
            ),
            "$select": _SELECT,
            "$expand": (
                f"singleValueExtendedProperties($filter=id eq '{prop}' or id eq '{sequence}')"
            ),
            "$top": "10",
        }
        query = urlencode(params, quote_via=quote, safe="$/(),:'")
        response = self._call("GET", f"/events?{query}", "looking up the meeting's event")
        found: list[FoundEvent] = []
        for item in response.json().get("value", []):
            props = _properties(item)
            if props.get(UID_PROPERTY_ID.lower()) != uid or item.get("isCancelled"):
                continue  # a server that ignored the filter never makes another event this one
            try:
                seq = int(props.get(SEQUENCE_PROPERTY_ID.lower(), "0"))
            except ValueError:
                seq = 0
            found.append(FoundEvent(str(item["id"]), seq, str(item.get("iCalUId") or "")))
        return max(found, key=lambda f: f.sequence) if found else None

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        return self.client.request(
            method,
            self.client.mailbox_url(self.mailbox, path),
            what=f"Graph: {what}",
            fixes=_FIXES,
            **kwargs,
        )


def _properties(item: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(p.get("id", "")).lower(): str(p.get("value", ""))
        for p in item.get("singleValueExtendedProperties") or []
    }


def _receipt(event_id: str, detail: str) -> Receipt:
    return Receipt(provider_id=event_id, detail=f"graph event: {detail}")
