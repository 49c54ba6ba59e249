"""A database restart mid-dispatch: the dispatcher reconnects, records what it sent, and leaves
nothing stuck; a store that stays away stops the tick with one clear line, and the next tick
picks up where it was."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from integrations.channels.smtp import SmtpChannel
from notifications.channel import OutgoingMessage, Receipt
from notifications.outbox import DELIVERY, Dispatcher, StoreUnavailable
from tests.mail_servers import SmtpSink
from tests.outbox_worker import SENDER, fill
from tests.private_postgres import PrivatePostgres, private_postgres
from workflows.store.db import make_engine, upgrade


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    with private_postgres() as pg:
        yield pg


@pytest.fixture
def store(server: PrivatePostgres) -> Iterator[Engine]:
    engine = make_engine(server.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade(engine)
    yield engine
    engine.dispose()


def _states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(DELIVERY.c.state, func.count()).group_by(DELIVERY.c.state))
        return {state: n for state, n in rows}


class RestartsTheDatabase(SmtpChannel):
    """Sends for real; after the server accepted the ``when``-th message, the database goes
    down (before the outbox can record it) and comes back a second later."""

    def __init__(self, server: PrivatePostgres, sink: SmtpSink, when: int) -> None:
        super().__init__(sink.host, sink.port, sender_address=SENDER, starttls=False)
        self.server, self.when, self.count = server, when, 0
        self.restarted = threading.Thread(target=self._start_later)

    def _start_later(self) -> None:
        time.sleep(1.0)
        self.server.start()

    def send(self, message: OutgoingMessage) -> Receipt:
        receipt = super().send(message)
        self.count += 1
        if self.count == self.when:
            self.server.stop()
            self.restarted.start()
        return receipt


def test_it_survives_a_database_restart_between_sending_and_recording(
    server: PrivatePostgres, store: Engine
) -> None:
    keys = fill(store, 12)
    with SmtpSink() as sink:
        channel = RestartsTheDatabase(server, sink, when=4)
        report = Dispatcher(store, {"email": channel}).dispatch()
        channel.restarted.join()
        channel.close()
        received = [str(m.message["X-Chaser-Key"]) for m in sink.messages]
    assert sorted(received) == sorted(keys)  # each once: the 4th was recorded, not resent
    assert report.sent == 12
    assert _states(store) == {"sent": 12}  # nothing left claimed until a lease expires


def test_it_stops_with_one_clear_line_while_the_store_is_down_and_carries_on_after(
    server: PrivatePostgres, store: Engine
) -> None:
    keys = fill(store, 3)
    with SmtpSink() as sink:
        channel = SmtpChannel(sink.host, sink.port, sender_address=SENDER, starttls=False)
        dispatcher = Dispatcher(store, {"email": channel}, store_patience=1.0)
        server.stop()
        try:
            with pytest.raises(StoreUnavailable, match="check the database is running"):
                dispatcher.dispatch()
        finally:
            server.start()
        assert dispatcher.dispatch().sent == 3  # the same dispatcher, reconnected
        channel.close()
        assert sorted(str(m.message["X-Chaser-Key"]) for m in sink.messages) == sorted(keys)
    assert _states(store) == {"sent": 3}
