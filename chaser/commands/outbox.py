"""``chaser outbox``: the messages Chaser gave up on, and sending them again after an outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from sqlmodel import Session, col, select

from chaser.commands.common import engine_from, fail
from chaser.dead_letters import KIND as NOTICE_KIND
from chaser.invitation_flags import KIND as MISSING_KIND
from chaser.settings import Settings
from notifications.channel import OutgoingMessage
from notifications.outbox import DeadLetter, dead_letters, requeue
from workflows.access.audit import record
from workflows.store.models import Delivery, DeliveryState, Plan


@click.group()
def outbox() -> None:
    """The outbox: list the messages that could not be sent, and send them again.

    ``list`` shows the dead letters (``--state`` any other state), ``show KEY|ID`` one message
    with its attempts and reason, ``retry`` sends dead letters again."""


#: What ``--state`` names, and which outbox states each covers. "failed" is a message that
#: failed at least once and waits for its next attempt.
STATES = ("pending", "failed", "sending", "sent", "dead", "all")


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
@click.option(
    "--state",
    type=click.Choice(STATES),
    default="dead",
    show_default=True,
    help="Which messages: dead (given up on), pending, failed (waiting to be tried again), "
    "sending, sent, or all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def outbox_list(
    settings: Settings,
    plan_code: str | None,
    reason: str | None,
    channel: str | None,
    keys: tuple[str, ...],
    state: str,
    as_json: bool,
) -> None:
    """The messages Chaser gave up on (dead letters), oldest first, each with why; or, with
    --state, those pending, failed once and waiting to be tried again, sending or sent."""
    if state != "dead":
        _list_rows(settings, plan_code, reason, channel, keys, state, as_json)
        return
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


def _state_of(row: Delivery) -> str:
    """The state as ``--state`` names it: a pending message that has failed before is failed."""
    if row.state == DeliveryState.PENDING and row.attempts > 0:
        return "failed"
    if row.state in (DeliveryState.SENDING, DeliveryState.SUBMITTING):
        return "sending"
    return str(row.state)


def _list_rows(
    settings: Settings,
    plan_code: str | None,
    reason: str | None,
    channel: str | None,
    keys: tuple[str, ...],
    state: str,
    as_json: bool,
) -> None:
    engine = engine_from(settings)
    with Session(engine) as session:
        plans = {p.id: p.code for p in session.exec(select(Plan)) if p.id is not None}
        query = select(Delivery)
        if plan_code is not None:
            plan_id = next((i for i, code in plans.items() if code == plan_code), None)
            if plan_id is None:
                fail(f"no plan {plan_code!r} in the store (plans: {', '.join(plans.values())})")
            query = query.where(Delivery.plan_id == plan_id)
        if channel:
            query = query.where(Delivery.channel == channel)
        if keys:
            query = query.where(col(Delivery.key).in_(keys))
        rows = [
            r
            for r in session.exec(query.order_by(col(Delivery.created_at), col(Delivery.id)))
            if (state == "all" or _state_of(r) == state)
            and (not reason or reason.lower() in r.last_error.lower())
        ]
    if as_json:
        click.echo(json.dumps([_row_json(r, plans) for r in rows], indent=2, ensure_ascii=False))
        return
    for r in rows:
        when = r.sent_at or r.updated_at
        line = f"{when:%Y-%m-%d %H:%M}  {_state_of(r):<7}  {r.channel:<5}  {r.key}"
        if r.attempts:
            line += f"\n    {r.attempts} attempt{'s' if r.attempts != 1 else ''}"
            if r.last_error:
                line += f": {' '.join(r.last_error.split())[:110]}"
        click.echo(line)
    click.echo(f"{len(rows)} message{'s' if len(rows) != 1 else ''} {state}.")


def _row_json(r: Delivery, plans: dict[int, str]) -> dict[str, Any]:
    return {
        "id": r.id,
        "key": r.key,
        "plan": plans.get(r.plan_id) if r.plan_id is not None else None,
        "kind": r.kind,
        "channel": r.channel,
        "state": _state_of(r),
        "lead": r.person_code,
        "to": r.recipient_code,
        "meeting": r.meeting_key,
        "attempts": r.attempts,
        "reason": r.last_error,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "next_attempt_at": r.not_before.isoformat() if r.state == DeliveryState.PENDING else None,
        "sent_at": r.sent_at.isoformat() if r.sent_at else None,
        "provider_id": r.provider_id or None,
    }


@outbox.command("show")
@click.argument("which", metavar="KEY|ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def outbox_show(settings: Settings, which: str, as_json: bool) -> None:
    """One message: its state, attempts and why it failed, who it is to, its subject and text."""
    engine = engine_from(settings)
    with Session(engine) as session:
        row = session.exec(select(Delivery).where(Delivery.key == which)).first()
        if row is None and which.isdigit():
            row = session.get(Delivery, int(which))
        if row is None:
            fail(
                f"no message with key or id {which!r} in the outbox; `chaser outbox list "
                "--state all` lists them with their keys"
            )
        plans = {p.id: p.code for p in session.exec(select(Plan)) if p.id is not None}
    message = OutgoingMessage.from_json(row.payload)
    data = _row_json(row, plans)
    data |= {
        "subject": message.subject,
        "to_addresses": [a.email for a in message.to],
        "cc_addresses": [a.email for a in message.cc],
        "attachments": [a.filename for a in message.attachments],
        "text": message.text,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for label, value in (
        ("key", data["key"]),
        ("id", data["id"]),
        ("plan", data["plan"] or "-"),
        ("kind", data["kind"]),
        ("channel", data["channel"]),
        ("state", data["state"]),
        ("attempts", data["attempts"]),
        ("reason", " ".join(row.last_error.split()) or "-"),
        ("queued", data["created_at"]),
        ("next attempt", data["next_attempt_at"] or "-"),
        ("sent", data["sent_at"] or "-"),
        ("lead", data["lead"] or "-"),
        ("to", ", ".join(data["to_addresses"]) or data["to"] or "-"),
        ("cc", ", ".join(data["cc_addresses"]) or "-"),
        ("meeting", data["meeting"] or "-"),
        ("subject", data["subject"]),
        ("attachments", ", ".join(data["attachments"]) or "-"),
    ):
        click.echo(f"{label + ':':<14}{value}")
    click.echo("")
    click.echo(message.text.rstrip())
    if row.state == DeliveryState.DEAD:
        click.echo("")
        click.echo(f'once the cause is fixed: chaser outbox retry --key {row.key} --by "YOUR NAME"')


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
    secretaries of dead letters or of advisers not invited are not sent again (unless named by
    --key)."""
    if not (everything or plan_code or reason or channel or keys):
        raise click.UsageError(
            "choose the messages to send again (--reason, --channel, --key, --plan) or say --all"
        )
    # An email telling the secretary of dead letters, or of advisers not invited, is out of
    # date once those messages go: left out, unless asked for by its key.
    left_out = () if keys else (NOTICE_KIND, MISSING_KIND)
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
