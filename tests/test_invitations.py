"""Calendar invitations: every board meeting's invitation reaches every mandatory adviser once,
an update follows each move and a cancellation each cancelled meeting (RFC 5546, by iMIP)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path

import icalendar
from sqlalchemy import Engine
from sqlmodel import Session, col, select, update

from chaser.digests import invited_to
from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import CapturedMessage, SmtpSink
from tests.test_replies import TRUSTED, gateway_stamp
from workflows.calendar.cycles import LONDON, CyclesConfig, Person, load_cycles
from workflows.calendar.invitations import Method, Sent, invitation_ics, invitations_due
from workflows.calendar.meetings import meetings
from workflows.plan.mapping import load_mapping
from workflows.replies.intake import ingest_email
from workflows.store.invitation_models import Invitation
from workflows.store.models import Delivery, Reply

PLAN = "plymouth-send-2023"
ADVISERS = {
    "imogen.castellane@example.gov.uk",
    "rhodri.penhallow@example.nhs.uk",
    "beatrix.oduya@example.gov.uk",
}
SHIPPED = load_cycles(ROOT / "config" / "cycles.yaml")


def _calendar(message: CapturedMessage) -> icalendar.Calendar:
    part = next(p for p in message.message.walk() if p.get_content_type() == "text/calendar")
    return icalendar.Calendar.from_ical(part.get_content())


def _changed(tmp_path: Path, *, cancel: bool) -> CyclesConfig:
    """The shipped calendar, after the secretary moved the 11 November board to the 13th
    (and, with ``cancel``, cancelled the one of 3 February)."""
    text = (ROOT / "config" / "cycles.yaml").read_text(encoding="utf-8")
    marker = "      - slot: 2025-12-23\n"
    assert marker in text
    edits = "      - slot: 2025-11-11\n        moved_to: 2025-11-13\n"
    if cancel:
        edits += "      - slot: 2026-02-03\n        cancelled: true\n"
    text = text.replace(marker, edits + marker)
    path = tmp_path / f"cycles-{cancel}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_cycles(path)


def test_it_writes_an_invitation_rfc_5546_calendars_accept() -> None:
    sib = next(g for g in SHIPPED.groups if g.code == "SIB")
    board = next(
        m for m in meetings(SHIPPED, date(2025, 9, 1), date(2025, 10, 31)) if m.group == "SIB"
    )
    now = datetime(2025, 9, 1, 9, tzinfo=UTC)
    due = invitations_due(PLAN, [board], [sib], [], now=now, domain="example.org")
    assert {d.invitee.email for d in due} == ADVISERS  # its members are roles, with no address
    first = next(d for d in due if d.invitee.email.startswith("imogen"))
    ics = invitation_ics(
        first,
        organizer=Person("Plymouth SEND Improvement Programme", "send.improvement@example.org"),
        summary=board.group_name,
        description="",
        stamp=now,
    )
    cal = icalendar.Calendar.from_ical(ics)
    assert cal["METHOD"] == "REQUEST" and cal["VERSION"] == "2.0" and cal["PRODID"]
    (event,) = cal.walk("VEVENT")
    assert event["SEQUENCE"] == 0 and str(event["UID"]).endswith("@example.org")
    assert event.decoded("DTSTART") == datetime(2025, 9, 30, 9, 0, tzinfo=UTC)  # 10:00 BST
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=2)
    assert str(event["ORGANIZER"]) == "mailto:send.improvement@example.org"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:imogen.castellane@example.gov.uk"
    assert attendee.params["RSVP"] == "TRUE" and attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    # what was sent, recorded, is not due again; a later start is an update of the same event
    sent = [
        Sent(d.uid, d.invitee.email, 0, Method.REQUEST, board.starts_at, board.ends_at, "")
        for d in due
    ]
    assert invitations_due(PLAN, [board], [sib], sent, now=now, domain="example.org") == []
    later = dt.timedelta(hours=1)
    moved = type(board)(**{**board.__dict__, "starts_at": board.starts_at + later})
    updates = invitations_due(PLAN, [moved], [sib], sent, now=now, domain="example.org")
    assert {(u.uid, u.sequence, u.method, u.why) for u in updates} == {
        (first.uid, 1, Method.REQUEST, "moved")
    }


def _runtime(engine: Engine, tmp_path: Path, sink: SmtpSink, clock: Clock) -> Runtime:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "i" * 40, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        engine,
        channels={
            "email": SmtpChannel(
                sink.host, sink.port, sender_address="send.improvement@example.org", starttls=False
            )
        },
        clock=clock,
        sleep=clock.advance,
    )


def test_it_invites_every_adviser_to_every_board_once_over_six_months(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    start, end = date(2025, 8, 20), date(2026, 2, 20)
    # the secretary edits the calendar twice: a move, then a cancellation
    moved_on, cancelled_on = (
        datetime(2025, 10, 20, 12, tzinfo=UTC),
        datetime(2026, 1, 5, tzinfo=UTC),
    )
    moved, changed = _changed(tmp_path, cancel=False), _changed(tmp_path, cancel=True)
    clock = Clock(datetime.combine(start, time(8), tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    plan = runtime.plans[PLAN]
    plan.cycles = lambda now: (
        SHIPPED if now < moved_on else moved if now < cancelled_on else changed
    )
    day = start
    while day < end:  # the service's tick, once a day at 09:30
        clock.now = datetime.combine(day, time(9, 30), tzinfo=LONDON).astimezone(UTC)
        tick(runtime, clock.now)
        day += timedelta(days=1)
    runtime.close()

    invitations = [m for m in sink.messages if "/invitation:" in m.message["X-Chaser-Key"]]
    sent: Counter[tuple[str, str, int, str]] = Counter()
    for message in invitations:
        cal = _calendar(message)
        (event,) = cal.walk("VEVENT")
        (to,) = message.rcpt_tos
        start_at = event.decoded("DTSTART").astimezone(LONDON).date().isoformat()
        sent[(to, start_at, int(str(event["SEQUENCE"])), str(cal["METHOD"]))] += 1
        subject = str(message.message["Subject"]).strip()
        assert subject.split(":")[0] in ("Invitation", "Updated", "Cancelled"), subject
    first = invitations[0].message  # iMIP: the calendar beside the text, with its method
    assert first.get_content_type() == "multipart/alternative"
    part = next(p for p in first.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    text = invitations[0].body("plain")
    assert "You are invited to this meeting of the Local Area SEND Improvement Board" in text
    assert "When:  Tuesday 30 September 2025, 10:00 to 12:00 (UK time)" in text
    assert set(sent.values()) == {1}  # nothing twice
    assert {to for to, *_ in sent} == ADVISERS
    boards = [
        m.date.isoformat()
        for m in meetings(changed, start, end + timedelta(days=42), groups=["SIB"])
        if m.starts_at.date() > start
        and m.starts_at - timedelta(days=42) < datetime.combine(end, time(), tzinfo=UTC)
    ]
    assert "2025-11-13" in boards and "2025-12-16" in boards and "2026-02-03" not in boards
    expected = {(a, b, 0, "REQUEST") for a in ADVISERS for b in boards if b != "2025-11-13"}
    # 11 Nov was invited before the move (SEQUENCE 0), then updated to the 13th (SEQUENCE 1)
    expected |= {(a, "2025-11-11", 0, "REQUEST") for a in ADVISERS}
    expected |= {(a, "2025-11-13", 1, "REQUEST") for a in ADVISERS}
    # 3 Feb was invited on 23 Dec, then cancelled on the 5 January edit... once
    expected |= {(a, "2026-02-03", 0, "REQUEST") for a in ADVISERS}
    expected |= {(a, "2026-02-03", 1, "CANCEL") for a in ADVISERS}
    assert set(sent) == expected
    uids = {
        str(ev["UID"])
        for m in invitations
        for ev in _calendar(m).walk("VEVENT")
        if "2025-11-1" in ev.decoded("DTSTART").isoformat()
    }
    assert len(uids) == 1  # the move updated the event calendars hold, not a second one
    with Session(engine) as s:
        records = s.exec(select(Invitation)).all()
    assert len(records) == len(invitations)
    assert {r.delivery_key for r in records} == {
        str(m.message["X-Chaser-Key"]) for m in invitations
    }
    assert all(r.mandatory and r.role for r in records)
    # the digest says who was invited from these records, not from the configuration
    by_date = {
        m.date: m for m in meetings(changed, start, end, groups=["SIB"], include_cancelled=True)
    }
    assert invited_to(runtime, plan, by_date[date(2025, 12, 16)]) == sorted(ADVISERS)
    assert invited_to(runtime, plan, by_date[date(2026, 2, 3)]) == []  # cancelled
    imogen = next(
        r for r in records if r.email.startswith("imogen") and "2025-12-23" in r.meeting_key
    )
    with Session(engine) as s:
        s.exec(
            update(Delivery).where(col(Delivery.key) == imogen.delivery_key).values(state="dead")
        )
        s.commit()
    assert "imogen.castellane@example.gov.uk" not in invited_to(
        runtime, plan, by_date[date(2025, 12, 16)]
    )


def _answer(invite: CapturedMessage, partstat: str, *, stamped: bool) -> bytes:
    """The adviser's calendar answering the invitation, as Outlook sends it (iTIP REPLY)."""
    cal = _calendar(invite)
    cal["METHOD"] = "REPLY"
    (event,) = cal.walk("VEVENT")
    event["ATTENDEE"].params["PARTSTAT"] = partstat
    mail = EmailMessage()
    (to,) = invite.rcpt_tos
    if stamped:
        mail["Authentication-Results"] = gateway_stamp(to)
    mail["From"] = to
    mail["To"] = "send.improvement@example.org"
    mail["Subject"] = f"Accepted: {invite.message['Subject']}"
    mail["Message-ID"] = f"<answer-{partstat}-{stamped}@example.gov.uk>"
    mail.set_content("Accepted")
    mail.add_alternative(cal.to_ical().decode(), subtype="calendar", params={"method": "REPLY"})
    return mail.as_bytes()


def test_it_records_an_advisers_accept_and_keeps_it_off_the_review_queue(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    tick(runtime, clock.now)
    invite = next(
        m
        for m in sink.messages
        if "/invitation:" in m.message["X-Chaser-Key"] and m.rcpt_tos[0].startswith("imogen")
    )
    forged = ingest_email(engine, _answer(invite, "DECLINED", stamped=False), now=clock.now)
    assert forged.verdict == "auto_reply" and "nothing recorded" in forged.reason
    real = ingest_email(
        engine, _answer(invite, "ACCEPTED", stamped=True), now=clock.now, receiver=TRUSTED
    )
    assert real.verdict == "auto_reply"
    assert real.reason == "accepted the invitation to SIB:2025-09-30"
    with Session(engine) as s:
        imogen = s.exec(select(Invitation).where(col(Invitation.email).startswith("imogen"))).one()
        waiting = s.exec(select(Reply).where(Reply.verdict == "review")).all()
    assert imogen.response == "accepted" and waiting == []
    runtime.close()
