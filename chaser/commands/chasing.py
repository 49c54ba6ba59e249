"""``chaser chasing``: check ``chasing.yaml`` (the chase ladder, sender, channels)."""

from __future__ import annotations

from pathlib import Path

import click

from chaser.commands.common import plan_file, plan_option, report_problems, settings_of
from workflows.calendar.cycles import CyclesConfigError, load_cycles
from workflows.chasing.config import ChasingConfigError, load_chasing


@click.group()
def chasing() -> None:
    """The chase ladder: check config/chasing.yaml."""


@chasing.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@plan_option
def validate(file: Path | None, plan_code: str | None) -> None:
    """Check FILE (default: the plan's chasing.yaml) against the plan's cycles.yaml.

    Prints each problem as FILE:LINE: KEY: what is wrong and how to fix it, and exits 1 if
    there are any; otherwise what the ladder means in working days.
    """
    if file is not None:
        path, cycles_path = file, file.parent / "cycles.yaml"
        if not cycles_path.exists():
            cycles_path = settings_of().config_dir / "cycles.yaml"
    else:
        path = plan_file(settings_of(), plan_code, "chasing.yaml")
        cycles_path = plan_file(settings_of(), plan_code, "cycles.yaml")
    try:
        groups = load_cycles(cycles_path).codes
        config = load_chasing(path, groups=groups)
    except (ChasingConfigError, CyclesConfigError) as exc:
        report_problems(path, exc.problems, fallback=str(exc))
    ladder = config.ladder
    click.echo(f"{path}: valid (chases for {', '.join(config.meetings)}).")
    click.echo(
        f"  request {_days(ladder.request)}, reminder {_days(ladder.reminder)}, final reminder "
        f"{_days(ladder.final_reminder)}, escalation {_days(ladder.escalation)} "
        "the papers deadline"
    )
    window = config.send_window
    days = "working days" if window.working_days_only else "every day"
    click.echo(
        f"  sent {window.start:%H:%M}-{window.end:%H:%M} London time, {days}, as "
        f"{config.sender.name} <{config.sender.mailbox}>, at most "
        f"{config.sender.rate_per_minute or 'any number of'} a minute"
    )


def _days(offset: int | None) -> str:
    if offset is None:
        return "not sent"
    if offset == 0:
        return "on"
    return f"{abs(offset)} working day{'s' if abs(offset) != 1 else ''} " + (
        "before" if offset < 0 else "after"
    )
