"""The outbox: every message is a row with a unique key; a dispatcher claims rows and sends them.

Guarantees (see docs/outbox.md):

- **Never twice for the same thing.** Rows are enqueued with "insert unless the key exists", so
  asking again (a second tick, a second worker, a restart) adds nothing.
- **Never two workers on one row.** A worker claims a row by a conditional UPDATE that must
  change exactly one row (PostgreSQL first locks a candidate with ``FOR UPDATE SKIP LOCKED`` so
  workers do not queue on the same one). The claim is a lease: a worker that dies leaves its
  rows to be claimed again when the lease expires.
- **Never twice after a crash, where the provider can tell.** Just before a message is handed to
  its channel the row becomes ``submitting`` (committed). A row a dead worker left ``sending``
  was never handed over and is simply sent; one left ``submitting`` may have been accepted, so
  the channel is asked first (Graph: its Sent Items and Drafts, by the key). SMTP cannot be
  asked: its second copy carries the first one's Message-ID (docs/outbox.md, the residual
  window).
- **Never lost.** A transient failure (timeouts, 5xx, SMTP 4xx) puts the row back with
  exponential backoff and jitter, or exactly the ``Retry-After`` a 429 asked for; a permanent one,
  or too many attempts, moves it to ``dead`` with the reason, for the digest to report.
- **Within the mailbox's rate.** Sends from one mailbox are paced through a row shared by all
  workers (:class:`~workflows.store.models.SenderPace`).
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import time as _time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import structlog
from sqlalchemy import Engine, and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from notifications.channel import (
    Channel,
    OutgoingMessage,
    PermanentError,
    Receipt,
    TransientError,
    log_reason,
)
from workflows.store.models import Delivery, DeliveryAction, DeliveryState, SenderPace

log = structlog.get_logger(__name__)
_T = TypeVar("_T")


class StoreUnavailable(Exception):
    """The store could not be reached for longer than the dispatcher waits."""


DELIVERY = Delivery.__table__  # type: ignore[attr-defined]
DELIVERY_ACTION = DeliveryAction.__table__  # type: ignore[attr-defined]
PACE = SenderPace.__table__  # type: ignore[attr-defined]


_FINISHED = ("state", "attempts", "not_before", "provider_id", "sent_at", "last_error")
#: What a worker needs of a claimed row (no more: each column costs on the hot path).
_CLAIMED = [DELIVERY.c[name] for name in ("id", "key", "kind", "channel", "sender", "payload")]
_CLAIMED += [DELIVERY.c[name] for name in _FINISHED]
_FINISH = (
    update(DELIVERY)
    .where(DELIVERY.c.id == bindparam("row_id"), DELIVERY.c.lease_owner == bindparam("owner"))
    .values(
        lease_owner="",
        lease_expires_at=None,
        updated_at=bindparam("new_updated_at"),
        **{name: bindparam(f"new_{name}") for name in _FINISHED},
    )
)


@dataclass(frozen=True)
class NewDelivery:
    """A message to enqueue."""

    message: OutgoingMessage
    reference: str
    kind: str
    not_before: datetime
    plan_id: int | None = None
    person_code: str = ""
    recipient_code: str = ""
    meeting_key: str = ""
    action_refs: tuple[str, ...] = ()
    due_by: datetime | None = None
    #: Whose each action is, by ref, where it is not ``person_code``'s (an escalation).
    action_leads: tuple[tuple[str, str], ...] = ()

    def row(self, now: datetime) -> dict[str, Any]:
        message = self.message
        if not message.message_id_token:
            seed = f"{self.reference}\n{message.key}".encode()
            message = replace(message, message_id_token=hashlib.sha256(seed).hexdigest()[:32])
        if message.written_at is None:
            message = replace(message, written_at=now)
        return {
            "key": self.message.key,
            "reference": self.reference,
            "kind": self.kind,
            "channel": self.message.channel,
            "sender": self.message.sender,
            "plan_id": self.plan_id,
            "person_code": self.person_code,
            "recipient_code": self.recipient_code,
            "meeting_key": self.meeting_key,
            "action_refs": list(self.action_refs),
            "due_by": self.due_by,
            "payload": message.to_json(),
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "not_before": self.not_before,
            "lease_owner": "",
            "lease_expires_at": None,
            "provider_id": "",
            "last_error": "",
            "created_at": now,
            "updated_at": now,
            "sent_at": None,
        }


def enqueue(conn: Connection, deliveries: Iterable[NewDelivery], *, now: datetime) -> int:
    """Insert each delivery unless its key is already in the outbox; returns how many were new.

    Each new message's actions are written beside it (:func:`delivery_links`)."""
    given = list(deliveries)
    rows = [d.row(now) for d in given]
    if not rows:
        return 0
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = (
        dialect.insert(DELIVERY)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(DELIVERY.c.id, DELIVERY.c.key)
    )
    by_key = {d.message.key: d for d in given}
    inserted = 0
    for start in range(0, len(rows), 200):
        new = conn.execute(statement, rows[start : start + 200]).all()
        inserted += len(new)
        links = [link for row_id, key in new for link in delivery_links(row_id, by_key[key])]
        if links:
            conn.execute(DELIVERY_ACTION.insert(), links)
    return inserted


def delivery_links(delivery_id: int, delivery: NewDelivery) -> list[dict[str, Any]]:
    """The ``delivery_action`` rows of a message: one per action it asks about, once each, with
    whose action it is."""
    if delivery.plan_id is None:
        return []
    leads = dict(delivery.action_leads)
    return [
        {
            "delivery_id": delivery_id,
            "ref": ref,
            "plan_id": delivery.plan_id,
            "lead_code": leads.get(ref, delivery.person_code),
        }
        for ref in dict.fromkeys(delivery.action_refs)
        if ref
    ]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    first_delay: float = 60.0
    max_delay: float = 3600.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": between half and all of the capped delay."""
        capped = min(self.max_delay, self.first_delay * float(2 ** max(0, attempt - 1)))
        return float(capped / 2 + rng.random() * capped / 2)


@dataclass
class DispatchReport:
    sent: int = 0
    recovered: int = 0  # found already sent after a crash: recorded, not resent
    retried: int = 0
    dead: int = 0
    deferred: int = 0  # put back to wait for the mailbox's rate
    #: The call's time (``until``) was up before it could send all it might have.
    out_of_time: bool = False
    #: Then, how many messages were still pending in the outbox (the next calls send them).
    pending: int = 0
    #: Sent again after a crash left its fate unknown and the provider could not say (SMTP).
    resent_unknown: int = 0
    by_key: list[tuple[str, str]] = field(default_factory=list)  # (key, outcome)


def _now() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dispatcher:
    """Claims deliveries and sends them through their channel. Safe to run in many processes."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        *,
        rate_per_minute: Mapping[str, int | None] | None = None,
        policy: RetryPolicy = RetryPolicy(),
        worker_id: str | None = None,
        lease_seconds: float = 900.0,
        max_pace_wait: float = 10.0,
        batch_size: int = 100,
        store_patience: float = 120.0,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], None] = _time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.channels = channels
        self.rates = dict(rate_per_minute or {})
        self.policy = policy
        self.worker_id = worker_id or default_worker_id()
        self.lease = timedelta(seconds=lease_seconds)
        self.max_pace_wait = max_pace_wait
        self.batch_size = batch_size
        self.store_patience = store_patience
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.stopping = False

    def stop(self) -> None:
        """Finish the message in hand, then stop (graceful shutdown)."""
        self.stopping = True

    # -- the loop ------------------------------------------------------------------------------
    def dispatch(
        self, *, limit: int | None = None, until: datetime | None = None
    ) -> DispatchReport:
        """Send everything claimable now; returns when nothing is (or after ``limit`` claims).

        With ``until`` (on the dispatcher's clock) it also returns once that moment comes, and
        never waits for the mailbox's pace past it: what is not sent by then stays pending, in
        its place, for the next call. The service's tick sends this way,
        so a day of 2,000 paced messages does not hold one tick (and the replies behind it)
        for an hour."""
        report = DispatchReport()
        claims = 0
        while not self.stopping and not report.out_of_time and (limit is None or claims < limit):
            size = self._batch_size(until)
            if size == 0:  # its time is up
                report.out_of_time = True
                break
            batch = self.claim(size if limit is None else min(size, limit - claims))
            if not batch:
                break
            claims += len(batch)
            for i, row in enumerate(batch):
                late = until is not None and self.clock() >= until
                if self.stopping or late:  # shutdown, or out of time: hand back the rest
                    report.out_of_time = late and not self.stopping
                    self._hand_back(batch[i:])
                    break
                if not self.process(row, report, until=until):  # its turn comes too late
                    self._hand_back(batch[i + 1 :])
                    break
        if report.out_of_time:
            report.pending = self._pending_count()
        return report

    def _hand_back(self, rows: list[dict[str, Any]]) -> None:
        """Claimed rows not sent: pending again, in their place, for the next worker (one whose
        fate a crash left unknown stays so: :meth:`_release`)."""
        for row in rows:
            self._release(row, row["not_before"])

    def _expire(self, row: dict[str, Any], at: datetime) -> None:
        """Back to ``submitting``, its lease running out at ``at``: claimable then, as a row a
        dead worker left (one transaction)."""
        now = self.clock()
        # The claim takes a row whose lease ran out before its own clock (``<``).
        expires = at if at > now else now - timedelta(seconds=1)
        with self.engine.begin() as conn:
            conn.execute(
                update(DELIVERY)
                .where(DELIVERY.c.id == row["id"], DELIVERY.c.lease_owner == self.worker_id)
                .values(
                    state=DeliveryState.SUBMITTING,
                    lease_owner="",
                    lease_expires_at=expires,
                    updated_at=now,
                )
            )

    def _pending_count(self) -> int:
        """How many rows are pending, whenever they are due (by the claim's index)."""

        def work() -> int:
            with self.engine.connect() as conn:
                pending = DELIVERY.c.state == DeliveryState.PENDING
                return int(conn.execute(select(func.count()).where(pending)).scalar_one())

        return self._with_store("counting what is pending", work)

    def _batch_size(self, until: datetime | None = None) -> int:
        """Claimed rows wait their turn under the lease: when a mailbox is paced, claim only
        what can go out well within it, and before ``until``."""
        if until is not None and self.clock() >= until:
            return 0
        rates = [r for r in self.rates.values() if r]
        if not rates:
            return self.batch_size
        per_lease = int(min(rates) * self.lease.total_seconds() / 60 / 4)
        size = max(1, min(self.batch_size, per_lease))
        if until is not None:
            left = (until - self.clock()).total_seconds()
            size = min(size, int(min(rates) * left / 60) + 1)
        return size

    def _with_store(self, what: str, work: Callable[[], _T]) -> _T:
        """``work`` (one transaction), tried again while the store cannot be reached (a
        database restart, a failover, a locked SQLite file) for up to ``store_patience``
        seconds; then :class:`StoreUnavailable`. Every transaction here may safely run twice:
        each is conditional on this worker's lease, or only reads."""
        delay, waited = 0.2, 0.0
        while True:
            try:
                return work()
            except (OperationalError, InterfaceError) as exc:
                if waited >= self.store_patience:
                    raise StoreUnavailable(
                        f"the store could not be reached for {waited:.0f} s while {what}; "
                        "check the database is running (the next tick tries again)"
                    ) from exc
                log.warning(
                    "store_retry", what=what, error=type(exc.orig or exc).__name__, wait=delay
                )
                self.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)

    def claim(self, count: int = 1) -> list[dict[str, Any]]:
        """Claim up to ``count`` due rows (or rows whose lease expired), oldest first.

        The conditional UPDATE re-checks that each row is still claimable, so rows another
        worker took in the meantime are simply not returned (SQLite serialises writers; on
        PostgreSQL ``SKIP LOCKED`` keeps workers off each other's candidates).
        """
        for _ in range(10):  # rows another worker took in between are skipped; look again
            rows, candidates = self._with_store("claiming", lambda: self._claim_once(count))
            if rows or not candidates:
                break
        claimed = []
        for row in rows:
            item = dict(row._mapping)
            # handed to the channel by a worker that died: its fate is unknown
            item["recovering"] = candidates[item["id"]] == DeliveryState.SUBMITTING
            claimed.append(item)
        claimed.sort(key=lambda r: (r["not_before"], r["id"]))
        return claimed

    def _claim_once(self, count: int) -> tuple[list[Any], dict[int, str]]:
        now = self.clock()
        pending = and_(DELIVERY.c.state == DeliveryState.PENDING, DELIVERY.c.not_before <= now)
        expired = and_(
            DELIVERY.c.state.in_([DeliveryState.SENDING, DeliveryState.SUBMITTING]),
            DELIVERY.c.lease_expires_at < now,
        )
        with self.engine.begin() as conn:
            # Two index-friendly queries rather than one OR: the outbox keeps every sent row.
            candidates: dict[int, str] = {}
            for condition in (expired, pending):
                query = (
                    select(DELIVERY.c.id, DELIVERY.c.state)
                    .where(condition)
                    .order_by(DELIVERY.c.not_before, DELIVERY.c.id)
                    .limit(count - len(candidates))
                )
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                candidates.update((c.id, c.state) for c in conn.execute(query))
                if len(candidates) >= count:
                    break
            if not candidates:
                return [], {}
            rows = conn.execute(
                update(DELIVERY)
                .where(DELIVERY.c.id.in_(candidates), or_(pending, expired))
                .values(
                    # A row whose fate a dead worker left unknown stays ``submitting``: should
                    # this worker die too while it asks the provider (which, for Graph, may
                    # send the draft it finds), the next one must still ask first.
                    state=case(
                        (DELIVERY.c.state == DeliveryState.SUBMITTING, DeliveryState.SUBMITTING),
                        else_=DeliveryState.SENDING,
                    ),
                    lease_owner=self.worker_id,
                    lease_expires_at=now + self.lease,
                    updated_at=now,
                )
                .returning(*_CLAIMED)
            ).all()
        return list(rows), candidates

    def process(
        self, row: dict[str, Any], report: DispatchReport, *, until: datetime | None = None
    ) -> bool:
        """Send one claimed row and record what became of it (a row whose turn in the mailbox's
        pace is more than ``max_pace_wait`` away is put back for then). False, with the row put
        back as it was, when its turn would come after ``until``: the caller's time is up."""
        message = OutgoingMessage.from_json(row["payload"])
        channel = self.channels.get(row["channel"])
        if channel is None:
            self._dead(row, f"no {row['channel']!r} channel is configured; see docs/chasing.md")
            report.dead += 1
            report.by_key.append((row["key"], "dead"))
            return True
        # Its fate is unknown after a crash (an expired lease) or a transient failure (a timeout
        # may hide a message the provider accepted): ask the provider before sending again.
        if row["recovering"] or row["attempts"] > 0:
            try:
                receipt = channel.find_sent(message)
            except TransientError as exc:
                self._release(row, self.clock() + timedelta(seconds=exc.retry_after or 60))
                report.deferred += 1
                report.by_key.append((row["key"], "deferred"))
                return True
            if receipt is not None:
                self._sent(row, receipt, attempted=False)
                report.recovered += 1
                report.by_key.append((row["key"], "recovered"))
                log.info("delivery_recovered", delivery=row["id"], kind=row["kind"])
                return True
        wait = self._take_turn(message.sender)
        while wait > 0 and wait <= self.max_pace_wait and not self.stopping:
            if until is not None and self.clock() + timedelta(seconds=wait) > until:
                # It would wait for its turn, but not past the call's time: it goes first
                # next time, and the rows behind it are not each put off to that turn.
                self._hand_back([row])
                report.out_of_time = True
                return False
            self.sleep(wait)
            wait = self._take_turn(message.sender)
        if wait > 0:
            self._release(row, self.clock() + timedelta(seconds=wait))
            report.deferred += 1
            report.by_key.append((row["key"], "deferred"))
            return True
        if not self._submit(row):
            report.deferred += 1  # the lease ran out and another worker has the row now
            report.by_key.append((row["key"], "lost_lease"))
            log.warning("delivery_lease_lost", delivery=row["id"])
            return True
        if row["recovering"]:
            # The provider cannot say (SMTP): the copy that follows carries the first one's
            # Message-ID, so mail clients and stores that de-duplicate drop it.
            report.resent_unknown += 1
            log.info("delivery_resent_unknown_fate", delivery=row["id"], kind=row["kind"])
        try:
            receipt = channel.send(message)
        except TransientError as exc:
            self._transient(row, exc, report)
            return True
        except PermanentError as exc:
            self._dead(row, str(exc), attempted=True)
            report.dead += 1
            report.by_key.append((row["key"], "dead"))
            log.warning(
                "delivery_dead", delivery=row["id"], kind=row["kind"], reason=log_reason(exc)
            )
            return True
        except Exception as exc:  # a bug in a channel must not lose the message
            log.exception("delivery_channel_error", delivery=row["id"])
            self._transient(row, TransientError(f"unexpected {type(exc).__name__}"), report)
            return True
        self._sent(row, receipt, attempted=True)
        report.sent += 1
        report.by_key.append((row["key"], "sent"))
        log.debug("delivery_sent", delivery=row["id"], kind=row["kind"], channel=row["channel"])
        return True

    def _submit(self, row: dict[str, Any]) -> bool:
        """Record, before the channel gets it, that the message is being handed over: after a
        crash from here on its fate is unknown. False if this worker no longer holds the row."""

        def work() -> bool:
            with self.engine.begin() as conn:
                moved = conn.execute(
                    update(DELIVERY)
                    .where(DELIVERY.c.id == row["id"], DELIVERY.c.lease_owner == self.worker_id)
                    .values(state=DeliveryState.SUBMITTING, updated_at=self.clock())
                )
                return bool(moved.rowcount == 1)

        return self._with_store("recording a send", work)

    # -- pacing --------------------------------------------------------------------------------
    def _take_turn(self, sender: str) -> float:
        """0 if ``sender`` may send now (and take the turn), else seconds until it may."""
        return self._with_store("pacing", lambda: self._take_turn_once(sender))

    def _take_turn_once(self, sender: str) -> float:
        rate = self.rates.get(sender, self.rates.get("*"))
        if not rate:
            return 0.0
        interval = timedelta(seconds=60.0 / rate)
        for _ in range(20):
            now = self.clock()
            with self.engine.begin() as conn:
                current = conn.execute(
                    select(PACE.c.next_at).where(PACE.c.sender == sender)
                ).scalar_one_or_none()
                if current is None:
                    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
                    inserted = conn.execute(
                        dialect.insert(PACE)
                        .values(sender=sender, next_at=now + interval)
                        .on_conflict_do_nothing(index_elements=["sender"])
                        .returning(PACE.c.sender)
                    ).first()
                    if inserted is not None:
                        return 0.0
                    continue
                if current > now:
                    return float((current - now).total_seconds())
                moved = conn.execute(
                    update(PACE)
                    .where(PACE.c.sender == sender, PACE.c.next_at == current)
                    .values(next_at=now + interval)
                )
                if moved.rowcount == 1:
                    return 0.0
        return interval.total_seconds()

    def _hold_sender(self, sender: str, until: datetime) -> None:
        """A 429 for one message means the whole mailbox must wait."""

        def work() -> None:
            with self.engine.begin() as conn:
                dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
                statement = dialect.insert(PACE).values(sender=sender, next_at=until)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["sender"], set_={"next_at": until}
                    )
                )

        self._with_store("pacing", work)

    # -- outcomes ------------------------------------------------------------------------------
    def _finish(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        """Record the outcome and give up the lease: committed before the next send."""
        params = {f"new_{name}": values.get(name, row[name]) for name in _FINISHED}
        params.update(row_id=row["id"], owner=self.worker_id, new_updated_at=self.clock())

        def work() -> None:
            with self.engine.begin() as conn:
                conn.execute(_FINISH, params)

        # After a send this must land, or the message would go again: keep trying.
        self._with_store("recording the outcome", work)

    def _sent(self, row: dict[str, Any], receipt: Receipt, *, attempted: bool) -> None:
        self._finish(
            row,
            {
                "state": DeliveryState.SENT,
                "provider_id": receipt.provider_id[:255],
                "sent_at": self.clock(),
                "attempts": row["attempts"] + (1 if attempted else 0),
                "last_error": "",
            },
        )

    def _release(self, row: dict[str, Any], not_before: datetime) -> None:
        """Give the row up unsent, to be claimed again from ``not_before``. One whose fate a
        crash left unknown stays ``submitting`` (its lease running out then), so whoever claims
        it next still asks the provider before sending it again: released as ``pending``, it
        would be sent without asking."""
        if row["recovering"]:
            self._with_store("handing back", partial(self._expire, row, not_before))
            return
        self._finish(row, {"state": DeliveryState.PENDING, "not_before": not_before})

    def _dead(self, row: dict[str, Any], reason: str, *, attempted: bool = False) -> None:
        self._finish(
            row,
            {
                "state": DeliveryState.DEAD,
                "last_error": reason[:2000],
                "attempts": row["attempts"] + (1 if attempted else 0),
            },
        )

    def _transient(self, row: dict[str, Any], exc: TransientError, report: DispatchReport) -> None:
        attempts = row["attempts"] + 1
        if attempts >= self.policy.max_attempts:
            self._finish(
                row,
                {
                    "state": DeliveryState.DEAD,
                    "attempts": attempts,
                    "last_error": f"gave up after {attempts} attempts: {exc}"[:2000],
                },
            )
            report.dead += 1
            report.by_key.append((row["key"], "dead"))
            log.warning("delivery_dead", delivery=row["id"], kind=row["kind"], attempts=attempts)
            return
        now = self.clock()
        if exc.retry_after is not None:
            wait = exc.retry_after
            self._hold_sender(row["sender"], now + timedelta(seconds=wait))
        else:
            wait = self.policy.delay(attempts, self.rng)
        self._finish(
            row,
            {
                "state": DeliveryState.PENDING,
                "attempts": attempts,
                "not_before": now + timedelta(seconds=wait),
                "last_error": str(exc)[:2000],
            },
        )
        report.retried += 1
        report.by_key.append((row["key"], "retry"))
        log.info("delivery_retry", delivery=row["id"], attempts=attempts, wait_seconds=round(wait))


# -- after an outage: the dead letters, and putting them back --------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    """A message the outbox gave up on, with why."""

    id: int
    key: str
    kind: str
    channel: str
    plan_id: int | None
    person_code: str
    recipient_code: str
    meeting_key: str
    attempts: int
    reason: str
    died_at: datetime


def dead_letters(
    conn: Connection,
    *,
    reason: str = "",
    channel: str = "",
    keys: Iterable[str] = (),
    plan_id: int | None = None,
    since: datetime | None = None,
    kinds_left_out: Iterable[str] = (),
) -> list[DeadLetter]:
    """The dead letters, oldest first: those whose reason contains ``reason`` (any case), of
    ``channel``, with one of ``keys``, of ``plan_id``, died after ``since``."""
    query = select(DELIVERY).where(DELIVERY.c.state == DeliveryState.DEAD)
    if channel:
        query = query.where(DELIVERY.c.channel == channel)
    wanted = list(keys)
    if wanted:
        query = query.where(DELIVERY.c.key.in_(wanted))
    if plan_id is not None:
        query = query.where(DELIVERY.c.plan_id == plan_id)
    if since is not None:
        query = query.where(DELIVERY.c.updated_at > since)
    left_out = list(kinds_left_out)
    if left_out:
        query = query.where(DELIVERY.c.kind.not_in(left_out))
    found = [
        DeadLetter(
            id=row.id,
            key=row.key,
            kind=row.kind,
            channel=row.channel,
            plan_id=row.plan_id,
            person_code=row.person_code,
            recipient_code=row.recipient_code,
            meeting_key=row.meeting_key,
            attempts=row.attempts,
            reason=row.last_error,
            died_at=row.updated_at,
        )
        for row in conn.execute(query.order_by(DELIVERY.c.updated_at, DELIVERY.c.id))
    ]
    needle = reason.casefold()
    return [d for d in found if needle in d.reason.casefold()] if needle else found


def requeue(conn: Connection, ids: Iterable[int], *, now: datetime) -> int:
    """Put dead letters back in the queue, due at once, with a fresh set of attempts (after an
    outage is over, or an address is corrected). Only rows still dead are touched; returns how
    many. One that was tried counts as tried once, so that the provider is asked first whether
    it has it already (a timeout may have hidden an accepted message), as after any failure."""
    wanted = list(ids)
    moved = 0
    for start in range(0, len(wanted), 500):
        moved += conn.execute(
            update(DELIVERY)
            .where(
                DELIVERY.c.id.in_(wanted[start : start + 500]),
                DELIVERY.c.state == DeliveryState.DEAD,
            )
            .values(
                state=DeliveryState.PENDING,
                attempts=case((DELIVERY.c.attempts > 0, 1), else_=0),
                # not_before stays: it was already due when it died, so it is due at once
                updated_at=now,
                lease_owner="",
                lease_expires_at=None,
            )
        ).rowcount
    return moved
