"""The outbox driving the real channels against local stand-ins for Microsoft Graph and Teams."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlmodel import Session

from integrations.channels.teams import TeamsWebhookChannel
from notifications.channel import Address, Channel, OutgoingMessage
from notifications.outbox import Dispatcher, NewDelivery, enqueue
from tests.clock import Clock
from tests.fake_graph import FakeGraph, fake_graph_fixture  # noqa: F401
from tests.mail_servers import FakeWebhook
from tests.test_graph_mail import CREATE_PATH, SEND_PATH, channel
from workflows.replies.links import reference_for
from workflows.store.models import Delivery

KEY = "request:AP:SIB:2025-09-30"


START = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)


def _email(sender: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=KEY,
        channel="email",
        sender=sender,
        to=(Address("Aisha Pendleford", "aisha.pendleford@example.org"),),
        subject="Update needed by Tue 23 Sep for the SEND Improvement Board",
        text="Please send an update.",
        html="<p>Please send an update.</p>",
    )


def _dispatcher(engine: Engine, channels: dict[str, Channel], clock: Clock) -> Dispatcher:
    return Dispatcher(engine, channels, clock=clock, sleep=clock.advance, rng=random.Random(1))


def _enqueue(engine: Engine, message: OutgoingMessage, clock: Clock) -> None:
    with engine.begin() as conn:
        reference = reference_for(b"secret", message.key)
        enqueue(conn, [NewDelivery(message, reference, "request", clock())], now=clock())


def _row(engine: Engine) -> Delivery:
    with Session(engine) as s:
        return s.exec(select(Delivery)).scalars().one()  # type: ignore[call-overload,no-any-return]


def test_a_graph_429_is_honoured_and_the_message_goes_once(
    engine: Engine, fake_graph: FakeGraph
) -> None:
    clock = Clock(START)
    _enqueue(engine, _email(fake_graph.mailbox), clock)
    fake_graph.fail("POST", SEND_PATH, 429, retry_after=7)
    dispatcher = _dispatcher(engine, {"email": channel(fake_graph)}, clock)
    assert dispatcher.dispatch().retried == 1
    row = _row(engine)
    assert row.state == "pending" and row.not_before == clock() + timedelta(seconds=7)
    clock.advance(6)
    assert dispatcher.dispatch().by_key == []  # not before its Retry-After
    clock.advance(1)
    report = dispatcher.dispatch()
    assert report.sent + report.recovered == 1
    assert _row(engine).state == "sent"
    assert len(fake_graph.in_folder("sentitems")) == 1
    assert fake_graph.in_folder("drafts") == []
    assert len(fake_graph.calls("POST", CREATE_PATH)) == 1  # one draft, never a second


def test_a_graph_send_whose_answer_was_lost_is_found_in_sent_items_not_resent(
    engine: Engine, fake_graph: FakeGraph
) -> None:
    clock = Clock(START)
    _enqueue(engine, _email(fake_graph.mailbox), clock)
    fake_graph.fail("POST", SEND_PATH, 504, after=True)  # Graph sent it, then the reply failed
    dispatcher = _dispatcher(engine, {"email": channel(fake_graph)}, clock)
    assert dispatcher.dispatch().retried == 1
    clock.advance(3600)
    report = dispatcher.dispatch()
    assert (report.sent, report.recovered) == (0, 1)
    assert len(fake_graph.calls("POST", SEND_PATH)) == 1
    assert len(fake_graph.in_folder("sentitems")) == 1
    assert _row(engine).state == "sent"


def test_a_graph_permission_error_is_dead_lettered_with_the_fix(
    engine: Engine, fake_graph: FakeGraph
) -> None:
    clock = Clock(START)
    _enqueue(engine, _email(fake_graph.mailbox), clock)
    fake_graph.fail("POST", CREATE_PATH, 403, code="ErrorAccessDenied", message="Access is denied.")
    report = _dispatcher(engine, {"email": channel(fake_graph)}, clock).dispatch()
    row = _row(engine)
    assert report.dead == 1 and row.state == "dead"
    assert "Mail.Send" in row.last_error


def test_a_teams_429_is_honoured_and_the_card_is_posted_once(
    engine: Engine, webhook: FakeWebhook
) -> None:
    clock = Clock(START)
    post = OutgoingMessage(
        key=f"{KEY}:teams",
        channel="teams",
        sender="",
        to=(),
        subject="Update needed",
        text="Please send an update.",
        webhook="SIB",
        link="https://chaser.example.org/r/token",
    )
    _enqueue(engine, post, clock)
    webhook.respond(429, headers={"Retry-After": "30"})
    webhook.respond(500)
    teams = TeamsWebhookChannel({"SIB": webhook.url("sib")})
    dispatcher = _dispatcher(engine, {"teams": teams}, clock)
    dispatcher.dispatch()
    assert _row(engine).not_before == clock() + timedelta(seconds=30)
    clock.advance(30)
    dispatcher.dispatch()  # the 500: retried after a backoff
    assert _row(engine).attempts == 2 and _row(engine).state == "pending"
    clock.advance(3600)
    assert dispatcher.dispatch().sent == 1
    assert len(webhook.requests) == 3
    assert _row(engine).state == "sent"
