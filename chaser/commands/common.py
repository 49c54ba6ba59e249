"""What the verbs share: failing with one clear line, opening the store, reading ``--now``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from chaser.settings import Settings, SettingsError
from workflows.calendar.cycles import LONDON

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from chaser.runtime import Runtime


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def report_problems(path: Path, problems: Sequence[object], *, fallback: str = "") -> NoReturn:
    """Print each problem on its own line (stderr), say nothing was changed, exit 1."""
    lines = [str(p) for p in problems] or [fallback]
    for line in lines:
        click.echo(line, err=True)
    n = len(lines)
    click.echo(
        f"{path}: {n} problem{'s' if n != 1 else ''}; fix the file and validate it again.", err=True
    )
    sys.exit(1)


def settings_of(ctx: click.Context | None = None) -> Settings:
    """The settings the root command loaded (or, outside it, the environment's)."""
    ctx = ctx or click.get_current_context()
    settings = ctx.find_object(Settings)
    return settings if settings is not None else Settings.load()


def engine_from(settings: Settings) -> Engine:
    from chaser.store import StoreNotReady, open_store
    from workflows.store.db import DatabaseURLError

    try:
        return open_store(settings.store_url)
    except (StoreNotReady, DatabaseURLError) as exc:
        fail(str(exc))


def runtime_from(settings: Settings) -> Runtime:
    """The service as configured, or exit 1 naming the file, variable or key to fix."""
    from chaser.wiring import build_runtime
    from workflows.calendar.cycles import CyclesConfigError
    from workflows.chasing.config import ChasingConfigError
    from workflows.digest.config import DigestConfigError

    engine = engine_from(settings)
    try:
        return build_runtime(settings, engine)
    except (ChasingConfigError, CyclesConfigError, DigestConfigError, SettingsError) as exc:
        fail(str(exc))


def parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now {value!r} is not a date and time; write e.g. 2025-09-16T09:30")
    return parsed.replace(tzinfo=LONDON) if parsed.tzinfo is None else parsed
