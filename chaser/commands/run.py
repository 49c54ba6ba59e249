"""``chaser run``: the service in one process, until stopped (Ctrl-C, SIGTERM).

A scheduler ticks every interval (chase, send through the outbox, take in replies); the web
app (reply form, ``/health``, the secretary's pages) and, when configured, the SMTP reply
listener run beside it. Stopping finishes the message in hand, then closes the channels.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from types import FrameType

import click
import structlog
from sqlalchemy.exc import InterfaceError, OperationalError

from chaser.commands.common import fail, runtime_from
from chaser.metrics import Metrics
from chaser.service import Heartbeat, tick
from chaser.settings import Settings, SettingsError
from chaser.wiring import form_server, inbound_listener
from integrations.web.access import is_loopback
from notifications.outbox import StoreUnavailable
from workflows.calendar.cycles import LONDON

log = structlog.get_logger(__name__)
#: How long ``chaser run`` waits, when stopped, for the tick in hand (one message's send).
SHUTDOWN_GRACE = 120.0
#: The share of each interval a tick may spend sending (the rest: chasing, replies, the pages'
#: flags), so a day with more to send than the mailbox's pace allows still ticks on time.
SEND_SHARE = 0.75


@click.command()
@click.option(
    "--interval", default=60, show_default=True, metavar="SECONDS", help="How often the tick runs."
)
@click.pass_obj
def run(settings: Settings, interval: int) -> None:
    """Run the service until stopped: a tick every minute, and the web app.

    Each tick chases what is due, sends it through the outbox and takes in replies; the web app
    serves the reply form, /health and the secretary's pages. Ctrl-C or SIGTERM stops it after
    the message in hand is sent.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    runtime = runtime_from(settings)
    metrics = runtime.metrics = Metrics(runtime.engine, runtime.clock)
    heartbeat = Heartbeat(interval)
    try:
        inbound = inbound_listener(settings, runtime)
        web = form_server(settings, runtime, liveness=heartbeat.problem)
    except SettingsError as exc:
        fail(str(exc))
    scheduler = BlockingScheduler(timezone=LONDON)

    send_for = timedelta(seconds=interval * SEND_SHARE)
    ticking = threading.Lock()  # held while a tick runs, so shutdown can wait for it
    stopping = threading.Event()

    def job() -> None:
        with ticking:
            if stopping.is_set():
                return
            started = time.monotonic()
            try:
                # it says which plans are not imported yet; the log counts what was due. It
                # sends for three quarters of an interval at most, then takes in the replies
                # and ends: a long day's messages go over several ticks, which keep finishing.
                tick(runtime, keep_planned=False, dispatch_for=send_for)
                heartbeat.beat()
            except (StoreUnavailable, OperationalError, InterfaceError) as exc:
                # the database is restarting or away: say so in one line; the next tick retries
                metrics.tick_failed(time.monotonic() - started)
                log.warning(
                    "store_unavailable",
                    error=type(exc).__name__,
                    hint="check the database is running; the service carries on when it is",
                )
            except Exception:  # one bad tick must not stop the service; the next one retries
                metrics.tick_failed(time.monotonic() - started)
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
    log.info("service_started", interval_seconds=interval, plans=list(runtime.plans))
    web.start()
    log.info("reply_form_listening", url=web.url)
    if settings.signin_configured:
        log.info("secretary_pages", url=f"{web.url}/plan", hint="signed-in users, from anywhere")
    elif is_loopback(web.server.config.host):
        log.info(
            "secretary_pages", url=f"{web.url}/plan", hint="open in a browser on this computer"
        )
    else:
        log.info(
            "secretary_pages_refused",
            reason="not bound to loopback, and sign-in is not configured (docs/secretary-pages.md)",
        )
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
        runtime.close()
        if idle:
            ticking.release()
    log.info("service_stopped")
    sys.exit(0)
