"""`chaser compliance`: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.group()
def compliance() -> None:
    """Evidence of the improvement notice's duties over a period, with the gaps named."""
