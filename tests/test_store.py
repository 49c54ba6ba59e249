"""The status store: migrations match the models, and instants come back as aware UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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


def test_it_keeps_one_person_per_code_in_a_partnership(engine: Engine) -> None:
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


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store with no tables yet, on each backend (a schema of its own on PostgreSQL)."""
    from tests.stores import store_at

    with store_at(request.param, tmp_path, None) as engine:
        yield engine


def test_it_upgrades_a_one_plan_store_to_partnerships_without_resending_anything(
    empty_store: Engine,
) -> None:
    """0006: people join the shared directory, and the outbox keys of what was already sent
    gain their plan the way new ones are made, so the next tick finds them and sends nothing
    twice; a downgrade takes both back."""
    from sqlalchemy import text

    from workflows.chasing.chases import outbox_key
    from workflows.store.db import upgrade

    upgrade(empty_store, "0005")
    stamp = "'2025-09-16 08:30:00.000000'"
    with empty_store.begin() as conn:
        conn.execute(
            text(
                "insert into plan (code, title, mapping_name, status_scale, created_at) "
                f"values ('plymouth-send-2023', 'P', 'plymouth', '[]', {stamp})"
            )
        )
        conn.execute(
            text(
                "insert into person (code, name, role, email, teams_id, delegate_code, is_sro, "
                f"updated_at) values ('AP', 'Aisha', '', 'a@example.org', '', '', false, {stamp})"
            )
        )
        # an action led by AP: rebuilding the person table must keep what refers to it
        _insert(conn, "area", plan_id=1, number=2)
        _insert(conn, "action", plan_id=1, area_id=1, ref="2.5", accountable_id=1)
        for key, plan_id in (("request:AP:SIB:2025-09-30", 1), ("signin:abc", None)):
            conn.execute(
                text(
                    "insert into delivery (key, reference, kind, channel, sender, plan_id, "
                    "person_code, recipient_code, meeting_key, action_refs, payload, state, "
                    "attempts, not_before, lease_owner, provider_id, last_error, created_at, "
                    "updated_at) values (:key, :key, 'request', 'email', 's', :plan, 'AP', "
                    "'AP', '', '[]', '{}', 'sent', 1, "
                    f"{stamp}, '', '', '', {stamp}, {stamp})"
                ),
                {"key": key, "plan": plan_id},
            )
    upgrade(empty_store)
    with empty_store.connect() as conn:
        keys = sorted(conn.execute(text("select key from delivery")).scalars())
        people = conn.execute(text("select partnership, code from person")).all()
    assert keys == [outbox_key("plymouth-send-2023", "request:AP:SIB:2025-09-30"), "signin:abc"]
    assert [tuple(p) for p in people] == [("", "AP")]
    with Session(empty_store) as s:  # a second partnership may now have its own AP
        austell = Person(
            code="AP", partnership="kernow", name="Austell", updated_at=datetime.now(UTC)
        )
        s.add(austell)
        s.commit()
        assert len(s.exec(select(Person).where(Person.code == "AP")).all()) == 2
        s.delete(austell)  # (the old schema allows one AP in the whole store)
        s.commit()
    command_downgrade(empty_store, "0005")
    with empty_store.connect() as conn:
        keys = sorted(conn.execute(text("select key from delivery")).scalars())
    assert keys == ["request:AP:SIB:2025-09-30", "signin:abc"]
    with empty_store.connect() as conn:
        assert conn.execute(text("select accountable_id from action")).scalar_one() == 1


def _insert(conn: Any, table: str, **values: object) -> None:
    """A row as an older schema has it: ``values``, and a plain value in every other
    required column."""
    from sqlalchemy import JSON, DateTime, Integer, inspect, text
    from sqlalchemy.types import Boolean

    row: dict[str, object] = {}
    for column in inspect(conn).get_columns(table):
        name = column["name"]
        if name in values or column["nullable"] or column.get("autoincrement") is True:
            continue
        if name == "id":
            continue
        kind = column["type"]
        row[name] = (
            datetime(2025, 9, 1, tzinfo=UTC).isoformat(sep=" ")
            if isinstance(kind, DateTime)
            else False
            if isinstance(kind, Boolean)
            else 0
            if isinstance(kind, Integer)
            else "{}"
            if isinstance(kind, JSON) or name in ("raw_cells", "payload", "sro_codes")
            else ""
        )
    row.update(values)
    names = ", ".join(f'"{n}"' for n in row)
    marks = ", ".join(f":{n}" for n in row)
    conn.execute(text(f'insert into "{table}" ({names}) values ({marks})'), row)


def command_downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    from workflows.store.db import alembic_config

    command.downgrade(alembic_config(engine), revision)
