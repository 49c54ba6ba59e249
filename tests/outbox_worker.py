"""A dispatcher in a process of its own (``python -m tests.outbox_worker``), and the loop that
kills it: for the crash tests, and ``bench/outbox_crashes.py``.

It sends the store's outbox through a real channel (SMTP to a local aiosmtpd sink, or Microsoft
Graph mail to the local fake Graph) until nothing is left to send, then exits 0. It prints
``ready`` once it is about to claim its first row, so a test can kill it mid-dispatch rather
than while Python starts.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select

from notifications.channel import KEY_HEADER, Address, Channel, OutgoingMessage
from notifications.outbox import DELIVERY, Dispatcher, NewDelivery, enqueue
from workflows.store.db import make_engine
from workflows.store.models import DeliveryState

if TYPE_CHECKING:
    from tests.mail_servers import SmtpSink

NOW = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)
#: The claim's lease in the kill loop: far longer than a send to a local server takes.
LEASE = 0.3

SENDER = "chaser@council.example"
UNFINISHED = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SUBMITTING)


def _channel(smtp: str, graph: str) -> Channel:
    if smtp:
        from integrations.channels.smtp import SmtpChannel

        host, _, port = smtp.rpartition(":")
        return SmtpChannel(host, int(port), sender_address=SENDER, starttls=False, timeout=5)
    from integrations.channels.graph_mail import GraphMailChannel
    from integrations.graph.client import GraphClient
    from tests.fake_graph import CLIENT_ID, CLIENT_SECRET, MAILBOX, TENANT

    client = GraphClient(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authority_host=graph,
        graph_url=f"{graph}/v1.0",
        timeout=5.0,
    )
    return GraphMailChannel(client, mailbox=MAILBOX)


def run(
    db: str,
    *,
    schema: str = "",
    smtp: str = "",
    graph: str = "",
    lease: float = 1.0,
    worker: str = "",
    ready: Callable[[], None] = lambda: print("ready", flush=True),
) -> int:
    """Dispatch until nothing is left to send; 0 then. ``ready`` is called once the engine and
    channel are built, just before the first claim."""
    options = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = make_engine(db, connect_args=options) if options else make_engine(db)
    dispatcher = Dispatcher(
        engine,
        {"email": _channel(smtp, graph)},
        lease_seconds=lease,
        worker_id=worker or None,
        batch_size=5,
    )
    ready()
    while True:
        dispatcher.dispatch()
        with engine.connect() as conn:
            left = conn.execute(
                select(func.count()).where(DELIVERY.c.state.in_([str(s) for s in UNFINISHED]))
            ).scalar_one()
        if not left:
            return 0
        time.sleep(0.02)  # rows a dead worker left wait for their lease to expire


# -- the kill loop ------------------------------------------------------------------------------


@dataclass
class Store:
    url: str
    schema: str
    engine: Engine


def fill(engine: Engine, count: int) -> list[str]:
    """``count`` messages in the outbox, as a tick would enqueue them."""
    keys = [f"crash-plan/request:L{i:03d}:SIB:2025-09-30" for i in range(count)]
    deliveries = [
        NewDelivery(
            OutgoingMessage(
                key=key,
                channel="email",
                sender="chaser@council.example",
                to=(Address(f"Lead {i}", f"lead{i}@council.example"),),
                subject=f"Update needed: {i}",
                text="Please reply with an update.\n",
                headers={KEY_HEADER: key},
            ),
            reference=f"CHS-CRASH{i:05d}",
            kind="request",
            not_before=NOW,
        )
        for i, key in enumerate(keys)
    ]
    with engine.begin() as conn:
        assert enqueue(conn, deliveries, now=NOW) == count
    return keys


@dataclass
class Figures:
    kills: int = 0
    #: the rows a killed worker left ``submitting``: handed to the channel, fate unknown
    mid_send: set[str] = field(default_factory=set)


def forked_worker(store: Store, channel: dict[str, str], worker: str, lease: float = LEASE) -> int:
    """A dispatcher in a process forked from this one (already imported: starting it takes
    milliseconds, so a hundred kills fit in CI); returns its pid once it is dispatching."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: dispatch, never return into pytest
        code = 1

        def ready() -> None:
            os.write(write, b"r")

        try:
            os.close(read)
            code = run(
                store.url, schema=store.schema, lease=lease, worker=worker, ready=ready, **channel
            )
        finally:
            os._exit(code)
    os.close(write)
    assert os.read(read, 1) == b"r"
    os.close(read)
    return pid


def count_in(engine: Engine, state: DeliveryState) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(DELIVERY.c.state == str(state))).scalar_one()
        )


def keys_in(engine: Engine, state: DeliveryState) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(select(DELIVERY.c.key).where(DELIVERY.c.state == str(state))).scalars()
        )


def kill_loop(
    store: Store,
    channel: dict[str, str],
    *,
    kills: int,
    seed: int,
    lease: float = LEASE,
    settle: Callable[[], None] | None = None,
) -> Figures:
    """Start a dispatcher, kill -9 it at a random moment once it is dispatching, ``kills``
    times; then let one run to the end. ``settle``, after each kill, waits for the provider to
    finish what the dead worker left in flight: the test's short lease stands for the service's
    15 minutes, which no request outlasts."""
    rng = random.Random(seed)
    figures = Figures()
    for n in range(kills):
        pid = forked_worker(store, channel, f"crash-{n}", lease)
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        figures.kills += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        figures.mid_send |= keys_in(store.engine, DeliveryState.SUBMITTING)
        if settle is not None:
            settle()
        time.sleep(rng.choice([0.0, lease]))  # sometimes the next one finds the leases expired
    pid = forked_worker(store, channel, "survivor", lease)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return figures


def copies_by_key(sink: SmtpSink) -> dict[str, list[bytes]]:
    """Each key, with every copy the server received, as it received it."""
    copies: dict[str, list[bytes]] = {}
    for captured in sink.messages:
        copies.setdefault(str(captured.message[KEY_HEADER]), []).append(captured.data)
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="the store's URL")
    parser.add_argument("--schema", default="", help="PostgreSQL: the tests' schema")
    parser.add_argument("--smtp", default="", help="HOST:PORT of the SMTP sink")
    parser.add_argument("--graph", default="", help="https://HOST:PORT of the fake Graph")
    parser.add_argument("--lease", type=float, default=1.0, help="the claim's lease, seconds")
    parser.add_argument("--worker", default="", help="this worker's id")
    args = parser.parse_args(argv)
    return run(
        args.db,
        schema=args.schema,
        smtp=args.smtp,
        graph=args.graph,
        lease=args.lease,
        worker=args.worker,
    )


if __name__ == "__main__":
    sys.exit(main())
