"""The ``chaser`` command: the one composition root that wires settings, store and adapters.

It starts at once: each verb lives in its own module under :mod:`chaser.commands`, imported only
when that verb runs, so ``chaser --help`` loads click and nothing heavy (no FastAPI, matplotlib,
openpyxl or O365). The table below is what ``--help`` lists; a test keeps its one-line help
equal to each command's own.
"""

from __future__ import annotations

import importlib
import sys

import click

from chaser import __version__

#: verb -> (module:attribute, one line of help shown by ``chaser --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("chaser.commands.db:db", "The status store: create or upgrade its schema."),
    "people": (
        "chaser.commands.people:people",
        "The people directory: who leads what, their email, Teams id and delegate.",
    ),
    "plan": (
        "chaser.commands.plan:plan",
        "The improvement plan: import a council workbook, list its actions.",
    ),
    "cycles": (
        "chaser.commands.cycles:cycles",
        "Meeting cycles: check config/cycles.yaml and see the dates Chaser works to.",
    ),
    "chasing": (
        "chaser.commands.chasing:chasing",
        "The chase ladder: check config/chasing.yaml.",
    ),
    "chase": (
        "chaser.commands.chase:chase",
        "Run one chasing tick by hand: enqueue what is due, then send it.",
    ),
    "replies": (
        "chaser.commands.replies:replies",
        "Leads' replies: take them in from .eml files, and review the ones Chaser could not trust.",
    ),
    "digest": (
        "chaser.commands.digest:digest",
        "Build the digest for a meeting: exceptions, the action and impact log, who is silent.",
    ),
    "outbox": (
        "chaser.commands.outbox:outbox",
        "The outbox: list the messages that could not be sent, and send them again.",
    ),
    "requests": (
        "chaser.commands.requests:requests",
        "Update requests sent by another system: record them so replies to them are linked.",
    ),
    "measures": (
        "chaser.commands.measures:measures",
        "Impact measures: import a scorecard and its readings, list them.",
    ),
    "risks": (
        "chaser.commands.risks:risks",
        "The risk register: import it, list the risks and what changed.",
    ),
    "status": (
        "chaser.commands.status:status",
        "Where the plan stands: next meeting, next chase, who has not replied, what waits.",
    ),
    "compliance": (
        "chaser.commands.compliance:compliance",
        "Evidence of the improvement notice's duties over a period, with the gaps named.",
    ),
    "report": (
        "chaser.commands.report:report",
        "Reports for others: the Department's stock-take of progress, measures and milestones.",
    ),
    "users": (
        "chaser.commands.users:users",
        "Who may sign in to the secretary's pages: add users, list them, print a sign-in link.",
    ),
    "run": (
        "chaser.commands.run:run",
        "Run the service until stopped: a tick every minute, and the web app.",
    ),
    "demo": (
        "chaser.commands.demo:demo",
        "Watch Chaser run a six-week board cycle of the Plymouth sample plan in two minutes.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when first used, not when the program starts."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from chaser.logging import configure_logging
    from chaser.settings import Settings, SettingsError

    try:
        settings = Settings.load(database_url=db, config_dir=config)
    except SettingsError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo("Fix the settings above (see docs/settings.md) and run again.", err=True)
        sys.exit(2)
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    ctx.obj = settings


def main() -> None:
    cli(prog_name="chaser")
