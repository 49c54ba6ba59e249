"""The ``chaser`` command: the one composition root that wires settings, store and adapters."""

from __future__ import annotations

import click

from chaser import __version__
from chaser.cli_chase import chase, run
from chaser.cli_cycles import cycles
from chaser.cli_digest import digest
from chaser.cli_plan import db, people, plan
from chaser.cli_replies import replies
from chaser.demo import demo
from chaser.logging import configure_logging
from chaser.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db",
    metavar="URL",
    help="Database URL (env CHASER_DATABASE_URL; default: a SQLite file in the data directory, "
    "$CHASER_DATA_DIR or ~/.local/share/chaser).",
)
@click.option(
    "--config",
    "config",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=str),
    help="Configuration directory (env CHASER_CONFIG; default ./config).",
)
@click.version_option(__version__, prog_name="chaser")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None) -> None:
    """Chaser chases improvement-plan leads for updates before each governance meeting."""
    configure_logging()
    ctx.obj = Settings.resolve(db=db, config=config)


for command in (db, people, plan, cycles, chase, replies, digest, run, demo):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="chaser")
