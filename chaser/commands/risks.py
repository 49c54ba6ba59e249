"""`chaser risks`: import a council's risk register, list the risks and what changed."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, time
from pathlib import Path

import click

from chaser.commands.common import engine_from, fail, partnership_of, plan_option, settings_of
from chaser.settings import Settings


@click.group()
def risks() -> None:
    """The risk register: import it, list the risks and what changed."""


@risks.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@plan_option
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="The register's layout (default: the one in config/mappings/risks/).",
)
@click.option(
    "--by",
    "given_by",
    default="",
    metavar="NAME",
    help="Who is importing (kept in each risk's history).",
)
@click.option("--dry-run", is_flag=True, help="Read and report everything; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def risks_import(
    settings: Settings,
    file: Path,
    plan_code: str | None,
    mapping_file: Path | None,
    given_by: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import (or re-import) a risk register: merges by code, every change kept in history."""
    from chaser.commands.measures import print_outcome
    from chaser.measures_import import choose, import_register
    from workflows.risks.mapping import RegisterMappingError, load_register_mapping

    try:
        mapping = choose(
            settings.config_dir,
            "risks",
            mapping_file,
            plan_code,
            load_register_mapping,
            RegisterMappingError,
        )
    except RegisterMappingError as exc:
        fail(str(exc))
    code = plan_code or mapping.plan.code
    outcome = import_register(
        engine_from(settings),
        file,
        mapping=mapping,
        now=datetime.now(UTC),
        plan_code=code,
        partnership=partnership_of(settings, code),
        given_by=given_by or "import",
        dry_run=dry_run,
    )
    if as_json:
        click.echo(json.dumps(outcome.as_json(), indent=2, ensure_ascii=False))
    else:
        print_outcome(outcome, "risk register read")
    if not outcome.ok:
        sys.exit(1)


@risks.command("list")
@plan_option
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    help="What changed since this day (default: 42 days ago, one board cycle).",
)
@click.option("--on", "on_day", metavar="YYYY-MM-DD", help="As on this day (default: today).")
@click.option(
    "--only",
    type=click.Choice(["new", "escalated", "overdue_for_review", "closed"]),
    help="Only the risks on this list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def risks_list(
    plan_code: str | None, since: str | None, on_day: str | None, only: str | None, as_json: bool
) -> None:
    """List the risks by score, marking the new, escalated, overdue-for-review and closed."""
    from datetime import timedelta

    from sqlmodel import Session, select

    from chaser.commands.measures import _day, _only_plan
    from workflows.calendar.cycles import LONDON
    from workflows.risks.store import register_lines
    from workflows.store.models import Plan

    settings = settings_of()
    code = plan_code or _only_plan(settings)
    today = _day(on_day)
    since_day = _day(since) if since else today - timedelta(days=42)
    since_at = datetime.combine(since_day, time(0), tzinfo=LONDON).astimezone(UTC)
    with Session(engine_from(settings)) as session:
        plan = session.exec(select(Plan).where(Plan.code == code)).first()
        if plan is None or plan.id is None:
            fail(
                f"there is no plan {code!r} in the store; pass --plan with an imported plan's code"
            )
        lines = register_lines(session, plan.id, since=since_at, today=today)
    if only:
        lines = [x for x in lines if only in x.labels]
    if as_json:
        click.echo(json.dumps([x.as_json() for x in lines], indent=2, ensure_ascii=False))
        return
    if not lines:
        click.echo(f"plan {code}: no risks" + (f" on the {only} list" if only else ""))
    for x in lines:
        was = (
            f" (was {x.score_at_since})"
            if x.score_at_since is not None and x.score_at_since != x.score
            else ""
        )
        marks = " ".join(f"[{label.replace('_', ' ')}]" for label in x.labels)
        review = f", review {x.review_date:%d %b %Y}" if x.review_date else ""
        click.echo(
            f"{x.code:<5} {x.score if x.score is not None else '-':>2}{was} {x.band or ''}: "
            f"{x.title}"
            f" — {x.owner or 'no owner'}{review}, {x.status} {marks}".rstrip()
        )
