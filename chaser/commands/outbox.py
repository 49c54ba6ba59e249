"""``chaser outbox``: the messages Chaser gave up on, and sending them again after an outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from sqlmodel import Session, select

from chaser.commands.common import engine_from, fail
from chaser.dead_letters import KIND as NOTICE_KIND
from chaser.settings import Settings
from notifications.outbox import DeadLetter, dead_letters, requeue
from workflows.access.audit import record
from workflows.store.models import Plan


@click.group()
def outbox() -> None:
    """The outbox: list the messages that could not be sent, and send them again."""


def _filters(f: Any) -> Any:
    f = click.option("--key", "keys", multiple=True, metavar="KEY", help="This message's key.")(f)
    f = click.option("--channel", metavar="NAME", help="Only this channel: email or teams.")(f)
    f = click.option(
        "--reason", metavar="TEXT", help="Only those whose reason contains TEXT (any case)."
    )(f)
    f = click.option("--plan", "plan_code", metavar="CODE", help="Only this plan's.")(f)
    return f


def _find(
    settings: Settings,
    plan_code: str | None,
    reason: str | None,
    channel: str | None,
    keys: Any,
    *,
    kinds_left_out: tuple[str, ...] = (),
) -> tuple[list[DeadLetter], dict[int, str]]:
    engine = engine_from(settings)
    with Session(engine) as session:
        plans = {p.id: p.code for p in session.exec(select(Plan)) if p.id is not None}
    plan_id = None
    if plan_code is not None:
        plan_id = next((i for i, code in plans.items() if code == plan_code), None)
        if plan_id is None:
            fail(f"no plan {plan_code!r} in the store (plans: {', '.join(plans.values())})")
    with engine.connect() as conn:
        found = dead_letters(
            conn,
            reason=reason or "",
            channel=channel or "",
            keys=keys,
            plan_id=plan_id,
            kinds_left_out=kinds_left_out,
        )
    return found, plans


def _line(d: DeadLetter) -> str:
    reason = " ".join(d.reason.split())
    if len(reason) > 120:
        reason = reason[:119] + "…"
    return f"{d.died_at:%Y-%m-%d %H:%M}  {d.channel:<5}  {d.key}\n    {reason}"


@outbox.command("list")
@_filters
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def outbox_list(
    settings: Settings,
    plan_code: str | None,
    reason: str | None,
    channel: str | None,
    keys: tuple[str, ...],
    as_json: bool,
) -> None:
    """The messages Chaser gave up on (dead letters), oldest first, each with why."""
    found, plans = _find(settings, plan_code, reason, channel, keys)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "key": d.key,
                        "plan": plans.get(d.plan_id) if d.plan_id is not None else None,
                        "kind": d.kind,
                        "channel": d.channel,
                        "lead": d.person_code,
                        "to": d.recipient_code,
                        "meeting": d.meeting_key,
                        "attempts": d.attempts,
                        "reason": d.reason,
                        "died_at": d.died_at.isoformat(),
                    }
                    for d in found
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for d in found:
        click.echo(_line(d))
    click.echo(f"{len(found)} message{'s' if len(found) != 1 else ''} not delivered.")


@outbox.command("retry")
@_filters
@click.option("--all", "everything", is_flag=True, help="Every dead letter (no other filter).")
@click.option("--by", required=True, metavar="NAME", help="Who is sending them again (kept).")
@click.option("--dry-run", is_flag=True, help="List what would be sent again; change nothing.")
@click.pass_obj
def outbox_retry(
    settings: Settings,
    plan_code: str | None,
    reason: str | None,
    channel: str | None,
    keys: tuple[str, ...],
    everything: bool,
    by: str,
    dry_run: bool,
) -> None:
    """Send dead letters again, after the outage that killed them is over (or the address that
    was refused is corrected in the people directory). Choose them by --reason, --channel,
    --key or --plan, or take --all; the next tick sends them, each once. Emails that told the
    secretaries of dead letters are not sent again (unless named by --key)."""
    if not (everything or plan_code or reason or channel or keys):
        raise click.UsageError(
            "choose the messages to send again (--reason, --channel, --key, --plan) or say --all"
        )
    # An email about dead letters is out of date once they are sent again: left out, unless
    # asked for by its key.
    left_out = () if keys else (NOTICE_KIND,)
    found, _ = _find(settings, plan_code, reason, channel, keys, kinds_left_out=left_out)
    for d in found:
        click.echo(_line(d))
    if dry_run or not found:
        verb = "would be sent again" if found else "match: nothing to send again"
        click.echo(f"{len(found)} message{'s' if len(found) != 1 else ''} {verb}.")
        return
    now = datetime.now(UTC)
    engine = engine_from(settings)
    with engine.begin() as conn:
        moved = requeue(conn, [d.id for d in found], now=now)
    with Session(engine) as session:
        wanted = ", ".join(
            f"{name} {value!r}"
            for name, value in (
                ("plan", plan_code),
                ("reason", reason),
                ("channel", channel),
                ("keys", ",".join(keys)),
            )
            if value
        )
        record(
            session, "outbox_retry", now=now, by=by, reason=f"{moved} sent again: {wanted or 'all'}"
        )
        session.commit()
    click.echo(
        f"{moved} message{'s' if moved != 1 else ''} queued to send again; the next tick "
        "(`chaser run`, or `chaser chase`) sends them."
    )
