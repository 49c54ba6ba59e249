"""``chaser chase``: one tick by hand, or what it would send (``--dry-run``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from chaser.commands.common import fail, parse_now, runtime_from
from chaser.runtime import PlanRuntime
from chaser.service import Planned, plan_tick, tick
from chaser.settings import Settings
from chaser.standing import next_chase
from workflows.calendar.cycles import LONDON
from workflows.chasing.state import UnknownPlan


def _not_imported(codes: list[str]) -> str:
    return (
        f"plan {', '.join(codes)} is not in the store yet; import it with `chaser plan import`, "
        "or fix `plan:` in chasing.yaml"
    )


def _describe(p: Planned) -> dict[str, Any]:
    chase, message = p.chase, p.delivery.message
    return {
        "key": message.key,
        "step": str(chase.step),
        "channel": message.channel,
        "lead": chase.lead.code,
        "to": chase.to.code,
        "to_email": chase.to.email,
        "delegated": chase.delegated,
        "meeting": chase.meeting_key,
        "subject": message.subject,
        "actions": [a.ref for a in chase.actions],
        "new": p.new,
    }


@click.command()
@click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    help="Act as if it were this moment (ISO 8601; London time if no zone).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be sent; enqueue and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see docs/chasing.md).")
@click.option(
    "--plan", "plan_code", metavar="CODE", help="Only this plan (default: every plan configured)."
)
@click.pass_obj
def chase(
    settings: Settings, now_text: str | None, dry_run: bool, as_json: bool, plan_code: str | None
) -> None:
    """Run one chasing tick by hand: enqueue what is due, then send it."""
    runtime = runtime_from(settings, only=plan_code)
    now = parse_now(now_text)
    try:
        if dry_run:
            planned, enqueued, dispatch = plan_tick(runtime, now), 0, None
        else:
            report = tick(runtime, now, thorough=True)
            if report.missing and len(report.missing) == len(runtime.plans):
                raise UnknownPlan(_not_imported(report.missing))
            planned, enqueued, dispatch = report.planned, report.enqueued, report.dispatch
    except UnknownPlan as exc:
        fail(str(exc))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "now": now.isoformat(),
                    "dry_run": dry_run,
                    "enqueued": enqueued,
                    "messages": [_describe(p) for p in planned],
                    "dispatch": None
                    if dispatch is None
                    else {
                        "sent": dispatch.sent,
                        "recovered": dispatch.recovered,
                        "retried": dispatch.retried,
                        "dead": dispatch.dead,
                        "deferred": dispatch.deferred,
                    },
                },
                indent=2,
            )
        )
        return
    fresh = [p for p in planned if p.new]
    verb = "would send" if dry_run else "enqueued"
    click.echo(
        f"{now.astimezone(LONDON):%a %d %b %Y %H:%M}: {len(fresh)} {verb}, "
        f"{len(planned) - len(fresh)} already in the outbox"
    )
    for p in fresh:
        d = _describe(p)
        click.echo(
            f"  {d['step']:<15} {d['channel']:<6} {d['lead']:<4} -> {d['to']:<4} "
            f"{len(d['actions'])} actions  {d['meeting']}"
        )
    if dispatch is not None:
        click.echo(
            f"sent {dispatch.sent}, retrying {dispatch.retried}, dead {dispatch.dead}, "
            f"waiting for the mailbox's rate {dispatch.deferred}"
        )
    if not fresh:
        for plan in runtime.plans.values():
            click.echo(_next_hint(plan, now, several=len(runtime.plans) > 1))
    if dispatch is not None and dispatch.dead:
        click.echo("`chaser outbox list` says why a message was not delivered.")


def _next_hint(plan: PlanRuntime, now: datetime, *, several: bool) -> str:
    """When the next rung of the ladder goes out, for a tick that had nothing new to send."""
    whose = f" for {plan.code}" if several else ""
    nxt = next_chase(plan, now)
    if nxt is None:
        return f"nothing due{whose}, and no chased meeting in the next 400 days (cycles.yaml)"
    if nxt.now:  # today's step is in the outbox already: the one after it
        close = datetime.combine(nxt.day, plan.chasing.send_window.end, tzinfo=LONDON)
        nxt = next_chase(plan, close)
        if nxt is None:
            return f"nothing more due{whose}, and no chased meeting in the next 400 days"
    meeting = f"{nxt.meeting.group} {nxt.meeting.date:%d %b %Y}"
    return (
        f"nothing due{whose}; the next chase is the {nxt.step_text.lower()} for {meeting}, "
        f"{nxt.at:%a %d %b %Y at %H:%M} (`chaser status` shows more)"
    )
