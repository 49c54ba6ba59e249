"""``chaser demo``: the real service on its embedded defaults, on a simulated clock."""

from __future__ import annotations

import signal
import sys
from datetime import datetime
from pathlib import Path
from types import FrameType

import click

from chaser.demo import DEFAULT_SPEED, FIRST_DAY, LAST_DAY, Demo, DemoOptions
from chaser.demo_leads import PERSONAS
from chaser.logging import configure_logging


@click.command()
@click.option(
    "--speed",
    type=float,
    default=DEFAULT_SPEED,
    show_default=True,
    help="Simulated days a minute (21: the six-week cycle in two minutes; 0: no waiting).",
)
@click.option(
    "--from",
    "first_day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=FIRST_DAY.isoformat(),
    show_default=True,
    help="The first simulated day.",
)
@click.option(
    "--until",
    "last_day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=LAST_DAY.isoformat(),
    show_default=True,
    help="The last simulated day; the clock stops at its end.",
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Web port (default 8080, or a free one if 8080 is taken; 0: any free port).",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's data (database, mail, digests) in this folder.",
)
@click.option(
    "--exit",
    "exit_at_end",
    is_flag=True,
    help="Stop when the clock stops, instead of serving the pages until Ctrl-C.",
)
def demo(
    speed: float,
    first_day: datetime,
    last_day: datetime,
    port: int | None,
    keep: Path | None,
    exit_at_end: bool,
) -> None:
    """Watch Chaser run a six-week board cycle of the Plymouth sample plan in two minutes."""
    if last_day.date() < first_day.date():
        raise click.BadParameter("--until must not be before --from", param_hint="--until")
    configure_logging(level="WARNING")  # the progress lines are the demo's output
    options = DemoOptions(speed, first_day.date(), last_day.date(), port, keep, exit_at_end)
    demo_ = Demo(options)

    def stop(signum: int, _frame: FrameType | None) -> None:
        demo_.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    people, actions = demo_.load_sample()
    link = demo_.sign_in_link()
    demo_.start()
    try:
        click.echo(
            f"Chaser demo: the Plymouth SEND improvement plan ({actions} actions, {people} "
            f"people; {len(PERSONAS)} simulated leads)."
        )
        click.echo(
            f"Simulating {options.first_day:%a %d %b %Y} to {options.last_day:%a %d %b %Y}"
            + (f" at {speed:g} days a minute." if speed > 0 else " as fast as it goes.")
        )
        for line in demo_.cast():
            click.echo(line)
        click.echo(f"Open {link}")
        click.echo(
            f"  (it signs you in as {demo_.viewer}, the board secretary, and opens the plan; "
            f"sent mail: {demo_.url}/outbox)"
        )
        kept = (
            "kept"
            if options.folder is not None
            else "removed when the demo ends; --keep DIR keeps it"
        )
        click.echo(f"Data: {demo_.folder} ({kept})")
        sys.stdout.flush()
        demo_.run()
        if not demo_.stop_requested.is_set():
            stopped = f"Clock stopped at the end of {options.last_day:%a %d %b %Y}."
            if not exit_at_end:
                stopped += f" Still serving {demo_.url} - press Ctrl-C to stop."
            click.echo(stopped)
            sys.stdout.flush()
            if not exit_at_end:
                demo_.stop_requested.wait()
    finally:
        demo_.close()
    click.echo("Demo stopped.")
