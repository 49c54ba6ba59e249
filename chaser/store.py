"""Opening the store for a command: a brand-new database is set up, an old one must be upgraded."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from workflows.store.db import current_revision, make_engine, upgrade


class StoreNotReady(Exception):
    """The database schema is behind this version of Chaser."""


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from workflows.store.db import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def open_store(url: str) -> Engine:
    """An engine whose schema is current. An empty database is set up on first use."""
    engine = make_engine(url)
    revision = current_revision(engine)
    if revision is None and not inspect(engine).get_table_names():
        upgrade(engine)
        return engine
    if revision != head_revision():
        raise StoreNotReady(
            f"the database schema is at {revision or 'an unknown version'}, this Chaser needs "
            f"{head_revision()}; run `chaser db upgrade` (back the database up first)"
        )
    return engine
