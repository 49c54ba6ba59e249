"""Stores for migration tests: a fresh SQLite file, or a PostgreSQL schema of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import IN_CI, PG_HOWTO, PG_URL, own_schema
from workflows.store.db import make_engine, upgrade


@contextmanager
def store_at(kind: str, tmp_path: Path, revision: str | None) -> Iterator[Engine]:
    """A store of ``kind`` (``sqlite`` or ``postgresql``) brought to ``revision``, or left with
    no tables when it is None. Without PostgreSQL its tests skip, naming the fix (and fail under
    CI=true)."""
    with own_store(kind, tmp_path, revision, "chaser_mig") as (engine, _):
        yield engine


@contextmanager
def own_store(
    kind: str, tmp_path: Path, revision: str | None, prefix: str
) -> Iterator[tuple[Engine, str]]:
    """As :func:`store_at`, with the name of its PostgreSQL schema (``prefix`` and a random
    suffix; "" on SQLite), for a store other processes open too."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        if revision is not None:
            upgrade(engine, revision)
        yield engine, ""
        engine.dispose()
        return
    if not PG_URL:
        if IN_CI:
            pytest.fail(f"CI=true but {PG_HOWTO}")
        pytest.skip(PG_HOWTO)
    with own_schema(prefix, revision) as found:
        yield found
