"""Stores for migration tests: a fresh SQLite file, or a PostgreSQL schema of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.conftest import IN_CI, PG_HOWTO, PG_URL
from workflows.store.db import make_engine, upgrade


@contextmanager
def store_at(kind: str, tmp_path: Path, revision: str | None) -> Iterator[Engine]:
    """A store of ``kind`` (``sqlite`` or ``postgresql``) brought to ``revision``, or left with
    no tables when it is None. Without PostgreSQL its tests skip, naming the fix (and fail under
    CI=true)."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        if revision is not None:
            upgrade(engine, revision)
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        if IN_CI:
            pytest.fail(f"CI=true but {PG_HOWTO}")
        pytest.skip(PG_HOWTO)
    schema = f"chaser_mig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        if revision is not None:
            upgrade(engine, revision)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
