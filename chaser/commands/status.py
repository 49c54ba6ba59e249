"""``chaser status``: where each plan stands, in one screen."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import click

from chaser.commands.common import parse_now, runtime_from
from chaser.settings import Settings
from chaser.standing import Standing, standing
from workflows.calendar.cycles import LONDON
from workflows.calendar.meetings import Meeting


@click.group(invoke_without_command=True)
@click.option(
    "--plan", "plan_code", metavar="CODE", help="Only this plan (default: every plan configured)."
)
@click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    help="As if it were this moment (ISO 8601; London time if no zone).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, plan_code: str | None, now_text: str | None, as_json: bool) -> None:
    """Where the plan stands: next meeting, next chase, who has not replied, what waits.

    For each plan: each chased group's next meeting and its papers deadline, the next chase and
    when it goes, who has not updated every action for the meeting being chased, the replies
    waiting for review, the messages not delivered and those waiting to go, and the next
    digest. It changes nothing."""
    if ctx.invoked_subcommand is not None:
        return
    settings: Settings = ctx.obj
    runtime = runtime_from(settings, only=plan_code)
    now = parse_now(now_text)
    found = [standing(runtime, plan, now) for plan in runtime.plans.values()]
    if as_json:
        click.echo(json.dumps([_json(s, now) for s in found], indent=2, ensure_ascii=False))
        return
    for i, s in enumerate(found):
        if i:
            click.echo("")
        for line in _lines(s, now):
            click.echo(line)


def _day(d: Any) -> str:
    return f"{d:%a %d %b %Y}"


def _meeting(m: Meeting) -> str:
    return f"{m.group} {m.date:%d %b %Y}"


def _ago(then: datetime, now: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} hours"
    return f"{seconds // 86400} days"


def _lines(s: Standing, now: datetime) -> list[str]:
    local = now.astimezone(LONDON)
    lines = [f"Plan {s.plan}, {local:%a %d %b %Y %H:%M} (London)"]
    if not s.in_store:
        lines.append(
            f"  not in the store yet: import it with `chaser plan import FILE --plan {s.plan}`"
        )
    if s.next_meetings:
        lines.append("Next meetings:")
        for m in s.next_meetings:
            lines.append(
                f"  {m.group:<5} {m.group_name}: {_day(m.date)} {m.starts_at:%H:%M}, "
                f"papers due {_day(m.papers_deadline)}"
            )
    else:
        lines.append("Next meetings: none in the next 400 days (check cycles.yaml)")
    c = s.next_chase
    if c is None:
        lines.append("Next chase: none in the next 400 days")
    elif c.now:
        lines.append(
            f"Next chase: {c.step_text} for {_meeting(c.meeting)}, due now "
            "(the next tick of `chaser run`, or `chaser chase`, sends it)"
        )
    else:
        lines.append(
            f"Next chase: {c.step_text} for {_meeting(c.meeting)}, {_day(c.day)} at "
            f"{c.at:%H:%M} (in {_ago(now, c.at)})"
        )
    if s.current is None:
        lines.append("Chase under way: none (no update request has gone out for a meeting ahead)")
    elif not s.requests_sent:
        lines.append(f"Chase under way: {_meeting(s.current)}, no update request in the outbox yet")
    else:
        lines.append(
            f"Chase under way: {_meeting(s.current)}: {s.requests_sent} lead"
            f"{'s' if s.requests_sent != 1 else ''} asked, {len(s.silent)} not replied for every "
            "action"
        )
        for lead in s.silent:
            lines.append(f"  {lead.code:<5} {lead.name} ({lead.updated} of {lead.actions} updated)")
    lines.append(
        f"Waiting for review: {len(s.waiting)}"
        + (" (`chaser replies review` shows them and how to decide)" if s.waiting else "")
    )
    for w in s.waiting:
        lines.append(f"  reply {w.reply_id} from {w.sender or 'an unknown sender'}: {w.reason}")
    lines.append(
        f"Not delivered: {s.dead}"
        + (
            f" (`chaser outbox list --plan {s.plan}` says why; `chaser outbox retry` sends "
            "them again)"
            if s.dead
            else ""
        )
    )
    if s.pending and s.oldest_pending is not None:
        lines.append(
            f"Waiting to go: {s.pending}, the oldest queued {_ago(s.oldest_pending, now)} ago"
        )
    else:
        lines.append("Waiting to go: 0")
    d = s.next_digest
    if d is None:
        lines.append("Next digest: none (no digest.yaml, or no meeting ahead gets one)")
    elif d.state:
        lines.append(f"Next digest: {_meeting(d.meeting)}, {d.state} in the outbox")
    elif d.day <= local.date():
        lines.append(f"Next digest: {_meeting(d.meeting)}, due now (the next tick sends it)")
    else:
        lines.append(f"Next digest: {_meeting(d.meeting)}, goes out {_day(d.day)}")
    return lines


def _json(s: Standing, now: datetime) -> dict[str, Any]:
    c, d = s.next_chase, s.next_digest
    return {
        "plan": s.plan,
        "in_store": s.in_store,
        "now": now.isoformat(),
        "next_meetings": [
            {
                "group": m.group,
                "meeting": m.key,
                "date": m.date.isoformat(),
                "starts_at": m.starts_at.isoformat(),
                "papers_deadline": m.papers_deadline.isoformat(),
            }
            for m in s.next_meetings
        ],
        "next_chase": None
        if c is None
        else {"step": str(c.step), "meeting": c.meeting.key, "at": c.at.isoformat(), "now": c.now},
        "current_meeting": s.current.key if s.current else None,
        "requests_sent": s.requests_sent,
        "not_replied": [
            {"code": x.code, "name": x.name, "updated": x.updated, "actions": x.actions}
            for x in s.silent
        ],
        "waiting_for_review": [
            {"reply": w.reply_id, "sender": w.sender, "reason": w.reason} for w in s.waiting
        ],
        "dead": s.dead,
        "pending": s.pending,
        "oldest_pending_seconds": None
        if s.oldest_pending is None
        else int((now - s.oldest_pending) / timedelta(seconds=1)),
        "next_digest": None
        if d is None
        else {"meeting": d.meeting.key, "day": d.day.isoformat(), "state": d.state},
    }
