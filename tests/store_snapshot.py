"""A copy of a test's store, put back into another test's store in a few milliseconds.

A module whose tests all start from one long scripted setup (an import, a chase, replies,
ticks) runs that setup once per backend, takes a :class:`StoreSnapshot`, and gives each later
test the store as the script left it: on SQLite a copy of the database file, on PostgreSQL a
schema of its own holding a copy of every table, copied back server-side with each id sequence
set where the script left it. The restored store is the script's, row for row and id for id.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from tests.conftest import _truncate
from workflows.store.models import ALL_TABLES


@dataclass
class StoreSnapshot:
    dialect: str
    #: SQLite: the copy of the database file. PostgreSQL: the schema holding the copy.
    where: str

    @classmethod
    def take(cls, engine: Engine) -> StoreSnapshot:
        if engine.dialect.name == "sqlite":
            database = _sqlite_file(engine)
            engine.dispose()  # the last connection closed: the WAL is written back
            if Path(f"{database}-wal").exists():
                raise RuntimeError(f"{database}: the WAL was not checkpointed")
            copy = Path(tempfile.mkdtemp(prefix="chaser-snapshot-")) / "chaser.db"
            shutil.copyfile(database, copy)
            return cls("sqlite", str(copy))
        schema = f"chaser_snapshot_{uuid.uuid4().hex[:10]}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            for table in ALL_TABLES.sorted_tables:
                conn.execute(
                    text(f'CREATE TABLE "{schema}"."{table.name}" AS TABLE "{table.name}"')
                )
            # where each id sequence stood (past the last row's id when a row was deleted)
            conn.execute(
                text(f'CREATE TABLE "{schema}"."{_SEQUENCES}" (name text, last bigint, used bool)')
            )
            for (sequence,) in conn.execute(_SERIALS).all():
                conn.execute(
                    text(
                        f'INSERT INTO "{schema}"."{_SEQUENCES}" '
                        f"SELECT '{sequence}', last_value, is_called FROM {sequence}"
                    )
                )
        return cls("postgresql", schema)

    def restore(self, engine: Engine) -> None:
        """Make ``engine``'s store (freshly migrated and empty) the one the snapshot copied."""
        if engine.dialect.name != self.dialect:
            raise ValueError(f"a {self.dialect} snapshot cannot fill a {engine.dialect.name} store")
        if self.dialect == "sqlite":
            database = _sqlite_file(engine)
            engine.dispose()
            for suffix in ("-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(self.where, database)
            return
        _truncate(engine)  # emptied as the engine fixture empties a store
        with engine.begin() as conn:
            for table in ALL_TABLES.sorted_tables:
                conn.execute(
                    text(f'INSERT INTO "{table.name}" SELECT * FROM "{self.where}"."{table.name}"')
                )
            conn.execute(
                text(f'SELECT setval(name, last, used) FROM "{self.where}"."{_SEQUENCES}"')
            )

    def drop(self, engine: Engine | None) -> None:
        if self.dialect == "sqlite":
            shutil.rmtree(Path(self.where).parent, ignore_errors=True)
        elif engine is not None:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.where}" CASCADE'))


_SEQUENCES = "_sequences"
#: Every id sequence of the store's schema.
_SERIALS = text(
    "SELECT pg_get_serial_sequence(quote_ident(table_name), column_name) "
    "FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'"
)


def _sqlite_file(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValueError("only a SQLite store in a file can be copied")
    return database
