"""``chaser demo``: Chaser on its embedded defaults, in a throw-away database.

Until the service exists (scheduler, chasing, replies), the demo sets up a temporary store,
imports the Plymouth sample people and plan through the shipped mapping, and lists the plan.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlmodel import Session

from chaser.cli_plan import print_actions
from chaser.importing import choose_mapping, import_people, import_plan
from chaser.settings import SAMPLES_DIR, SHIPPED_CONFIG_DIR
from workflows.plan_queries import list_actions
from workflows.store.db import make_engine, upgrade


@click.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo database in this directory instead of a temporary one.",
)
def demo(keep: Path | None) -> None:
    """Import the Plymouth sample plan into a throw-away database and list it."""
    folder = keep or Path(tempfile.mkdtemp(prefix="chaser-demo-"))
    url = f"sqlite:///{folder / 'demo.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    samples = SAMPLES_DIR / "plymouth"
    people = import_people(engine, samples / "plymouth_people.csv", now=now)
    mapping = choose_mapping(SHIPPED_CONFIG_DIR, SHIPPED_CONFIG_DIR / "mappings" / "plymouth.yaml")
    outcome = import_plan(
        engine, samples / "plymouth_send_plan_2023.xlsx", mapping=mapping, now=now
    )
    if not outcome.ok:
        for error in outcome.errors:
            click.echo(f"error: {error.message}", err=True)
        sys.exit(1)
    with Session(engine) as session:
        print_actions(list_actions(session, outcome.plan_code))
    click.echo()
    click.echo(
        f"Imported {people.created} people and {outcome.actions} actions of plan "
        f"{outcome.plan_code} ({len(outcome.warnings)} warnings: "
        f"`chaser --db {url} plan import --dry-run ...` shows them)."
    )
    click.echo(f"Demo database: {url}")
