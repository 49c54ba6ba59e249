"""The outbox under kill -9: dispatcher processes killed at random moments, restarted, until
everything is sent. Nothing may be lost; nothing may be sent twice where the provider can say
what it already has (Graph); over SMTP, which cannot, a second copy only ever follows a crash
mid-send, and carries the first copy's Message-ID.

The figures (kills, copies, crashes mid-send) are printed; ``bench/outbox_crashes.py`` runs the
same loop for longer and reports the residual rate that docs/outbox.md quotes.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.channels.graph_mail import KEY_PROPERTY_ID
from tests.conftest import PG_URL, ROOT
from tests.fake_graph import FakeGraph, fake_graph_fixture  # noqa: F401
from tests.mail_servers import SmtpSink
from tests.outbox_worker import Store, copies_by_key, count_in, fill, kill_loop
from tests.stores import own_store
from workflows.store.models import DeliveryState


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store that other processes can open by URL (a schema of its own on
    PostgreSQL)."""
    with own_store(request.param, tmp_path, "head", "chaser_crash") as (engine, schema):
        url = PG_URL if schema else engine.url.render_as_string(hide_password=False)
        yield Store(url, schema, engine)


def _worker(store: Store, channel: dict[str, str], worker: str) -> subprocess.Popen[str]:
    """A dispatcher in a new Python process (for workers that run side by side)."""
    # None of them dies: the lease outlasts any send on a loaded machine, so no worker takes
    # over a row another is still sending.
    args = [sys.executable, "-m", "tests.outbox_worker", "--db", store.url, "--lease", "60"]
    if store.schema:
        args += ["--schema", store.schema]
    for name, value in channel.items():
        args += [f"--{name}", value]
    return subprocess.Popen(
        [*args, "--worker", worker],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.parametrize("kills", [50])
def test_it_loses_nothing_under_kill_9_and_a_second_smtp_copy_is_the_first_byte_for_byte(
    store: Store, kills: int
) -> None:
    keys = fill(store.engine, 400)
    with SmtpSink() as sink:
        figures = kill_loop(store, {"smtp": f"{sink.host}:{sink.port}"}, kills=kills, seed=7)
        copies = copies_by_key(sink)
    duplicates = sum(len(ids) - 1 for ids in copies.values())
    print(
        f"\nSMTP on {store.engine.dialect.name}: {figures.kills} kills, "
        f"{len(figures.mid_send)} mid-send, {duplicates} second copies"
    )
    assert figures.kills == kills  # every run really was killed, mid-dispatch
    assert sorted(copies) == sorted(keys)  # nothing lost
    assert count_in(store.engine, DeliveryState.SENT) == len(keys)
    # a second copy only after a crash mid-send, and indistinguishable by its Message-ID
    assert {k for k, copy in copies.items() if len(copy) > 1} <= figures.mid_send
    # byte for byte the first copy, Message-ID and Date included: stores that de-duplicate
    # (Exchange Online, Gmail) keep one
    assert all(len(set(copy)) == 1 for copy in copies.values())


def test_it_sends_nothing_twice_through_graph_under_kill_9(
    store: Store, fake_graph: FakeGraph
) -> None:
    keys = fill(store.engine, 120)
    # The lease must outlast a request the dead worker left in flight, which the server may
    # still carry out (as Exchange may): on a busy machine the fake server can take longer than
    # 0.3 s, and a worker recovering before it had would send a second copy. (In service the
    # lease is 15 minutes.)
    figures = kill_loop(
        store,
        {"graph": fake_graph.url},
        kills=50,
        seed=11,
        lease=2.0,
        settle=fake_graph.wait_idle,  # the first send, with its token, took over 2 s under load
    )
    sent = Counter(
        p["value"]
        for m in fake_graph.in_folder("sentitems")
        for p in m["_props"]
        if p["id"].lower() == KEY_PROPERTY_ID.lower()
    )
    where = store.engine.dialect.name
    print(f"\nGraph on {where}: {figures.kills} kills, {len(figures.mid_send)} mid-send")
    assert figures.kills == 50
    assert sorted(sent) == sorted(keys)  # nothing lost
    assert max(sent.values()) == 1  # and, Sent Items being asked, nothing twice
    # Every draft a crash left was sent, once. A draft can still appear after its message was
    # recovered: the worker died with its "create the draft" request in flight, and the server
    # took it in after the next worker had looked. Such a draft is never sent.
    left = [
        p["value"]
        for m in fake_graph.in_folder("drafts")
        for p in m["_props"]
        if p["id"].lower() == KEY_PROPERTY_ID.lower()
    ]
    assert len(left) <= len(figures.mid_send) and all(sent[key] == 1 for key in left)


def test_it_shares_the_outbox_between_four_dispatcher_processes(store: Store) -> None:
    keys = fill(store.engine, 200)
    with SmtpSink() as sink:
        channel = {"smtp": f"{sink.host}:{sink.port}"}
        workers = [_worker(store, channel, f"w{n}") for n in range(4)]
        assert all(w.wait(timeout=120) == 0 for w in workers)
        copies = copies_by_key(sink)
    assert sorted(copies) == sorted(keys)
    assert [k for k, ids in copies.items() if len(ids) > 1] == []
    assert count_in(store.engine, DeliveryState.SENT) == 200
