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

    from chaser.plans import PlanFiles
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


def runtime_from(settings: Settings, *, only: str | None = None) -> Runtime:
    """The service as configured (every plan, or ``only`` that one), or exit 1 naming the
    file, variable or key to fix."""
    from chaser.plans import PlanChoiceError
    from chaser.wiring import build_runtime
    from workflows.calendar.cycles import CyclesConfigError
    from workflows.chasing.config import ChasingConfigError
    from workflows.digest.config import DigestConfigError

    engine = engine_from(settings)
    try:
        return build_runtime(settings, engine, only=only)
    except (
        ChasingConfigError,
        CyclesConfigError,
        DigestConfigError,
        SettingsError,
        PlanChoiceError,
    ) as exc:
        fail(str(exc))


def plan_files(settings: Settings, code: str | None) -> PlanFiles:
    """The plan ``--plan`` names (optional when one is configured), or exit 1 saying which
    plans there are."""
    from chaser.plans import PlanChoiceError, choose_plan
    from workflows.chasing.config import ChasingConfigError

    try:
        return choose_plan(settings.config_dir, code)
    except (PlanChoiceError, ChasingConfigError) as exc:
        fail(str(exc))


def plan_file(settings: Settings, code: str | None, name: str) -> Path:
    """The ``cycles.yaml`` or ``chasing.yaml`` of the plan ``--plan`` names. With one plan
    and no ``--plan`` it is the configuration directory's own, even before ``chasing.yaml``
    exists (so ``cycles validate`` works on a first ``cycles.yaml``)."""
    from chaser.plans import plan_folders

    if code is None and plan_folders(settings.config_dir) == [settings.config_dir]:
        return settings.config_dir / name
    files = plan_files(settings, code)
    return {"cycles.yaml": files.cycles, "chasing.yaml": files.chasing}[name]


def partnership_of(settings: Settings, code: str | None) -> str:
    """The partnership whose people directory plan ``code`` uses: the configured plan's
    (without ``--plan``, the only one's). A plan not configured (yet), or a deployment with no
    ``chasing.yaml`` at all, uses the shared directory ('')."""
    from chaser.plans import PlanChoiceError, choose_plan, plan_folders
    from workflows.chasing.config import ChasingConfigError

    config_dir = settings.config_dir
    if plan_folders(config_dir) == [config_dir] and not (config_dir / "chasing.yaml").is_file():
        return ""
    try:
        return choose_plan(config_dir, code).partnership
    except PlanChoiceError as exc:
        if code is None:
            fail(str(exc))
        return ""
    except ChasingConfigError as exc:
        fail(str(exc))


#: The option every verb that works on one plan takes.
plan_option = click.option(
    "--plan",
    "plan_code",
    metavar="CODE",
    help="The plan (needed only when several are configured, in config/plans/).",
)


def parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now {value!r} is not a date and time; write e.g. 2025-09-16T09:30")
    return parsed.replace(tzinfo=LONDON) if parsed.tzinfo is None else parsed
