"""`/health`: what a container's health check or a load balancer asks of `chaser run`."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from chaser.service import Heartbeat
from integrations.web import create_app
from tests.clock import Clock
from tests.mail_servers import free_port

BASE = "http://127.0.0.1:8080"
NOW = datetime(2025, 9, 16, 9, 0, tzinfo=UTC)
#: The outbox's counts /health adds while the store answers (tests/test_admin_outbox_pages.py).
EMPTY_OUTBOX = {"outbox": {"dead": 0, "pending": 0, "oldest_pending_seconds": None}}


def _health(engine: Engine, liveness: Heartbeat | None = None) -> tuple[int, dict[str, object]]:
    app = create_app(
        engine=engine,
        secret=b"s" * 40,
        clock=Clock(NOW),
        form_url=BASE,
        liveness=liveness.problem if liveness is not None else None,
    )
    with TestClient(app, base_url=BASE) as client:
        answer = client.get("/health")
    return answer.status_code, answer.json()


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_is_healthy_while_the_store_answers_and_the_ticks_keep_coming(
    sqlite_engine: Engine,
) -> None:
    assert _health(sqlite_engine, Heartbeat(60)) == (200, {"status": "ok", **EMPTY_OUTBOX})


def test_it_is_unavailable_when_the_store_does_not_answer() -> None:
    nowhere = create_engine(
        f"postgresql+psycopg://chaser@127.0.0.1:{free_port()}/chaser",
        connect_args={"connect_timeout": 2},
    )
    assert _health(nowhere) == (503, {"status": "unavailable", "database": "unreachable"})


def test_it_is_unavailable_when_no_tick_has_finished_for_three_intervals(
    sqlite_engine: Engine,
) -> None:
    clock = Ticks()
    heartbeat = Heartbeat(60, clock=clock)
    clock.now += 240  # three one-minute intervals and a minute: still within the grace
    assert heartbeat.problem() is None
    clock.now += 1
    assert _health(sqlite_engine, heartbeat) == (
        503,
        {
            "status": "unavailable",
            "scheduler": "no tick has finished for 241 seconds",
            **EMPTY_OUTBOX,
        },
    )
    heartbeat.beat()
    assert _health(sqlite_engine, heartbeat) == (200, {"status": "ok", **EMPTY_OUTBOX})
