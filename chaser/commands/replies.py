"""``chaser replies``: take in emailed replies, and the secretary's review queue."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlmodel import Session

from chaser.commands.common import engine_from, fail, plan_option
from chaser.settings import Settings
from workflows.replies.authentication import Receiver
from workflows.replies.intake import ingest_email
from workflows.replies.review import ReviewError, decide, pending_reviews
from workflows.store.models import ReplyVerdict


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
    """Replies waiting for the secretary to apply or reject, with the reason."""
    engine = engine_from(settings)
    with Session(engine) as session:
        waiting = [
            {
                "reply": r.id,
                "received_at": r.received_at.isoformat(),
                "sender": r.sender,
                "subject": str(r.parsed.get("subject", "")),
                "reason": r.reason,
                "text": str(r.parsed.get("body", ""))[:2000],
                "quarantined": r.verdict == ReplyVerdict.QUARANTINED,
            }
            for r in pending_reviews(session, plan_code)
        ]
    if as_json:
        click.echo(json.dumps(waiting, indent=2, ensure_ascii=False))
        return
    if not waiting:
        click.echo("nothing waiting for review")
    for w in waiting:
        what = "quarantined message" if w["quarantined"] else "reply"
        click.echo(f"{what} {w['reply']} from {w['sender'] or 'an unknown sender'}: {w['reason']}")
        click.echo(f"  {w['subject']}")
    quarantined = sum(1 for w in waiting if w["quarantined"])
    if quarantined:
        click.echo(
            f"{quarantined} of {len(waiting)} could not be read: reject them (`chaser replies "
            "reject ID`), entering any update by hand"
        )


@replies.command("apply")
@click.argument("reply_id", type=int)
@click.option("--by", required=True, metavar="NAME", help="Who decided (kept in the history).")
@plan_option
@click.pass_obj
def apply_reply(settings: Settings, reply_id: int, by: str, plan_code: str | None) -> None:
    """Apply a reply from the review queue as it was read (to --plan's plan, when it names
    none)."""
    _decide(settings, reply_id, apply=True, by=by, reason="", plan_code=plan_code)


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
        )
    except ReviewError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"reply {reply.id}: {reply.verdict} by {reply.decided_by}")
