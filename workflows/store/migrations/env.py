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
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # A batch migration rebuilds a table (copy, drop, rename); with foreign keys on,
            # dropping a table others refer to fails once there are rows. SQLite's own recipe
            # for altering a table: keys off (outside the transaction, where the pragma takes
            # effect), alter, check every reference still holds, keys back on.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,
                    compare_type=True,
                )
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"the migration left {len(broken)} rows referring to rows that do "
                            f"not exist (first: {tuple(broken[0])}); nothing was changed"
                        )
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


run_migrations()
