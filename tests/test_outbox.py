"""The outbox: nobody chased twice for the same thing, nobody forgotten, the mailbox's rate kept."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from notifications.channel import (
    Address,
    OutgoingMessage,
    PermanentError,
    Receipt,
    TransientError,
)
from notifications.outbox import Dispatcher, NewDelivery, RetryPolicy, enqueue
from tests.clock import Clock
from workflows.replies.links import reference_for
from workflows.store.models import Delivery, DeliveryState

START = datetime(2025, 9, 1, 9, 0, tzinfo=UTC)
SENDER = "send.improvement@example.org"


class AcceptedThenTimedOut(TransientError):
    """The provider took the message, but the answer never came back."""


class RecordingChannel:
    """A channel that records what it was asked to send and fails as scripted."""

    name = "email"

    def __init__(self, clock: Clock, script: list[Exception | None] | None = None) -> None:
        self.clock = clock
        self.script = list(script or [])
        self.sent: list[tuple[str, datetime]] = []
        self.provider: set[str] = set()  # what the provider has accepted
        self.lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> Receipt:
        with self.lock:
            outcome = self.script.pop(0) if self.script else None
            if isinstance(outcome, AcceptedThenTimedOut):
                self.provider.add(message.key)
            if outcome is not None:
                raise outcome
            self.sent.append((message.key, self.clock()))
            self.provider.add(message.key)
        return Receipt(provider_id=f"<{message.key}@provider>")

    def find_sent(self, message: OutgoingMessage) -> Receipt | None:
        return Receipt(provider_id="found") if message.key in self.provider else None

    def close(self) -> None:
        pass


def _message(key: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=key,
        channel="email",
        sender=SENDER,
        to=(Address("Aisha Pendleford", "aisha.pendleford@example.org"),),
        subject=f"Update needed ({key})",
        text="Please send an update.",
    )


def _enqueue(engine: Engine, keys: list[str], now: datetime = START) -> int:
    with engine.begin() as conn:
        return enqueue(
            conn,
            [
                NewDelivery(
                    message=_message(k),
                    reference=reference_for(b"test-secret", k),
                    kind="request",
                    not_before=now,
                )
                for k in keys
            ],
            now=now,
        )


def _states(engine: Engine) -> dict[str, tuple[str, int, str]]:
    with Session(engine) as s:
        return {
            d.key: (d.state, d.attempts, d.last_error)
            for d in s.execute(select(Delivery)).scalars()
        }


def _dispatcher(
    engine: Engine, channel: RecordingChannel, clock: Clock, **kw: object
) -> Dispatcher:
    return Dispatcher(
        engine,
        {"email": channel},
        clock=clock,
        sleep=clock.advance,
        rng=random.Random(4),
        **kw,  # type: ignore[arg-type]
    )


def test_it_enqueues_each_key_once_however_often_it_is_asked(engine: Engine) -> None:
    assert _enqueue(engine, ["request:AP:SIB:2025-09-30", "request:HP:SIB:2025-09-30"]) == 2
    assert _enqueue(engine, ["request:AP:SIB:2025-09-30", "request:HP:SIB:2025-09-30"]) == 0
    assert _enqueue(engine, ["reminder:AP:SIB:2025-09-30"]) == 1
    assert len(_states(engine)) == 3


def test_it_sends_each_message_once_and_records_it(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _enqueue(engine, ["a", "b", "c"])
    report = _dispatcher(engine, channel, clock).dispatch()
    assert (report.sent, report.retried, report.dead) == (3, 0, 0)
    assert [k for k, _ in channel.sent] == ["a", "b", "c"]
    assert _states(engine) == {k: ("sent", 1, "") for k in "abc"}
    assert _dispatcher(engine, channel, clock).dispatch().sent == 0


def test_it_retries_transient_failures_with_growing_jittered_backoff(engine: Engine) -> None:
    clock = Clock(START)
    failures: list[Exception | None] = [TransientError("SMTP 451"), TransientError("HTTP 503")]
    channel = RecordingChannel(clock, failures)
    _enqueue(engine, ["a"])
    dispatcher = _dispatcher(
        engine, channel, clock, policy=RetryPolicy(first_delay=60, max_delay=3600)
    )
    assert dispatcher.dispatch().retried == 1
    with Session(engine) as s:
        row = s.exec(select(Delivery)).scalars().one()  # type: ignore[call-overload]
    first_wait = (row.not_before - START).total_seconds()
    assert 30 <= first_wait <= 60 and row.last_error == "SMTP 451"
    clock.advance(first_wait - 1)
    assert dispatcher.dispatch().sent == 0  # not before its time
    clock.advance(1)
    assert dispatcher.dispatch().retried == 1
    with Session(engine) as s:
        row = s.exec(select(Delivery)).scalars().one()  # type: ignore[call-overload]
    second_wait = (row.not_before - clock()).total_seconds()
    assert 60 <= second_wait <= 120
    clock.advance(second_wait)
    assert dispatcher.dispatch().sent == 1
    assert _states(engine)["a"] == ("sent", 3, "")


def test_it_waits_exactly_as_long_as_retry_after_asks_and_holds_the_mailbox(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock, [TransientError("HTTP 429", retry_after=7)])
    _enqueue(engine, ["a", "b"])
    dispatcher = _dispatcher(engine, channel, clock, max_pace_wait=10, rate_per_minute={SENDER: 30})
    dispatcher.dispatch()
    sent = dict(channel.sent)
    # "b" waited for the mailbox (7 s), then "a" went after its own Retry-After
    assert sent["b"] == START + timedelta(seconds=7)
    assert sent["a"] >= START + timedelta(seconds=7)


def test_it_dead_letters_a_permanent_failure_with_the_reason(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock, [PermanentError("550 5.1.1 mailbox unavailable")])
    _enqueue(engine, ["a", "b"])
    report = _dispatcher(engine, channel, clock).dispatch()
    assert (report.sent, report.dead) == (1, 1)
    assert _states(engine)["a"] == ("dead", 1, "550 5.1.1 mailbox unavailable")


def test_it_gives_up_after_the_last_attempt(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock, [TransientError("timeout")] * 3)
    _enqueue(engine, ["a"])
    dispatcher = _dispatcher(
        engine, channel, clock, policy=RetryPolicy(max_attempts=3, first_delay=1)
    )
    for _ in range(3):
        dispatcher.dispatch()
        clock.advance(3600)
    state, attempts, error = _states(engine)["a"]
    assert (state, attempts) == ("dead", 3) and error == "gave up after 3 attempts: timeout"
    assert channel.sent == []


def test_it_keeps_every_rolling_minute_within_the_mailbox_rate(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _enqueue(engine, [f"m{i:03d}" for i in range(90)])
    report = _dispatcher(engine, channel, clock, rate_per_minute={SENDER: 30}).dispatch()
    assert report.sent == 90
    times = sorted(t for _, t in channel.sent)
    for i, start in enumerate(times):
        in_minute = [t for t in times[i:] if t < start + timedelta(seconds=60)]
        assert len(in_minute) <= 30
    assert times[-1] - times[0] == timedelta(seconds=178)  # one every two seconds


def test_it_puts_back_what_must_wait_long_for_the_mailbox(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _enqueue(engine, ["a", "b"])
    dispatcher = _dispatcher(engine, channel, clock, rate_per_minute={SENDER: 1}, max_pace_wait=5)
    report = dispatcher.dispatch()
    assert (report.sent, report.deferred) == (1, 1)
    assert _states(engine)["b"] == ("pending", 0, "")


def test_it_sends_only_until_its_time_is_up_and_the_next_call_carries_on_in_order(
    engine: Engine,
) -> None:
    """A day with more to send than the mailbox's pace lets out in the tick's time: each call
    sends what fits, leaves the rest pending (unclaimed, untried) and the next carries on."""
    clock = Clock(START)
    channel = RecordingChannel(clock)
    keys = [f"m{i:03d}" for i in range(20)]
    _enqueue(engine, keys)
    dispatcher = _dispatcher(engine, channel, clock, rate_per_minute={SENDER: 30})
    first = dispatcher.dispatch(until=START + timedelta(seconds=10))
    assert first.sent == 6  # at 0, 2, 4, 6, 8 and 10 seconds
    assert (first.out_of_time, first.pending) == (True, 14)
    assert clock() == START + timedelta(seconds=10)  # it never waited past its time
    states = _states(engine)
    assert [states[k] for k in keys[6:]] == [("pending", 0, "")] * 14
    with Session(engine) as s:
        assert [
            d.lease_owner
            for d in s.execute(select(Delivery).where(col(Delivery.state) == "pending")).scalars()
        ] == [""] * 14
    later = [dispatcher.dispatch(until=clock() + timedelta(seconds=10)) for _ in range(3)]
    assert [(r.sent, r.out_of_time, r.pending) for r in later] == [
        (5, True, 9),
        (5, True, 4),
        (4, False, 0),  # all sent before its time was up
    ]
    assert [k for k, _ in channel.sent] == keys  # each once, in the order they were queued
    times = [t for _, t in channel.sent]
    assert all(b - a == timedelta(seconds=2) for a, b in pairwise(times))


def test_it_does_not_wait_for_the_mailbox_past_its_time(engine: Engine) -> None:
    """The next turn is after the call's time: it stops without sleeping, and what waits keeps
    its place (not each row put off to that turn, which would leave the next call idle)."""
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _enqueue(engine, ["a", "b", "c"])
    dispatcher = _dispatcher(engine, channel, clock, rate_per_minute={SENDER: 30})
    report = dispatcher.dispatch(until=START + timedelta(seconds=1))
    assert (report.sent, report.deferred, report.out_of_time, report.pending) == (1, 0, True, 2)
    assert clock() == START  # its turn for "b" was two seconds off: it did not sleep for it
    with Session(engine) as s:
        waiting = (
            s.execute(select(Delivery).where(col(Delivery.state) == "pending")).scalars().all()
        )
    assert {d.key: (d.not_before, d.lease_owner) for d in waiting} == {
        "b": (START, ""),
        "c": (START, ""),
    }
    clock.advance(1)
    report = dispatcher.dispatch(until=clock() + timedelta(seconds=5))
    assert (report.sent, report.out_of_time) == (2, False)
    assert channel.sent == [
        ("a", START),
        ("b", START + timedelta(seconds=2)),
        ("c", START + timedelta(seconds=4)),
    ]


def test_without_a_time_limit_it_is_not_out_of_time(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _enqueue(engine, ["a", "b"])
    report = _dispatcher(engine, channel, clock, rate_per_minute={SENDER: 30}).dispatch()
    assert (report.sent, report.out_of_time, report.pending) == (2, False, 0)


def test_a_crash_between_claiming_and_sending_neither_loses_nor_duplicates(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _enqueue(engine, ["a", "b"])
    crashed = _dispatcher(engine, channel, clock, lease_seconds=300, worker_id="crashed")
    claimed = crashed.claim()  # ...and the process dies here, before sending
    assert [row["key"] for row in claimed] == ["a"]
    restarted = _dispatcher(engine, channel, clock, worker_id="restarted")
    assert [k for k, _ in restarted.dispatch().by_key] == ["b"]  # "a" is leased, not lost
    clock.advance(301)
    report = restarted.dispatch()
    assert [k for k, _ in channel.sent] == ["b", "a"]
    assert report.sent == 1 and _states(engine)["a"] == ("sent", 1, "")


def test_a_crash_after_the_provider_accepted_does_not_send_again(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _enqueue(engine, ["a"])
    crashed = _dispatcher(engine, channel, clock, worker_id="crashed")
    claimed = crashed.claim()
    assert len(claimed) == 1
    assert crashed._submit(claimed[0])  # as process() records before handing it over
    channel.send(_message("a"))  # the provider accepts it; the process dies before recording
    clock.advance(901)
    report = _dispatcher(engine, channel, clock, worker_id="restarted").dispatch()
    assert (report.sent, report.recovered) == (0, 1)
    assert [k for k, _ in channel.sent] == ["a"]
    assert _states(engine)["a"][0] == "sent"


def test_a_crash_mid_send_asks_the_provider_but_one_before_handing_over_does_not(
    engine: Engine,
) -> None:
    clock = Clock(START)

    asked: list[str] = []

    class Asked(RecordingChannel):
        def find_sent(self, message: OutgoingMessage) -> Receipt | None:
            asked.append(message.key)
            return super().find_sent(message)

    channel = Asked(clock)
    _enqueue(engine, ["claimed", "handed"])
    crashed = _dispatcher(engine, channel, clock, worker_id="crashed")
    claimed = {row["key"]: row for row in crashed.claim(2)}
    assert crashed._submit(claimed["handed"])  # handed over; the process dies mid-send
    assert _states(engine)["handed"][0] == "submitting"
    clock.advance(901)
    report = _dispatcher(engine, channel, clock, worker_id="restarted").dispatch()
    assert asked == ["handed"]  # only the one whose fate is unknown
    assert (report.sent, report.resent_unknown) == (2, 1)  # the provider could not say
    assert {k: v[0] for k, v in _states(engine).items()} == {"claimed": "sent", "handed": "sent"}


def test_a_timeout_that_hid_an_accepted_message_does_not_send_it_again(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock, [AcceptedThenTimedOut("read timed out")])
    _enqueue(engine, ["a"])
    dispatcher = _dispatcher(engine, channel, clock)
    assert dispatcher.dispatch().retried == 1
    clock.advance(3600)
    report = dispatcher.dispatch()
    assert (report.sent, report.recovered) == (0, 1)
    assert channel.sent == [] and _states(engine)["a"][0] == "sent"


def test_stopping_finishes_the_message_in_hand_and_hands_back_the_rest(engine: Engine) -> None:
    clock = Clock(START)
    _enqueue(engine, ["a", "b", "c"])

    class StopsTheService(RecordingChannel):
        def send(self, message: OutgoingMessage) -> Receipt:
            dispatcher.stop()  # SIGTERM arrives while "a" is being sent
            return super().send(message)

    channel = StopsTheService(clock)
    dispatcher = _dispatcher(engine, channel, clock)
    assert dispatcher.dispatch().sent == 1
    assert {k: s for k, (s, _, _) in _states(engine).items()} == {
        "a": "sent",
        "b": "pending",
        "c": "pending",
    }


def _a_crash_left_one_fate_unknown(engine: Engine, channel: RecordingChannel, clock: Clock) -> None:
    """ "claimed" was claimed and "handed" handed over and accepted by the provider, then the
    worker died; its lease has run out."""
    _enqueue(engine, ["claimed", "handed"])
    crashed = _dispatcher(engine, channel, clock, worker_id="crashed")
    claimed = {row["key"]: row for row in crashed.claim(2)}
    assert crashed._submit(claimed["handed"])
    channel.provider.add("handed")  # accepted; the process died before recording it
    clock.advance(901)


def test_a_message_whose_fate_is_unknown_handed_back_at_its_time_is_still_looked_up_first(
    engine: Engine,
) -> None:
    clock = Clock(START)

    class Slow(RecordingChannel):
        def send(self, message: OutgoingMessage) -> Receipt:
            clock.advance(5)  # the tick's time runs out during this send
            return super().send(message)

    channel = Slow(clock)
    _a_crash_left_one_fate_unknown(engine, channel, clock)
    dispatcher = _dispatcher(engine, channel, clock, worker_id="restarted")
    first = dispatcher.dispatch(until=clock() + timedelta(seconds=1))
    assert (first.sent, first.out_of_time) == (1, True)
    assert _states(engine)["handed"][0] == "submitting"  # not "pending": its fate is unknown
    second = dispatcher.dispatch(until=clock() + timedelta(seconds=60))
    assert (second.sent, second.recovered) == (0, 1)  # the provider had it: not sent again
    assert [k for k, _ in channel.sent] == ["claimed"]


def test_a_message_whose_fate_is_unknown_handed_back_on_stopping_is_still_looked_up_first(
    engine: Engine,
) -> None:
    clock = Clock(START)

    class StopsTheService(RecordingChannel):
        def send(self, message: OutgoingMessage) -> Receipt:
            dispatcher.stop()  # SIGTERM arrives while "claimed" is being sent
            return super().send(message)

    channel = StopsTheService(clock)
    _a_crash_left_one_fate_unknown(engine, channel, clock)
    dispatcher = _dispatcher(engine, channel, clock, worker_id="restarted")
    assert dispatcher.dispatch().sent == 1
    assert _states(engine)["handed"][0] == "submitting"
    report = _dispatcher(engine, channel, clock, worker_id="next start").dispatch()
    assert (report.sent, report.recovered) == (0, 1)
    assert [k for k, _ in channel.sent] == ["claimed"]


def test_a_worker_that_dies_while_asking_the_provider_leaves_the_next_one_asking_too(
    engine: Engine,
) -> None:
    """A second crash, while the recovering worker asks the provider (for Graph, it may send
    the draft the first one left): the next worker still asks rather than sending a copy."""
    clock = Clock(START)
    channel = RecordingChannel(clock)
    _a_crash_left_one_fate_unknown(engine, channel, clock)
    second = _dispatcher(engine, channel, clock, worker_id="second")
    claimed = {row["key"]: row for row in second.claim(2)}
    assert claimed["handed"]["recovering"]  # ...and this one dies here too
    assert _states(engine)["handed"][0] == "submitting"
    clock.advance(901)
    report = _dispatcher(engine, channel, clock, worker_id="third").dispatch()
    assert (report.sent, report.recovered) == (1, 1)  # "claimed" sent, "handed" found
    assert [k for k, _ in channel.sent] == ["claimed"]


def test_a_message_whose_fate_is_unknown_stays_so_while_the_provider_cannot_be_asked(
    engine: Engine,
) -> None:
    clock = Clock(START)

    class Unreachable(RecordingChannel):
        answers = False

        def find_sent(self, message: OutgoingMessage) -> Receipt | None:
            if not self.answers:
                raise TransientError("Sent Items could not be searched", retry_after=120)
            return super().find_sent(message)

    channel = Unreachable(clock)
    _a_crash_left_one_fate_unknown(engine, channel, clock)
    dispatcher = _dispatcher(engine, channel, clock, worker_id="restarted")
    first = dispatcher.dispatch()
    assert (first.sent, first.deferred) == (1, 1)
    assert _states(engine)["handed"][:2] == ("submitting", 0)  # not "pending": still unknown
    assert dispatcher.dispatch().by_key == []  # not before the two minutes
    clock.advance(121)
    channel.answers = True
    again = dispatcher.dispatch()
    assert (again.sent, again.recovered) == (0, 1)  # asked again, and the provider had it
    assert [k for k, _ in channel.sent] == ["claimed"]


def test_a_message_for_an_unconfigured_channel_is_dead_lettered_with_the_fix(
    engine: Engine,
) -> None:
    clock = Clock(START)
    with engine.begin() as conn:
        teams = OutgoingMessage(key="t", channel="teams", sender=SENDER, to=(), subject="", text="")
        enqueue(conn, [NewDelivery(teams, "CHS-T", "request", START)], now=START)
    report = _dispatcher(engine, RecordingChannel(clock), clock).dispatch()
    assert report.dead == 1 and "no 'teams' channel is configured" in _states(engine)["t"][2]


def test_two_dispatchers_at_once_never_send_the_same_message(engine: Engine) -> None:
    clock = Clock(START)
    channel = RecordingChannel(clock)
    keys = [f"m{i:03d}" for i in range(200)]
    _enqueue(engine, keys)
    workers = [
        _dispatcher(engine, channel, clock, worker_id=f"w{i}", batch_size=5) for i in range(2)
    ]
    reports = []
    together = threading.Barrier(len(workers))

    def work(worker: Dispatcher) -> None:
        together.wait()
        reports.append(worker.dispatch())

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(k for k, _ in channel.sent)
    assert sorted(counts) == keys and set(counts.values()) == {1}
    assert all(r.sent > 0 for r in reports), "both workers should have taken a share"
    assert set(s for s, _, _ in _states(engine).values()) == {DeliveryState.SENT}
