"""Alembic environment: the engine is handed in by workflows.store.db, never read from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from workflows.store import models

target_metadata = models.ALL_TABLES


def run_migrations() -> None:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations through `chaser db upgrade`, which supplies the engine")
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations()
