"""``chaser cycles``: the governance calendar (validate, preview, ics)."""

from __future__ import annotations

import click


@click.group()
def cycles() -> None:
    """Meeting cycles: check config/cycles.yaml and see the dates Chaser works to."""
