"""The status store: migrations match the models, and instants come back as aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.store import StoreNotReady, head_revision, open_store
from workflows.store.db import DatabaseURLError, current_revision, normalise_url
from workflows.store.models import ALL_TABLES, Person, Plan


def test_it_migrates_to_exactly_the_tables_the_models_describe(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), ALL_TABLES
        )
    assert diff == []


def test_it_returns_instants_as_aware_utc_whatever_zone_they_were_given_in(engine: Engine) -> None:
    given = datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=1)))
    with Session(engine) as s:
        s.add(Plan(code="p", created_at=given))
        s.commit()
    with Session(engine) as s:
        plan = s.exec(select(Plan)).one()
    assert plan.created_at == given
    assert plan.created_at.tzinfo is not None and plan.created_at.utcoffset() == timedelta(0)


def test_it_refuses_naive_datetimes(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(Person(code="AP", updated_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            s.commit()


def test_it_keeps_one_person_per_code(engine: Engine) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as s:
        s.add(Person(code="AP", updated_at=now, away_until=date(2026, 2, 1)))
        s.add(Person(code="AP", updated_at=now))
        with pytest.raises(Exception, match=r"(?i)unique"):
            s.commit()


def test_it_sets_up_a_new_sqlite_database_on_first_use(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(f"sqlite:///{tmp_path / 'sub' / 'new.db'}")
    assert current_revision(engine) == head_revision()


def test_it_refuses_a_database_that_is_not_chasers_or_is_behind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table something (id integer)")
    with pytest.raises(StoreNotReady, match="chaser db upgrade"):
        open_store(f"sqlite:///{path}")


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_it_picks_the_shipped_driver_for_database_urls(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


def test_it_names_the_fix_for_an_unsupported_database() -> None:
    with pytest.raises(DatabaseURLError, match="use sqlite:/// or postgresql://"):
        normalise_url("mysql://u@h/db")


def test_it_upgrades_a_store_that_already_has_deliveries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from workflows.store.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into delivery (key, reference, kind, channel, sender, person_code, "
                "recipient_code, meeting_key, payload, state, attempts, not_before, lease_owner, "
                "provider_id, last_error, created_at, updated_at) values ('k', 'r', 'request', "
                "'email', 's', '', '', '', '{}', 'sent', 1, '2025-01-01 00:00:00.000000', '', "
                "'', '', '2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        refs = conn.execute(text("select action_refs from delivery")).scalar_one()
    assert refs == "[]"
