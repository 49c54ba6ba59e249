"""Shared fixtures: a migrated store on SQLite, and on PostgreSQL when it is configured.

``engine`` runs a test once per backend: SQLite always, PostgreSQL when
``CHASER_TEST_DATABASE_URL`` is set (``.ci/run`` sets it). Each PostgreSQL test session gets a
schema of its own, so parallel runs against one database never see each other's rows.
With ``CI=true`` a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.mail_servers import FakeWebhook, SmtpSink
from workflows.store.db import make_engine, upgrade
from workflows.store.models import ALL_TABLES

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "chaser" / "samples" / "plymouth"
PLAN_XLSX = SAMPLES / "plymouth_send_plan_2023.xlsx"
PLAN_CSV = SAMPLES / "plymouth_send_plan_2023.csv"
PEOPLE_CSV = SAMPLES / "plymouth_people.csv"
MAPPING = ROOT / "config" / "mappings" / "plymouth.yaml"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

PG_URL = os.environ.get("CHASER_TEST_DATABASE_URL", "")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_HOWTO = (
    "PostgreSQL tests need CHASER_TEST_DATABASE_URL, e.g. "
    "postgresql://postgres@127.0.0.1:5432/test (install: apt-get install postgresql; "
    "scripts/ensure-postgres starts it)"
)


@pytest.fixture(scope="session")
def pg_schema_engine() -> Iterator[Engine | None]:
    if not PG_URL:
        if IN_CI:
            pytest.fail(f"CI=true but {PG_HOWTO}")
        yield None
        return
    with own_schema("chaser_test", "head") as (engine, _):
        yield engine


@contextmanager
def own_schema(prefix: str, revision: str | None) -> Iterator[tuple[Engine, str]]:
    """A PostgreSQL schema of its own (named ``prefix`` and a random suffix), brought to
    ``revision`` (None: no tables), and dropped afterwards: the engine and the schema's name."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # A commit returns before its WAL reaches the disk (it is lost only if the server itself
    # crashes, which no test does to this server): the outbox commits once per message.
    engine = make_engine(
        PG_URL, connect_args={"options": f"-csearch_path={schema} -csynchronous_commit=off"}
    )
    try:
        if revision is not None:
            upgrade(engine, revision)
        yield engine, schema
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _truncate(engine: Engine) -> None:
    """Empty every table and start every id again at 1, as a freshly migrated store has them.

    TRUNCATE, not DELETE (which is faster): a truncated table starts a new file, so the next
    test's rows are stored, and read back unordered, in the order they were written, as on a
    fresh store; after a DELETE, PostgreSQL reuses the freed space in its own order."""
    names = ", ".join(f'"{t.name}"' for t in ALL_TABLES.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


_MIGRATED: Path | None = None


def unpaced(chasing: Path, rate: int | None = None) -> None:
    """Take the mailbox's pace (Exchange's 30 a minute) out of the chasing.yaml at ``chasing``,
    or make it ``rate`` a minute.

    A test that sends a day's messages through the shipped configuration would otherwise wait
    two real seconds between them; the pace has tests of its own (tests/test_outbox.py)."""
    paced = chasing.read_text(encoding="utf-8")
    assert "rate_per_minute: 30" in paced, f"{chasing}: the pace this helper removes moved"
    chasing.write_text(
        paced.replace("rate_per_minute: 30", f"rate_per_minute: {rate or 'null'}"),
        encoding="utf-8",
    )


def unpaced_config(folder: Path, rate: int | None = None) -> Path:
    """A copy of the shipped ``config/`` under ``folder``, without the mailbox's pace (or with
    ``rate`` a minute)."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    unpaced(config / "chasing.yaml", rate)
    return config


def migrated_sqlite(path: Path) -> Engine:
    """A SQLite store at ``path`` migrated to head: a copy of one this process migrated once.

    Alembic's upgrade takes half a second; copying the file it made, a millisecond. The copy is
    that very file (its WAL checkpointed, so the one file holds everything), so the test's store
    is the one ``upgrade()`` makes."""
    global _MIGRATED
    if _MIGRATED is None:
        folder = Path(tempfile.mkdtemp(prefix="chaser-migrated-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        made = make_engine(f"sqlite:///{folder / 'chaser.db'}")
        upgrade(made)
        made.dispose()  # the last connection closed: the WAL is written back and removed
        if (folder / "chaser.db-wal").exists():
            raise RuntimeError(f"{folder}: the migrated store's WAL was not checkpointed")
        _MIGRATED = folder / "chaser.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_MIGRATED, path)
    return make_engine(f"sqlite:///{path}")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema_engine: Engine | None
) -> Iterator[Engine]:
    """A freshly migrated, empty store on each backend."""
    if request.param == "sqlite":
        eng = migrated_sqlite(tmp_path / "chaser.db")
        yield eng
        eng.dispose()
        return
    if pg_schema_engine is None:
        pytest.skip(PG_HOWTO)
    _truncate(pg_schema_engine)
    yield pg_schema_engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = migrated_sqlite(tmp_path / "chaser.db")
    yield eng
    eng.dispose()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    with SmtpSink() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    """A local stand-in for Teams Workflows webhooks."""
    with FakeWebhook() as server:
        yield server
