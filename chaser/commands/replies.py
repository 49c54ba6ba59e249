"""``chaser replies``: take in emailed replies, and the secretary's review queue."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlmodel import Session

from chaser.commands.common import engine_from, fail, plan_option
from chaser.settings import Settings
from workflows.replies.authentication import Receiver
from workflows.replies.intake import ingest_email
from workflows.replies.review import (
    AnswerEdit,
    ReviewError,
    decide,
    pending_reviews,
    raw_bytes,
    review_items,
)
from workflows.replies.shown import show_message


@click.group()
def replies() -> None:
    """Leads' replies: take them in from .eml files, and review the ones Chaser could not trust."""


@replies.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--plan", "plan_code", metavar="CODE", help="The plan, when a reply names no request."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see docs/replies.md).")
@click.pass_obj
def ingest(
    settings: Settings, files: tuple[Path, ...], plan_code: str | None, as_json: bool
) -> None:
    """Read replies saved as .eml files: apply the trusted ones, queue the rest for review.

    A reply is trusted as one the SMTP listener takes in would be: only when the
    Authentication-Results of a server in CHASER_INBOUND_AUTHSERV_IDS (the topmost such header)
    says its sender's domain passed, and the sender is in the people directory."""
    engine = engine_from(settings)
    receiver = Receiver.smtp(settings.inbound_authserv_ids)
    results = []
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
        outcome = ingest_email(
            engine,
            path.read_bytes(),
            now=datetime.now(UTC),
            plan_code=plan_code,
            receiver=receiver,
        )
        results.append({"file": str(path), **outcome.as_json()})
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for r in results:
        refs = ", ".join(u["ref"] for u in r["updates"]) or "-"
        click.echo(f"{r['file']}: {r['verdict']} (reply {r['reply_id']}; {refs}) - {r['reason']}")


@replies.command("review")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--plan", "plan_code", metavar="CODE", help="Only this plan's (and planless) replies."
)
@click.pass_obj
def review(settings: Settings, as_json: bool, plan_code: str | None) -> None:
    """Replies waiting for the secretary to apply or reject: the message as sent (HTML shown
    as text, attachments listed), why it waits, what applying it would record, and the
    commands that decide it."""
    engine = engine_from(settings)
    with Session(engine) as session:
        items = review_items(session, plan_code or "", now=datetime.now(UTC))
        replies_ = {r.id: r for r in pending_reviews(session, plan_code)}
        waiting = []
        for item in items:
            reply = replies_.get(item.reply_id)
            if reply is None:  # another plan's
                continue
            shown = show_message(
                b"" if item.quarantined or reply.channel != "email" else raw_bytes(reply.raw),
                fallback=item.text,
            )
            answers = reply.parsed.get("answers") if isinstance(reply.parsed, dict) else None
            waiting.append(
                {
                    "reply": item.reply_id,
                    "received_at": item.received_at.isoformat(),
                    "channel": item.channel,
                    "sender": item.sender,
                    "sender_name": item.sender_name,
                    "subject": item.subject,
                    "reason": item.reason,
                    "headers": dict(shown.headers),
                    "text": shown.text,
                    "quoted": shown.quoted,
                    "text_from_html": shown.from_html,
                    "text_cut": shown.cut,
                    "attachments": [
                        {"name": a.name, "content_type": a.content_type, "size": a.size}
                        for a in shown.attachments
                    ],
                    "request": item.request_reference or None,
                    "request_lead": item.request_lead or None,
                    "read": [
                        {
                            "ref": u.ref,
                            "status": u.status_label,
                            "forecast": u.forecast,
                            "narrative": u.narrative,
                        }
                        for u in item.read
                    ],
                    "answers": [a for a in answers if isinstance(a, dict)]
                    if isinstance(answers, list)
                    else None,
                    "problems": list(item.problems),
                    "quarantined": item.quarantined,
                    "apply": None
                    if item.quarantined or not item.read
                    else f'chaser replies apply {item.reply_id} --by "YOUR NAME"',
                    "reject": f'chaser replies reject {item.reply_id} --by "YOUR NAME" '
                    '--reason "WHY"',
                }
            )
    if as_json:
        click.echo(json.dumps(waiting, indent=2, ensure_ascii=False))
        return
    if not waiting:
        click.echo("nothing waiting for review")
    for i, w in enumerate(waiting):
        _print_item(w, first=i == 0)
    quarantined = sum(1 for w in waiting if w["quarantined"])
    if quarantined:
        click.echo(
            f"{quarantined} of {len(waiting)} could not be read: reject them (`chaser replies "
            "reject ID`), entering any update by hand"
        )


def _answer(a: dict[str, Any], reason: str) -> str:
    """One action's answer as the reader made it out: ``2.5: review (matched by ref): Amber,
    forecast 2026-03-31, "staff recruited"``, and why, when that is not the reply's reason."""
    read = a.get("read")
    bits: list[str] = []
    if isinstance(read, dict):
        label = read.get("status_label") or read.get("status")
        if label:
            bits.append(str(label))
        if read.get("revised_date"):
            bits.append(f"forecast {read['revised_date']}")
        if read.get("narrative"):
            bits.append(f'"{" ".join(str(read["narrative"]).split())[:100]}"')
    elif read:
        bits.append(str(read)[:100])
    match = f" (matched by {a['match']})" if a.get("match") else ""
    line = f"{a.get('ref') or '-'}: {a.get('verdict') or '-'}{match}"
    if bits:
        line += ": " + ", ".join(bits)
    why = str(a.get("reason") or "")
    if why and why != reason:
        line += f"; {why}"
    return line


def _print_item(w: dict[str, Any], *, first: bool) -> None:
    if not first:
        click.echo("")
    what = "quarantined message" if w["quarantined"] else "reply"
    sender = w["sender"] or "an unknown sender"
    if w["sender_name"]:
        sender = f"{w['sender_name']} <{sender}>"
    click.echo(f"{what} {w['reply']} from {sender}: {w['reason']}")
    click.echo(f"  received {w['received_at']} by {w['channel']}; subject: {w['subject'] or '-'}")
    if w["request"]:
        click.echo(f"  answers request {w['request']} to {w['request_lead'] or 'a lead'}")
    heading = "the message (its HTML shown as text)" if w["text_from_html"] else "the message"
    click.echo(f"  {heading}:")
    for name, value in w["headers"].items():
        click.echo(f"  | {name}: {value}")
    if w["headers"]:
        click.echo("  |")
    for line in (w["text"] or "(no text)").splitlines() or [""]:
        click.echo(f"  | {line}")
    if w["quoted"]:
        click.echo("  the earlier messages it quotes:")
        for line in w["quoted"].splitlines():
            click.echo(f"  |   {line}")
    if w["text_cut"]:
        click.echo("  | … (cut: the rest is kept with the reply)")
    for a in w["attachments"]:
        click.echo(
            f"  attachment: {a['name']} ({a['content_type']}, {a['size']} bytes; not opened)"
        )
    if w["answers"]:
        click.echo("  what Chaser made of it, action by action:")
        for a in w["answers"]:
            click.echo(f"    {_answer(a, w['reason'])}")
    if w["read"]:
        click.echo("  applying it records:")
        for u in w["read"]:
            bits = [
                b for b in (u["status"], f"forecast {u['forecast']}" if u["forecast"] else "") if b
            ]
            click.echo(
                f"    {u['ref']}: {', '.join(bits) or 'a note'}"
                + (f" - {u['narrative'][:100]}" if u["narrative"] else "")
            )
    else:
        click.echo("  applying it records nothing: no update could be read from it")
    for p in w["problems"]:
        click.echo(f"  could not read: {p}")
    if w["apply"]:
        click.echo(f"  to apply it:  {w['apply']}")
        click.echo(
            "  to edit what was read first, add: --status REF=VALUE --date REF=DATE "
            "--narrative REF=TEXT (each repeatable)"
        )
    click.echo(f"  to reject it: {w['reject']}")


def _pairs(option: str, values: tuple[str, ...]) -> dict[str, str]:
    """``REF=VALUE`` options as {ref: value}; one without ``=`` is refused, naming it."""
    out: dict[str, str] = {}
    for value in values:
        ref, sep, text = value.partition("=")
        if not sep or not ref.strip():
            raise click.BadParameter(
                f"{value!r} is not REF=VALUE; write e.g. {option} 2.5=Amber", param_hint=option
            )
        out[ref.strip()] = text
    return out


@replies.command("apply")
@click.argument("reply_id", type=int)
@click.option("--by", required=True, metavar="NAME", help="Who decided (kept in the history).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="REF=VALUE",
    help="Apply this status (a value on the plan's scale) to action REF instead of the one read.",
)
@click.option(
    "--date",
    "dates",
    multiple=True,
    metavar="REF=DATE",
    help="Apply this revised date (2026-03-31, March 2026) to action REF instead.",
)
@click.option(
    "--narrative",
    "narratives",
    multiple=True,
    metavar="REF=TEXT",
    help="Record this narrative for action REF instead of the one read.",
)
@plan_option
@click.pass_obj
def apply_reply(
    settings: Settings,
    reply_id: int,
    by: str,
    statuses: tuple[str, ...],
    dates: tuple[str, ...],
    narratives: tuple[str, ...],
    plan_code: str | None,
) -> None:
    """Apply a reply from the review queue as it was read (to --plan's plan, when it names
    none), or with what was read edited first (--status, --date, --narrative; repeatable). The
    original reading and who edited it are kept with the reply."""
    status, when, narrative = (
        _pairs("--status", statuses),
        _pairs("--date", dates),
        _pairs("--narrative", narratives),
    )
    edits = {
        ref: AnswerEdit(
            status=status.get(ref), forecast=when.get(ref), narrative=narrative.get(ref)
        )
        for ref in {**status, **when, **narrative}
    }
    _decide(settings, reply_id, apply=True, by=by, reason="", plan_code=plan_code, edits=edits)


@replies.command("reject")
@click.argument("reply_id", type=int)
@click.option("--by", required=True, metavar="NAME", help="Who decided (kept in the history).")
@click.option("--reason", default="", help="Why (kept with the reply).")
@plan_option
@click.pass_obj
def reject_reply(
    settings: Settings, reply_id: int, by: str, reason: str, plan_code: str | None
) -> None:
    """Reject a reply from the review queue: it changes nothing and stays on record."""
    _decide(settings, reply_id, apply=False, by=by, reason=reason, plan_code=plan_code)


def _decide(
    settings: Settings,
    reply_id: int,
    *,
    apply: bool,
    by: str,
    reason: str,
    plan_code: str | None,
    edits: dict[str, AnswerEdit] | None = None,
) -> None:
    engine = engine_from(settings)
    try:
        reply = decide(
            engine,
            reply_id,
            apply=apply,
            by=by,
            now=datetime.now(UTC),
            reason=reason,
            plan_code=plan_code,
            edits=edits,
        )
    except ReviewError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"reply {reply.id}: {reply.verdict} by {reply.decided_by}")
