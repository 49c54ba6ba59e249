"""The test helper that copies a store: what it restores is the store it copied, id for id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from chaser.importing import import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, _truncate, migrated_sqlite
from tests.store_snapshot import StoreSnapshot
from workflows.plan.mapping import load_mapping
from workflows.store.models import ALL_TABLES, Person


def _everything(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(map(repr, row)) for row in conn.execute(t.select())), key=str)
            for t in ALL_TABLES.sorted_tables
        }


def _next_person_id(engine: Engine) -> int | None:
    with Session(engine) as session:
        person = Person(code="ZZ", name="Zed Zimmer", email="zed@example.org", updated_at=NOW)
        session.add(person)
        session.commit()
        return person.id


def test_it_gives_back_every_row_and_where_each_id_sequence_stood(
    engine: Engine, tmp_path: Any
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    assert import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW).ok
    with Session(engine) as session:  # the last person's id is not used again
        last = max(p for p in session.exec(select(Person.id)) if p is not None)
        session.execute(delete(Person).where(col(Person.id) == last))
        session.commit()
    before = _everything(engine)
    snapshot = StoreSnapshot.take(engine)
    try:
        if engine.dialect.name == "sqlite":
            other = migrated_sqlite(tmp_path / "other.db")
            expected = _next_person_id(engine)  # SQLite may take the deleted row's id again
        else:
            _truncate(engine)  # the next test's store, emptied
            other = engine
            expected = last + 1  # a PostgreSQL sequence never goes back
        assert _everything(other)["action"] == []
        snapshot.restore(other)
        assert _everything(other) == before
        assert _next_person_id(other) == expected
    finally:
        snapshot.drop(engine)
