"""`/metrics`: what Prometheus scrapes, from the service as it runs and the outbox as it is."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from chaser.importing import import_people, import_plan
from chaser.metrics import Metrics
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime, web_app
from integrations.channels.smtp import SmtpChannel
from integrations.web import FormServer
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink, free_port
from workflows.plan.mapping import load_mapping
from workflows.replies.intake import ingest_email
from workflows.replies.parsing import MAX_HEADER_BYTES

REQUEST_DAY = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)  # 09:30 in London
TOKEN = "m" * 40


def _runtime(engine: Engine, tmp_path: Path, port: int, clock: Clock) -> tuple[Runtime, Settings]:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    settings = Settings.from_env(
        {
            "CHASER_SECRET_KEY": "q" * 40,
            "CHASER_DATA_DIR": str(tmp_path),
            "CHASER_METRICS_TOKEN": TOKEN,
        },
        config_dir=ROOT / "config",
    )
    runtime = build_runtime(
        settings,
        engine,
        channels={
            "email": SmtpChannel(
                "127.0.0.1", port, sender_address="send.improvement@example.org", timeout=2
            )
        },
        clock=clock,
        sleep=clock.advance,
    )
    runtime.metrics = Metrics(runtime.engine, runtime.clock)
    return runtime, settings


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_it_counts_what_a_tick_sent_and_shows_the_outbox(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(REQUEST_DAY)
    runtime, settings = _runtime(engine, tmp_path, sink.port, clock)
    tick(runtime, clock.now)
    # a message too big to read: kept, unread, on the review queue
    huge = b"Message-ID: <huge@mail.example.org>\r\nX-Junk: " + b"a" * (MAX_HEADER_BYTES + 1)
    assert ingest_email(engine, huge + b"\r\n\r\nhi\r\n", now=clock.now).verdict == "quarantined"
    app = web_app(runtime, settings, bind_host="127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    values = _values(scraped.text)
    # the 13 SIB requests and the 30 Sep board's invitations to its three advisers
    assert values[("chaser_outbox_messages_total", (("outcome", "sent"),))] == 13 + 3
    # HP's Teams copy: no webhook is configured in this test, so it died at once
    assert values[("chaser_outbox_messages_total", (("outcome", "dead"),))] == 1
    assert values[("chaser_ticks_total", (("result", "ok"),))] == 1
    assert values[("chaser_tick_duration_seconds_count", ())] == 1
    assert values[("chaser_outbox_queue", (("state", "sent"),))] == 13 + 3
    assert values[("chaser_outbox_queue", (("state", "dead"),))] == 1
    assert values[("chaser_outbox_oldest_due_age_seconds", ())] == 0
    assert values[("chaser_replies_waiting_for_review", ())] == 1
    assert values[("chaser_replies_quarantined", ())] == 1
    assert "@" not in scraped.text  # counts, never an address
    runtime.close()


def test_it_shows_how_long_the_oldest_message_has_waited_while_the_mail_is_down(
    engine: Engine, tmp_path: Path
) -> None:
    clock = Clock(REQUEST_DAY)
    runtime, settings = _runtime(engine, tmp_path, free_port(), clock)  # nothing listens
    tick(runtime, clock.now)
    clock.advance(timedelta(hours=1).total_seconds())
    app = web_app(runtime, settings, bind_host="127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        values = _values(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    # the 13 SIB requests and the board's 3 invitations wait for the mail server
    assert values[("chaser_outbox_messages_total", (("outcome", "retried"),))] == 13 + 3
    assert values[("chaser_outbox_queue", (("state", "pending"),))] == 13 + 3
    # due again a minute after the first attempt: it has waited the rest of the hour since
    assert 3000 < values[("chaser_outbox_oldest_due_age_seconds", ())] < 3600
    runtime.close()


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_it_refuses_a_scrape_from_elsewhere_without_the_token(
    engine: Engine, tmp_path: Path, headers: dict[str, str]
) -> None:
    runtime, settings = _runtime(engine, tmp_path, free_port(), Clock(REQUEST_DAY))
    app = web_app(runtime, settings, bind_host="0.0.0.0")
    with TestClient(app, base_url="http://chaser.council.example") as client:
        refused = client.get("/metrics", headers=headers)
    assert refused.status_code == 401
    assert "CHASER_METRICS_TOKEN" in refused.text
    assert "chaser_" not in refused.text


def test_it_is_scraped_by_this_computer_over_http_without_a_token(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    runtime, settings = _runtime(sqlite_engine, tmp_path, free_port(), Clock(REQUEST_DAY))
    port = free_port()
    app = web_app(runtime, settings, bind_host="127.0.0.1")
    with (
        FormServer(app, port=port),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as answer,
    ):
        text = answer.read().decode()
    assert "chaser_ticks_total" in text and "chaser_outbox_queue" in text
