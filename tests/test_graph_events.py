"""Board invitations as Graph calendar events in the shared mailbox, through the local fake Graph.

When Graph carries Chaser's email, each meeting is one event in the shared mailbox's calendar
with every invitee on it (Exchange sends the invitations): created once, moved with one PATCH,
cancelled with one cancel, never twice after a crash, and recorded per invitee as for email.
msal and Chaser's one Graph client talk to the fake over TLS; nothing leaves the machine.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.digests import invited_to
from chaser.importing import import_people, import_plan
from chaser.invitations import enqueue_invitations
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.graph_mail import GraphMailChannel
from integrations.graph.calendar import SEQUENCE_PROPERTY_ID, UID_PROPERTY_ID, transaction_id
from notifications.channel import OutgoingMessage
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.fake_graph import FakeGraph, fake_graph_fixture, graph_client  # noqa: F401
from tests.test_invitations import ADVISERS, PLAN, SHIPPED, _changed
from workflows.calendar.cycles import LONDON, CyclesConfig, load_cycles
from workflows.calendar.meetings import Meeting, meetings
from workflows.plan.mapping import load_mapping
from workflows.store.invitation_models import Invitation
from workflows.store.models import Delivery

SENDER = "send.improvement@example.org"  # the Plymouth plan's sender: the shared mailbox
EVENTS = r"/users/[^/]+/events$"
ONE_EVENT = r"/users/[^/]+/events/[^/]+$"
CANCEL = r"/users/[^/]+/events/[^/]+/cancel$"


def _runtime(engine: Engine, tmp_path: Path, fake: FakeGraph, clock: Clock) -> Runtime:
    fake.mailbox = SENDER
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "g" * 40, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        engine,
        channels={"email": GraphMailChannel(graph_client(fake), mailbox=SENDER)},
        clock=clock,
        sleep=clock.advance,
    )


def _invite(runtime: Runtime, clock: Clock, when: datetime) -> None:
    """What a tick does for invitations at ``when``: enqueue what is due, then send it."""
    clock.now = when
    enqueue_invitations(runtime, runtime.plans[PLAN], when)
    runtime.get_dispatcher().dispatch()


def _records(engine: Engine, meeting_key: str) -> list[Invitation]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(Invitation)
                .where(Invitation.meeting_key == meeting_key)
                .order_by(col(Invitation.id))
            ).all()
        )


def _meeting(config: CyclesConfig, day: date) -> Meeting:
    found = meetings(config, day, day, groups=["SIB"], include_cancelled=True)
    assert found, day
    return found[0]


def test_it_makes_the_board_one_graph_event_with_every_adviser_and_records_it(
    engine: Engine, tmp_path: Path, fake_graph: FakeGraph
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, fake_graph, clock)
    tick(runtime, clock.now)  # the service's own tick: chases go as mail, the board as an event

    (create,) = fake_graph.calls("POST", EVENTS)
    body = create.body
    assert body["subject"] == "Local Area SEND Improvement Board"
    assert body["start"] == {"dateTime": "2025-09-30T10:00:00", "timeZone": "Europe/London"}
    assert body["end"] == {"dateTime": "2025-09-30T12:00:00", "timeZone": "Europe/London"}
    assert body["isOnlineMeeting"] is False
    assert {a["emailAddress"]["address"] for a in body["attendees"]} == ADVISERS
    assert {a["type"] for a in body["attendees"]} == {"required"}  # the notice's advisers
    assert "You are invited to this meeting" in body["body"]["content"]
    (event,) = fake_graph.calendar()
    assert event["iCalUId"] and event["isOrganizer"] and not event["isCancelled"]
    # Exchange, not Chaser, wrote to the advisers: one request each, and no .ics mail at all
    assert Counter((m.kind, m.to) for m in fake_graph.meeting_messages) == {
        ("request", a): 1 for a in ADVISERS
    }
    drafts = [c.body for c in fake_graph.calls("POST", r"/messages$") if c.body]
    assert drafts and not any(
        a.get("name") == "invite.ics" for d in drafts for a in d.get("attachments", [])
    )
    assert not any(str(d.get("subject", "")).startswith("Invitation:") for d in drafts)

    records = _records(engine, "SIB:2025-09-30")
    assert {r.email for r in records} == ADVISERS
    assert {r.via for r in records} == {"graph"} and len({r.delivery_key for r in records}) == 1
    key = records[0].delivery_key
    assert body["transactionId"] == transaction_id(key)  # the same on any retry of the row
    with Session(engine) as s:
        row = s.exec(select(Delivery).where(Delivery.key == key)).one()
    assert row.state == "sent" and row.provider_id == event["id"]
    # the digest counts Graph-sent invitations from the records, as for email
    plan = runtime.plans[PLAN]
    board = _meeting(SHIPPED, date(2025, 9, 30))
    assert invited_to(runtime, plan, board) == sorted(ADVISERS)

    _invite(runtime, clock, clock.now + timedelta(minutes=1))  # the next tick
    assert len(fake_graph.calls("POST", EVENTS)) == 1  # nothing sent twice
    assert {r.graph_event_id for r in _records(engine, "SIB:2025-09-30")} == {event["id"]}
    runtime.close()


def test_it_moves_a_board_with_one_patch_and_cancels_one_with_one_cancel(
    engine: Engine, tmp_path: Path, fake_graph: FakeGraph
) -> None:
    moved, changed = _changed(tmp_path, cancel=False), _changed(tmp_path, cancel=True)
    clock = Clock(datetime(2025, 10, 1, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, fake_graph, clock)
    plan = runtime.plans[PLAN]
    plan.cycles = lambda now: SHIPPED
    _invite(runtime, clock, clock.now)
    (november,) = fake_graph.calendar()
    assert november["start"]["dateTime"] == "2025-11-11T10:00:00"

    plan.cycles = lambda now: moved  # the secretary moves the 11 November board to the 13th
    for hour in (9, 10):  # two ticks: the move goes once
        _invite(runtime, clock, datetime(2025, 10, 20, hour, tzinfo=UTC))
    (patch,) = fake_graph.calls("PATCH", ONE_EVENT)
    assert patch.path.endswith(november["id"])
    assert patch.body["start"] == {"dateTime": "2025-11-13T10:00:00", "timeZone": "Europe/London"}
    assert {a["emailAddress"]["address"] for a in patch.body["attendees"]} == ADVISERS
    assert "has changed" in patch.body["body"]["content"]
    assert len(fake_graph.calendar()) == 1  # the same event, moved: not a second one
    updates = [m.to for m in fake_graph.meeting_messages if m.kind == "update"]
    assert sorted(updates) == sorted(ADVISERS)
    assert {(r.sequence, r.why) for r in _records(engine, "SIB:2025-11-11")} == {
        (0, "new"),
        (1, "moved"),
    }
    assert invited_to(runtime, plan, _meeting(moved, date(2025, 11, 13))) == sorted(ADVISERS)

    # 3 February is invited from 23 December, then cancelled on 5 January
    _invite(runtime, clock, datetime.combine(date(2025, 12, 24), time(9), tzinfo=LONDON))
    february = next(
        e for e in fake_graph.calendar() if e["start"]["dateTime"].startswith("2026-02-03")
    )
    plan.cycles = lambda now: changed
    for hour in (9, 10):
        _invite(runtime, clock, datetime(2026, 1, 5, hour, tzinfo=UTC))
    (cancel,) = fake_graph.calls("POST", CANCEL)
    assert cancel.path == f"/v1.0/users/{SENDER}/events/{february['id']}/cancel"
    assert "has been cancelled" in cancel.body["comment"]
    assert fake_graph.events[february["id"]]["isCancelled"]
    cancels = [m for m in fake_graph.meeting_messages if m.kind == "cancel"]
    assert sorted(m.to for m in cancels) == sorted(ADVISERS)
    assert all(m.event_id == february["id"] and m.comment for m in cancels)
    assert len(fake_graph.calls("PATCH", ONE_EVENT)) == 1  # still the one move
    assert invited_to(runtime, plan, _meeting(changed, date(2026, 2, 3))) == []
    assert {r.method for r in _records(engine, "SIB:2026-02-03")} == {"REQUEST", "CANCEL"}

    # a change re-sent after a later one (a dead letter re-queued) leaves the event alone
    first = next(r for r in _records(engine, "SIB:2025-11-11") if r.sequence == 0)
    with Session(engine) as s:
        stale = s.exec(select(Delivery).where(Delivery.key == first.delivery_key)).one()
    channel = runtime.channels["email"]
    receipt = channel.send(OutgoingMessage.from_json(stale.payload))
    assert receipt.provider_id == november["id"] and "superseded" in receipt.detail
    assert len(fake_graph.calls("PATCH", ONE_EVENT)) == 1
    assert fake_graph.events[november["id"]]["start"]["dateTime"] == "2025-11-13T10:00:00"
    runtime.close()


def test_it_makes_no_second_event_when_graph_created_it_but_the_answer_was_lost(
    engine: Engine, tmp_path: Path, fake_graph: FakeGraph
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, fake_graph, clock)
    fake_graph.fail("POST", EVENTS, 504, after=True)  # Graph made the event; Chaser never heard
    _invite(runtime, clock, clock.now)
    assert len(fake_graph.calendar()) == 1
    (record, *_) = _records(engine, "SIB:2025-09-30")
    with Session(engine) as s:
        row = s.exec(select(Delivery).where(Delivery.key == record.delivery_key)).one()
    assert row.state == "pending" and row.attempts == 1  # to be retried

    # another worker, which never saw the first attempt, sends the row again: it looks first
    message = OutgoingMessage.from_json(row.payload)
    other = GraphMailChannel(graph_client(fake_graph), mailbox=SENDER)
    (event,) = fake_graph.calendar()
    assert other.send(message).provider_id == event["id"]
    other.close()

    clock.advance(3600)  # past the backoff: the outbox asks Graph before sending again
    report = runtime.get_dispatcher().dispatch()
    assert report.recovered == 1 and report.sent == 0
    assert len(fake_graph.calls("POST", EVENTS)) == 1  # one create, ever
    assert len(fake_graph.calendar()) == 1
    assert Counter(m.kind for m in fake_graph.meeting_messages) == {"request": len(ADVISERS)}
    with Session(engine) as s:
        row = s.exec(select(Delivery).where(Delivery.key == record.delivery_key)).one()
    assert row.state == "sent" and row.provider_id == event["id"]
    # the lookup is by the meeting's UID, stamped on the event with the change's sequence
    props = {p["id"]: p["value"] for p in event_props(fake_graph, event["id"])}
    assert props[UID_PROPERTY_ID] == record.uid and props[SEQUENCE_PROPERTY_ID] == "0"
    _invite(runtime, clock, clock.now + timedelta(minutes=1))
    assert {r.graph_event_id for r in _records(engine, "SIB:2025-09-30")} == {event["id"]}
    runtime.close()


def event_props(fake: FakeGraph, event_id: str) -> list[dict[str, str]]:
    return list(fake.events[event_id]["_props"])


def _edited(tmp_path: Path, name: str, *, old: str, new: str) -> CyclesConfig:
    text = (ROOT / "config" / "cycles.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"cycles-{name}.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return load_cycles(path)


def test_it_puts_a_new_adviser_on_the_event_and_takes_one_off_with_one_patch(
    engine: Engine, tmp_path: Path, fake_graph: FakeGraph
) -> None:
    beatrix = (
        "      - name: Beatrix Oduya\n"
        "        role: Department for Education case lead\n"
        "        email: beatrix.oduya@example.gov.uk\n"
    )
    tamsin = (
        "      - name: Tamsin Polglaze\n"
        "        role: Department for Education case lead\n"
        "        email: tamsin.polglaze@example.gov.uk\n"
    )
    replaced = _edited(tmp_path, "case-lead", old=beatrix, new=tamsin)
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, fake_graph, clock)
    plan = runtime.plans[PLAN]
    plan.cycles = lambda now: SHIPPED
    _invite(runtime, clock, clock.now)
    plan.cycles = lambda now: replaced  # the Department names a new case lead
    _invite(runtime, clock, clock.now + timedelta(days=1))
    _invite(runtime, clock, clock.now + timedelta(minutes=1))

    (patch,) = fake_graph.calls("PATCH", ONE_EVENT)
    now_on = ADVISERS - {"beatrix.oduya@example.gov.uk"} | {"tamsin.polglaze@example.gov.uk"}
    assert {a["emailAddress"]["address"] for a in patch.body["attendees"]} == now_on
    assert len(fake_graph.calls("POST", EVENTS)) == 1 and len(fake_graph.calendar()) == 1
    told = {(m.kind, m.to) for m in fake_graph.meeting_messages[len(ADVISERS) :]}
    assert told == {
        ("request", "tamsin.polglaze@example.gov.uk"),
        ("cancel", "beatrix.oduya@example.gov.uk"),
    }
    records = {(r.email, r.sequence, r.method, r.why) for r in _records(engine, "SIB:2025-09-30")}
    assert ("beatrix.oduya@example.gov.uk", 1, "CANCEL", "uninvited") in records
    assert ("tamsin.polglaze@example.gov.uk", 0, "REQUEST", "new") in records
    board = _meeting(replaced, date(2025, 9, 30))
    assert invited_to(runtime, plan, board) == sorted(now_on)
    runtime.close()


def test_it_cancels_a_board_only_after_its_invitation_reached_graph(
    engine: Engine, tmp_path: Path, fake_graph: FakeGraph
) -> None:
    cancelled = _edited(
        tmp_path,
        "cancel-september",
        old="      - slot: 2025-12-23\n",
        new="      - slot: 2025-09-30\n        cancelled: true\n      - slot: 2025-12-23\n",
    )
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, fake_graph, clock)
    plan = runtime.plans[PLAN]
    plan.cycles = lambda now: SHIPPED
    fake_graph.fail("POST", EVENTS, 503, times=2)  # the create waits in the outbox, twice
    _invite(runtime, clock, clock.now)
    assert fake_graph.calendar() == []
    plan.cycles = lambda now: cancelled  # ...and meanwhile the board is called off
    _invite(runtime, clock, clock.now + timedelta(minutes=1))
    assert fake_graph.calls("POST", CANCEL) == []  # the cancellation waits for the invitation
    for _ in range(3):
        _invite(runtime, clock, clock.now + timedelta(hours=1))

    tries = fake_graph.calls("POST", EVENTS)
    assert len(tries) == 3 and len(fake_graph.events) == 1  # two refused, then one event
    assert len(fake_graph.calls("POST", CANCEL)) == 1
    assert fake_graph.calendar() == []  # nothing left in the calendar for a cancelled board
    assert [e["isCancelled"] for e in fake_graph.events.values()] == [True]
    assert invited_to(runtime, plan, _meeting(cancelled, date(2025, 9, 30))) == []
    runtime.close()


def test_it_records_the_advisers_answers_exchange_keeps_on_the_event(
    engine: Engine, tmp_path: Path, fake_graph: FakeGraph
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, fake_graph, clock)
    runtime.plans[PLAN].cycles = lambda now: SHIPPED
    _invite(runtime, clock, clock.now)
    (event,) = fake_graph.calendar()
    fake_graph.respond(event["id"], "imogen.castellane@example.gov.uk", "accepted")
    fake_graph.respond(event["id"], "rhodri.penhallow@example.nhs.uk", "tentativelyAccepted")
    reads = r"/users/[^/]+/events/[^/?]+$"

    _invite(runtime, clock, clock.now + timedelta(minutes=1))
    answers = {r.email: r.response for r in _records(engine, "SIB:2025-09-30")}
    assert answers == {
        "imogen.castellane@example.gov.uk": "accepted",
        "rhodri.penhallow@example.nhs.uk": "tentative",
        "beatrix.oduya@example.gov.uk": "",
    }
    assert all(r.responded_at for r in _records(engine, "SIB:2025-09-30") if r.response)
    assert len(fake_graph.calls("GET", reads)) == 1

    fake_graph.respond(event["id"], "beatrix.oduya@example.gov.uk", "declined")
    _invite(runtime, clock, clock.now + timedelta(minutes=1))  # not read again so soon
    assert len(fake_graph.calls("GET", reads)) == 1
    _invite(runtime, clock, clock.now + timedelta(hours=1))
    answers = {r.email: r.response for r in _records(engine, "SIB:2025-09-30")}
    assert answers["beatrix.oduya@example.gov.uk"] == "declined"
    assert len(fake_graph.calls("GET", reads)) == 2

    fake_graph.respond(event["id"], "beatrix.oduya@example.gov.uk", "accepted")
    fake_graph.fail("GET", reads, 503)  # Graph down: the tick carries on...
    _invite(runtime, clock, clock.now + timedelta(hours=1))
    beatrix = next(r for r in _records(engine, "SIB:2025-09-30") if r.email.startswith("beatrix"))
    assert beatrix.response == "declined"
    _invite(runtime, clock, clock.now + timedelta(minutes=1))  # ...and the next one reads it
    beatrix = next(r for r in _records(engine, "SIB:2025-09-30") if r.email.startswith("beatrix"))
    assert beatrix.response == "accepted"
    runtime.close()


def test_it_invites_every_adviser_to_every_board_once_over_six_months_by_graph(
    engine: Engine, tmp_path: Path, fake_graph: FakeGraph
) -> None:
    start, end = date(2025, 8, 20), date(2026, 2, 20)
    moved_on, cancelled_on = (
        datetime(2025, 10, 20, 12, tzinfo=UTC),
        datetime(2026, 1, 5, tzinfo=UTC),
    )
    moved, changed = _changed(tmp_path, cancel=False), _changed(tmp_path, cancel=True)
    clock = Clock(datetime.combine(start, time(8), tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, fake_graph, clock)
    runtime.plans[PLAN].cycles = lambda now: (
        SHIPPED if now < moved_on else moved if now < cancelled_on else changed
    )
    day = start
    while day < end:  # the invitations' part of the daily tick, at 09:30
        _invite(runtime, clock, datetime.combine(day, time(9, 30), tzinfo=LONDON))
        day += timedelta(days=1)
    runtime.close()

    boards = sorted(e["start"]["dateTime"][:10] for e in fake_graph.events.values())
    created = [c.body["start"]["dateTime"][:10] for c in fake_graph.calls("POST", EVENTS)]
    assert len(created) == len(set(created)) == len(boards)  # one create per board, ever
    assert "2025-11-11" in created  # created for the 11th, then moved
    assert "2025-11-13" in boards and "2026-02-03" in boards
    told: Counter[tuple[str, str, str]] = Counter()
    for m in fake_graph.meeting_messages:
        told[(m.kind, m.to, fake_graph.events[m.event_id]["start"]["dateTime"][:10])] += 1
    assert set(told.values()) == {1}  # nobody told anything twice
    expected = {("request", a, b) for a in ADVISERS for b in boards}
    expected |= {("update", a, "2025-11-13") for a in ADVISERS}  # the move
    expected |= {("cancel", a, "2026-02-03") for a in ADVISERS}  # the cancellation
    assert set(told) == expected
    assert len(fake_graph.calls("PATCH", ONE_EVENT)) == 1
    assert len(fake_graph.calls("POST", CANCEL)) == 1
