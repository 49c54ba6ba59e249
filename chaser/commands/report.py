"""`chaser report`: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.group()
def report() -> None:
    """Reports for others: the Department's stock-take of progress, measures and milestones."""
