"""``chaser demo``: the real service on its embedded defaults, on a simulated clock.

Everything is real except time and the leads: a SQLite store in a temporary folder, the shipped
Plymouth plan, people and governance calendar, the scheduler's ``tick``, the outbox and its
dispatcher sending by SMTP (to a built-in mail sink, browsable at ``/outbox``), the reply form,
the SMTP listener that takes in emailed replies, the digest, and the secretary's pages. The
clock runs a six-week board cycle (SIB 19 Aug 2025 to SIB 30 Sep 2025) in about two minutes;
simulated leads (:mod:`chaser.demo_leads`) answer through the form and by email.
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time as _time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import click
import structlog
from sqlmodel import Session, col, func, select

from chaser.demo_leads import GATEWAY, PERSONAS, Answer, SimulatedLeads
from chaser.importing import choose_mapping, import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import SAMPLES_DIR, SHIPPED_CONFIG_DIR, Settings
from chaser.wiring import build_runtime, inbound_listener, web_app
from integrations.mail.capture import MailCapture
from integrations.web import FormServer
from notifications.channel import KEY_HEADER
from workflows.access.links import create_link
from workflows.access.users import add_user
from workflows.calendar.cycles import LONDON
from workflows.calendar.meetings import meetings
from workflows.calendar.working_days import bank_holiday_name, is_working_day
from workflows.chasing.chases import plan_of_key
from workflows.chasing.config import Channels
from workflows.store.db import make_engine, upgrade
from workflows.store.models import (
    Channel,
    Delivery,
    Person,
    Reply,
    ReplyVerdict,
    Role,
    StatusChange,
)

log = structlog.get_logger(__name__)
HOST = "127.0.0.1"
#: The day after the Improvement Board of 19 August 2025, and the next one six weeks later.
FIRST_DAY, LAST_DAY = date(2025, 8, 20), date(2025, 9, 30)
#: Sign-in links and sessions last this many (simulated) days in the demo.
DEMO_SESSION_DAYS = 365
DEFAULT_SPEED = 21.0  # simulated days a minute: six weeks in two minutes
#: When the clock stops on a working day: every half hour through the send window and beyond.
WORKING_MOMENTS = tuple(time(h, m) for h in range(8, 19) for m in (0, 30))
QUIET_MOMENTS = (time(12, 0),)
_SUMMARY = re.compile(r"(\d+) actions? in scope, (\d+) updated this cycle.*?(\d+) flagged")


class SimulatedClock:
    """The demo's ``now``: moved on by the demo loop, and by the dispatcher when it paces."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def move_to(self, moment: datetime) -> None:
        """Never backwards: the dispatcher's pacing may have moved it on already."""
        with self._lock:
            self._now = max(self._now, moment.astimezone(UTC))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class DemoOptions:
    speed: float
    first_day: date
    last_day: date
    port: int | None
    folder: Path | None
    exit_at_end: bool


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _web_port(asked: int | None) -> int:
    """The port asked for; by default 8080, or any free port when 8080 is taken."""
    if asked == 0:
        return _free_port()
    port = asked or 8080
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            if asked is not None:
                raise click.ClickException(
                    f"port {port} is in use; choose another with --port, or --port 0 for any"
                ) from None
            return _free_port()
    return port


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


class Demo:
    """The wired demo: store, mail sink, reply listener, web app, runtime and simulated leads."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.folder = options.folder or Path(tempfile.mkdtemp(prefix="chaser-demo-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        start = datetime.combine(options.first_day, time(7, 0), tzinfo=LONDON)
        self.clock = SimulatedClock(start.astimezone(UTC))
        self.stop_requested = threading.Event()
        self.engine = make_engine(f"sqlite:///{self.folder / 'demo.db'}")
        upgrade(self.engine)
        self.port = _web_port(options.port)
        self.url = f"http://{HOST}:{self.port}"
        self.mail = MailCapture(self.folder / "mail", self.clock)
        self.sink = self.mail.listener(HOST, _free_port())
        inbound_port = _free_port()
        self.settings = Settings.from_env(
            {
                "CHASER_DATA_DIR": str(self.folder),
                "CHASER_SECRET_KEY": secrets.token_urlsafe(48),
                "CHASER_SMTP_HOST": HOST,  # the demo's mail sink
                "CHASER_SMTP_PORT": str(self.sink.port),
                "CHASER_SMTP_STARTTLS": "no",
                "CHASER_INBOUND_SMTP": f"{HOST}:{inbound_port}",
                # The simulated leads' mail comes through a simulated council gateway, whose
                # Authentication-Results Chaser believes (see chaser.demo_leads).
                "CHASER_INBOUND_AUTHSERV_IDS": GATEWAY,
                # The demo's clock runs six weeks in two minutes: sessions are measured on it,
                # so they must outlast it.
                "CHASER_SESSION_IDLE_MINUTES": str(DEMO_SESSION_DAYS * 24 * 60),
                "CHASER_SESSION_HOURS": str(DEMO_SESSION_DAYS * 24),
            },
            config_dir=SHIPPED_CONFIG_DIR,
        )
        self.runtime = self._runtime()
        listener = inbound_listener(self.settings, self.runtime)
        assert listener is not None
        self.inbound = listener
        self.web = FormServer(
            web_app(self.runtime, self.settings, bind_host=HOST, mailbox=self.mail),
            host=HOST,
            port=self.port,
        )
        self.leads = SimulatedLeads(
            self.engine,
            self.mail.since,
            plan_code=self.runtime.chasing.plan,
            reply_to=self.runtime.chasing.sender.mailbox,
            inbound=(HOST, inbound_port),
        )
        self.digests_seen: set[int] = set()

    def _runtime(self) -> Runtime:
        runtime = build_runtime(
            self.settings,
            self.engine,
            clock=self.clock,
            sleep=self.clock.advance,  # pacing waits pass on the simulated clock
        )
        # Links point at this demo's web app; everyone is chased by email (no Teams webhook).
        runtime.chasing = runtime.chasing.model_copy(
            update={"form_url": self.url, "channels": Channels()}
        )
        return runtime

    # -- setting up ------------------------------------------------------------------------------
    def load_sample(self) -> tuple[int, int]:
        samples = SAMPLES_DIR / "plymouth"
        now = self.clock()
        people = import_people(self.engine, samples / "plymouth_people.csv", now=now)
        mapping = choose_mapping(
            SHIPPED_CONFIG_DIR, SHIPPED_CONFIG_DIR / "mappings" / "plymouth.yaml"
        )
        outcome = import_plan(
            self.engine, samples / "plymouth_send_plan_2023.xlsx", mapping=mapping, now=now
        )
        if not outcome.ok:
            raise click.ClickException("; ".join(e.message for e in outcome.errors))
        self.load_measures_and_risks(now)
        return people.created, outcome.actions

    def load_measures_and_risks(self, now: datetime) -> None:
        """The sample scorecard (figures to July 2025) and risk register, as the secretary
        would import them; the simulated leads then give August's figures and review risks."""
        from chaser.measures_import import import_register, import_scorecard
        from workflows.measures.mapping import load_scorecard_mapping
        from workflows.risks.mapping import load_register_mapping

        folder = SAMPLES_DIR / "plymouth_measures"
        maps = SHIPPED_CONFIG_DIR / "mappings"
        for outcome in (
            import_scorecard(
                self.engine,
                folder / "plymouth_scorecard_2025.xlsx",
                mapping=load_scorecard_mapping(maps / "scorecards" / "plymouth.yaml"),
                now=now,
                given_by="Morwenna Tregear",
            ),
            import_register(
                self.engine,
                folder / "plymouth_risk_register_2025.xlsx",
                mapping=load_register_mapping(maps / "risks" / "plymouth.yaml"),
                now=now,
                given_by="Morwenna Tregear",
            ),
        ):
            if not outcome.ok:
                raise click.ClickException("; ".join(e.message for e in outcome.errors))

    def sign_in_link(self) -> str:
        """The board secretary's account (an admin), and a link that signs in whoever opens it:
        it is printed on this terminal, for the person at it, so it signs in on opening, once;
        it and the sessions outlast the demo's fast clock."""
        secretary = self.runtime.cycles(self.clock()).group("SIB").secretary
        assert secretary is not None and secretary.email
        now = self.clock()
        with Session(self.engine) as session:
            user, _ = add_user(
                session,
                secretary.email,
                role=Role.ADMIN,
                name=secretary.name,
                by="demo",
                now=now,
            )
            token = create_link(
                session, user, now=now, on_open=True, lifetime=timedelta(days=DEMO_SESSION_DAYS)
            )
            session.commit()
        self.viewer = secretary.name
        return f"{self.url}/signin/link/{token}"

    def start(self) -> None:
        self.sink.start()
        self.inbound.start()
        self.web.start()

    def stop(self) -> None:
        self.stop_requested.set()

    def close(self) -> None:
        """Stop everything; the temporary folder goes too, unless ``--keep`` named one."""
        self.runtime.get_dispatcher().stop()
        self.web.stop()
        self.inbound.stop()
        self.sink.stop()
        self.runtime.close()
        self.engine.dispose()
        if self.options.folder is None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def cast(self) -> list[str]:
        """Who the simulated leads are and how each answers, so the digest's flags make sense."""
        with Session(self.engine) as session:
            names = {p.code: p.name for p in session.exec(select(Person))}
        return [
            f"  {code:<3} {names.get(code, code)}: {persona.describe()}"
            for code, persona in sorted(PERSONAS.items())
        ]

    # -- the simulated days ------------------------------------------------------------------------
    def run(self) -> None:
        o = self.options
        day_seconds = 0.0 if o.speed <= 0 else 60.0 / o.speed
        for day in _days(o.first_day, o.last_day):
            moments = WORKING_MOMENTS if is_working_day(day) else QUIET_MOMENTS
            answers: list[Answer] = []
            day_ends = _time.monotonic() + day_seconds
            for i, moment in enumerate(moments):
                if self.stop_requested.is_set():
                    return
                self.clock.move_to(datetime.combine(day, moment, tzinfo=LONDON))
                tick(self.runtime, self.clock())
                answers += self.leads.act(self.clock())
                if day_seconds:  # spread what is left of the day's real time over its moments
                    left = day_ends - _time.monotonic()
                    self.stop_requested.wait(max(0.0, left) / (len(moments) - i))
            self.report(day, answers)
        self.clock.move_to(datetime.combine(o.last_day, time(18, 0), tzinfo=LONDON))

    # -- progress ------------------------------------------------------------------------------
    def report(self, day: date, answers: list[Answer]) -> None:
        start = datetime.combine(day, time(0, 0), tzinfo=LONDON).astimezone(UTC)
        end = start + timedelta(days=1)
        with Session(self.engine) as session:
            sent = Counter(
                session.exec(
                    select(Delivery.kind).where(
                        col(Delivery.sent_at) >= start, col(Delivery.sent_at) < end
                    )
                ).all()
            )
            updates = Counter(
                session.exec(
                    select(StatusChange.channel).where(
                        col(StatusChange.recorded_at) >= start,
                        col(StatusChange.recorded_at) < end,
                        StatusChange.channel != Channel.IMPORT,
                    )
                ).all()
            )
            review = session.exec(
                select(func.count()).select_from(Reply).where(Reply.verdict == ReplyVerdict.REVIEW)
            ).one()
        parts = [f"{day:%a %d %b %Y}"]
        parts.append(self._meeting_note(day))
        parts.append(
            "sent "
            + (", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(sent.items())) or "0")
        )
        parts.append(
            "updates " + (", ".join(f"{n} by {k}" for k, n in sorted(updates.items())) or "0")
        )
        parts.append(f"waiting for review {review}")
        click.echo("  ·  ".join(p for p in parts if p))
        for answer in answers:
            click.echo(f"    {answer.describe()}")
        for line in self._digest_lines():
            click.echo(f"    {line}")
        sys.stdout.flush()

    def _meeting_note(self, day: date) -> str:
        cycles = self.runtime.cycles(self.clock())
        holiday = bank_holiday_name(day)
        notes = [holiday] if holiday else []
        for m in meetings(cycles, day, day, groups=list(self.runtime.chasing.meetings)):
            notes.append(f"{m.group} meets")
        for m in meetings(
            cycles, day, day + timedelta(days=21), groups=list(self.runtime.chasing.meetings)
        ):
            if m.papers_deadline == day:
                notes.append(f"papers due for {m.group} {m.date:%d %b}")
        return ", ".join(notes)

    def _digest_lines(self) -> list[str]:
        lines = []
        for captured in self.mail.messages():
            if captured.number in self.digests_seen:
                continue
            message = captured.parsed()
            key = plan_of_key(str(message.get(KEY_HEADER, "")))[1]
            if not key.startswith("digest:"):
                continue
            self.digests_seen.add(captured.number)
            body = message.get_body(preferencelist=("plain",))
            summary = _SUMMARY.search(body.get_content() if body is not None else "")
            counts = (
                f"{summary.group(1)} actions, {summary.group(2)} updated, "
                f"{summary.group(3)} flagged"
                if summary
                else "see the message"
            )
            _, group, on = key.split(":", 2)
            lines.append(
                f"DIGEST for {group} {on} sent to {message['To']}: {counts}: "
                f"{self.url}/outbox/{captured.number}"
            )
        return lines
