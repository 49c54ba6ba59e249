"""Engines and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

# Every ORM write marks what it makes stale in the read models (a listener on Session).
from workflows.store import change_tracking as _change_tracking  # noqa: F401

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseURLError(ValueError):
    """The database URL names a database Chaser cannot use."""


def normalise_url(url: str) -> URL:
    """Accept the URLs admins write and pick the driver Chaser ships (psycopg 3)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise DatabaseURLError(
            f"database URL {url!r} is not understood; write sqlite:///path/to/chaser.db "
            "or postgresql://user@host:5432/dbname"
        ) from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseURLError(
            f"database {backend!r} is not supported; use sqlite:/// or postgresql://"
        )
    return parsed


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and foreign keys on.

    Its errors never quote the statement's parameters (``hide_parameters``): those are names,
    addresses and the leads' own words, and an error's text can end up in a log."""
    kwargs.setdefault("hide_parameters", True)
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if database and database != ":memory:":
                # WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode
                # except for the last commits on power loss, and makes each commit cheap (the
                # outbox commits once per message).
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (``chaser db upgrade``)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
