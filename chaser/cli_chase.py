"""``chaser chase`` (one tick by hand) and ``chaser run`` (the service)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import click
import structlog

from chaser.cli_plan import engine_from, fail
from chaser.service import Heartbeat, Planned, Runtime, plan_tick, tick
from chaser.settings import Settings
from chaser.wiring import WiringError, build_runtime, form_server, inbound_listener
from integrations.web.access import is_loopback
from workflows.calendar.cycles import LONDON, CyclesConfigError
from workflows.chasing.config import ChasingConfigError
from workflows.chasing.state import UnknownPlan
from workflows.digest.config import DigestConfigError

log = structlog.get_logger(__name__)
#: How long ``chaser run`` waits, when stopped, for the tick in hand (one message's send).
SHUTDOWN_GRACE = 120.0


def parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now {value!r} is not a date and time; write e.g. 2025-09-16T09:30")
    return parsed.replace(tzinfo=LONDON) if parsed.tzinfo is None else parsed


def runtime_from(settings: Settings) -> Runtime:
    engine = engine_from(settings)
    try:
        return build_runtime(settings, engine)
    except (ChasingConfigError, CyclesConfigError, DigestConfigError, WiringError) as exc:
        fail(str(exc))


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
@click.pass_obj
def chase(settings: Settings, now_text: str | None, dry_run: bool, as_json: bool) -> None:
    """Run one chasing tick by hand: enqueue what is due, then send it."""
    runtime = runtime_from(settings)
    now = parse_now(now_text)
    try:
        if dry_run:
            planned, enqueued, dispatch = plan_tick(runtime, now), 0, None
        else:
            report = tick(runtime, now)
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


@click.command()
@click.option(
    "--interval", default=60, show_default=True, metavar="SECONDS", help="How often the tick runs."
)
@click.pass_obj
def run(settings: Settings, interval: int) -> None:
    """Run the service: the reply form, and a tick every minute (chase, send, take in replies),
    until stopped (Ctrl-C, SIGTERM)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    runtime = runtime_from(settings)
    heartbeat = Heartbeat(interval)
    try:
        inbound = inbound_listener(os.environ, runtime)
        web = form_server(os.environ, runtime, liveness=heartbeat.problem)
    except WiringError as exc:
        fail(str(exc))
    scheduler = BlockingScheduler(timezone=LONDON)

    ticking = threading.Lock()  # held while a tick runs, so shutdown can wait for it
    stopping = threading.Event()

    def job() -> None:
        with ticking:
            if stopping.is_set():
                return
            try:
                tick(runtime)
                heartbeat.beat()
            except UnknownPlan:
                heartbeat.beat()  # the loop is alive; the store just has no plan yet
                log.warning(
                    "plan_not_imported",
                    plan=runtime.chasing.plan,
                    hint="chaser plan import FILE (the plan named in chasing.yaml)",
                )
            except Exception:  # one bad tick must not stop the service; the next one retries
                log.exception("tick_failed")

    scheduler.add_job(
        job,
        "interval",
        seconds=interval,
        next_run_time=datetime.now(LONDON),
        max_instances=1,
        coalesce=True,
        id="tick",
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signum)
        stopping.set()
        runtime.get_dispatcher().stop()  # finish the message in hand, claim no more
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("service_started", interval_seconds=interval, plan=runtime.chasing.plan)
    web.start()
    log.info("reply_form_listening", url=web.url)
    if is_loopback(web.server.config.host):
        log.info(
            "secretary_pages", url=f"{web.url}/plan", hint="open in a browser on this computer"
        )
    else:
        log.info("secretary_pages_refused", reason="not bound to loopback; sign-in is not set up")
    if inbound is not None:
        inbound.start()
    try:
        scheduler.start()
    finally:
        # The tick in hand finishes the message it is sending (the dispatcher claims no more)
        # before the channels close: nothing is half-sent.
        idle = ticking.acquire(timeout=SHUTDOWN_GRACE)
        if not idle:
            log.warning("stopping_mid_tick", grace_seconds=SHUTDOWN_GRACE)
        if inbound is not None:
            inbound.stop()
        web.stop()
        for channel in runtime.channels.values():
            channel.close()
        if idle:
            ticking.release()
    log.info("service_stopped")
    sys.exit(0)
