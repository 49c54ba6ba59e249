"""``chaser db``: create or upgrade the status store's schema."""

from __future__ import annotations

import click

from chaser.commands.common import fail
from chaser.settings import Settings
from workflows.store.db import DatabaseURLError, current_revision, make_engine, upgrade


@click.group()
def db() -> None:
    """The status store: create or upgrade its schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Create the tables, or migrate them to this version of Chaser."""
    try:
        engine = make_engine(settings.store_url)
    except DatabaseURLError as exc:
        fail(str(exc))
    upgrade(engine)
    click.echo(f"database is at revision {current_revision(engine)}")
