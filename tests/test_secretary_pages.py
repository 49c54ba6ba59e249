"""The board secretary's pages, after a scripted chase for the SIB meeting of 30 Sep 2025.

The Plymouth plan is imported in June; the requests go out on 16 Sep through a real SMTP sink;
Aisha (AP) saves 2.5 on the reply form, Freya (FO) answers "All on track" by email, a stranger's
reply and one in Aisha's name that fails authentication land in the review queue, Lowenna (LE)
replies after the papers deadline; the service sends its reminders, final reminders and
escalations (and, in the tests that ask for it, the digest).
The pages are read as a secretary would, value by value.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, event, func
from sqlmodel import Session, col, select

from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import link_for, tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from integrations.web import FormServer, create_app
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import CapturedMessage, SmtpSink, free_port
from tests.signin import COOKIE, SECRETARY_LABEL, TEST_SIGNIN, session_token, sign_in
from tests.store_snapshot import StoreSnapshot
from tests.test_replies import TRUSTED, gateway_stamp
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import Meeting, meetings
from workflows.digest.contents import Flag, Severity
from workflows.plan.mapping import load_mapping
from workflows.replies.intake import ingest_email
from workflows.store.models import Action, Area, Person, Plan, Reply, StatusChange
from workflows.views.flag_model import Computed, FlagRules

PLAN = "plymouth-send-2023"
SECRET = "p" * 40
BASE = "http://127.0.0.1:8080"
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
IMPORTED = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
REQUEST_DAY = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)  # 09:30 in London
MEETING = "SIB:2025-09-30"
#: When the secretary reads the pages: the digest went out that morning.
READING = datetime(2025, 9, 26, 11, 0, tzinfo=UTC)
AISHA = "Aisha Pendleford <aisha.pendleford@example.org>"
#: Aisha's words on the form, with everything a page must escape.
AP_WORDS = 'Panel <b>delayed</b> & "pilot" schools need until July.\n<script>alert(1)</script>'
OVERDUE = Flag("overdue", Severity.HIGH, "Overdue: due Mar 2024, not complete")


@dataclass
class World:
    engine: Engine
    clock: Clock
    runtime: Runtime
    client: TestClient
    form_link: str  # Aisha's reply-form link, path only
    stranger_reply: int  # "2.5: complete" from someone not in the directory
    spoofed_reply: int  # "2.2: Amber …" in Aisha's name, failing authentication

    def get(self, path: str, **kwargs: Any) -> str:
        response = self.client.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return str(response.text)


def send_digest(world: World) -> None:
    """The service's tick two working days before the meeting: it sends the digest."""
    world.clock.now = datetime(2025, 9, 26, 8, 30, tzinfo=UTC)
    tick(world.runtime, world.clock.now)
    world.clock.now = READING


def _overdue_44(session: Session, now: datetime, only: Collection[int] | None) -> Computed:
    action = session.exec(select(Action).where(Action.ref == "4.4")).one()
    assert action.id is not None
    if only is not None and action.id not in only:  # asked about other actions only
        return {}
    return {action.id: ("4.4", (OVERDUE,))}


#: The pages' flags: 4.4 overdue, whatever the day (the digest's own rules are tested elsewhere).
_flags = FlagRules(meeting_key=lambda now: "SIB:2025-09-30", compute=_overdue_44)


def _meetings(now: datetime) -> Sequence[Meeting]:
    today = now.date()
    return meetings(CYCLES, today - timedelta(days=30), today + timedelta(days=30), groups=["SIB"])


def _email_reply(
    request: EmailMessage,
    *,
    sender: str,
    body: str,
    when: datetime,
    message_id: str,
    auth: str = "pass",
    **extra: str,
) -> bytes:
    """A reply as a mail client writes one (Re: subject, threading headers, the request quoted),
    as the council's gateway hands it on: its Authentication-Results on top saying ``auth``."""
    reply = EmailMessage()
    reply["Authentication-Results"] = gateway_stamp(sender, auth)
    reply["From"] = sender
    reply["To"] = "Plymouth SEND Improvement Programme <send.improvement@example.org>"
    reply["Subject"] = f"Re: {request['Subject']}"
    reply["Date"] = format_datetime(when)
    reply["Message-ID"] = message_id
    reply["In-Reply-To"] = request["Message-ID"]
    reply["References"] = request["Message-ID"]
    for name, value in extra.items():
        reply[name.replace("_", "-")] = value
    original = request.get_body(preferencelist=("plain",))
    assert original is not None
    quoted = "\n".join(f"> {line}" for line in str(original.get_content()).splitlines())
    reply.set_content(f"{body}\n\nOn Tue, 16 Sep 2025, the programme wrote:\n{quoted}\n")
    return reply.as_bytes(policy=email.policy.SMTP)


def _request_to(sink: SmtpSink, address: str) -> EmailMessage:
    return next(
        m.message
        for m in sink.messages
        if address in m.rcpt_tos and m.message["X-Chaser-Key"].startswith(f"{PLAN}/request:")
    )


def _app(world_engine: Engine, clock: Clock, **kwargs: Any) -> Any:
    return create_app(
        engine=world_engine,
        secret=SECRET.encode(),
        clock=clock,
        form_url=BASE,
        plan_code=PLAN,
        flags=_flags,
        meetings=_meetings,
        signin=TEST_SIGNIN,
        **kwargs,
    )


@dataclass
class _Chased:
    """What the scripted chase left, for the module's later tests on the same backend."""

    store: StoreSnapshot
    messages: list[CapturedMessage]  # what the sink received
    token: str  # the secretary's session
    form_link: str
    stranger_reply: int
    spoofed_reply: int


@pytest.fixture(scope="module")
def chased(pg_schema_engine: Engine | None) -> Iterator[dict[str, _Chased]]:
    """The scripted chase, run by the module's first test on each backend and copied into each
    later test's store (it took two seconds a test, most of the module's time)."""
    done: dict[str, _Chased] = {}
    yield done
    for each in done.values():
        each.store.drop(pg_schema_engine)


@pytest.fixture
def world(
    engine: Engine, tmp_path: Path, sink: SmtpSink, chased: dict[str, _Chased]
) -> Iterator[World]:
    ready = chased.get(engine.dialect.name)
    if ready is None:
        import_people(engine, PEOPLE_CSV, now=IMPORTED)
        import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=IMPORTED)
    else:
        ready.store.restore(engine)
        sink.messages.extend(ready.messages)
    clock = Clock(REQUEST_DAY if ready is None else READING)
    runtime = build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": SECRET, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        engine,
        channels={
            "email": SmtpChannel(
                sink.host, sink.port, sender_address="send.improvement@example.org", starttls=False
            )
        },
        clock=clock,
        sleep=clock.advance,
    )
    with TestClient(_app(engine, clock), base_url=BASE) as client:
        if ready is None:
            token = sign_in(client, engine)  # the board secretary, who works the pages
            ready = _chase(engine, runtime, clock, client, sink, token)
            chased[engine.dialect.name] = ready
        else:
            client.cookies.set(COOKIE, ready.token)
        yield World(
            engine,
            clock,
            runtime,
            client,
            ready.form_link,
            stranger_reply=ready.stranger_reply,
            spoofed_reply=ready.spoofed_reply,
        )


def _chase(
    engine: Engine, runtime: Runtime, clock: Clock, client: TestClient, sink: SmtpSink, token: str
) -> _Chased:
    """The chase the module's pages show, from the requests of 16 Sep to the escalations."""
    report = tick(runtime, clock.now)
    planned = next(
        p for p in report.planned if p.delivery.message.key == f"{PLAN}/request:AP:{MEETING}"
    )
    form_link = "/r/" + link_for(runtime, planned.chase).rsplit("/r/", 1)[1]
    # Aisha saves 2.5 on the reply form that afternoon.
    clock.now = datetime(2025, 9, 16, 13, 15, tzinfo=UTC)
    page = client.get(form_link)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert csrf is not None
    saved = client.post(
        f"{form_link}/actions/2.5",
        data={
            "csrf_token": csrf.group(1),
            "intent": "save",
            "status": "Red",
            "narrative": AP_WORDS,
            "forecast-month": "7",
            "forecast-year": "2026",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    # Freya answers every action of her request by email.
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    freya = _email_reply(
        _request_to(sink, "freya.odgers@example.nhs.uk"),
        sender="Freya Odgers <freya.odgers@example.nhs.uk>",
        body="All on track.",
        when=when,
        message_id="<fo-1@mail.example.nhs.uk>",
    )
    assert ingest_email(engine, freya, now=when, receiver=TRUSTED).verdict == "applied"
    # Two replies Chaser cannot trust: a stranger, and Aisha's name failing authentication.
    aisha_request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 10, 0, tzinfo=UTC)
    stranger = ingest_email(
        engine,
        _email_reply(
            aisha_request,
            sender="Someone <someone@elsewhere.example>",
            body="2.5: complete",
            when=when,
            message_id="<x-1@elsewhere.example>",
        ),
        now=when,
        receiver=TRUSTED,
    )
    when = datetime(2025, 9, 17, 11, 0, tzinfo=UTC)
    spoofed = ingest_email(
        engine,
        _email_reply(
            aisha_request,
            sender=AISHA,
            body="2.2: Amber - panel dates booked",
            when=when,
            message_id="<ap-2@mail.example.org>",
            auth="spf=fail smtp.mailfrom=attacker.example; dkim=none; "
            "dmarc=fail header.from=example.org",
        ),
        now=when,
        receiver=TRUSTED,
    )
    assert (stranger.verdict, spoofed.verdict) == ("review", "review")
    # The ladder: reminders on the 19th, final reminders on the 23rd (the papers deadline).
    for day in (19, 23):
        clock.now = datetime(2025, 9, day, 8, 30, tzinfo=UTC)
        tick(runtime, clock.now)
    # Lowenna replies the morning after the deadline: late.
    when = datetime(2025, 9, 24, 7, 45, tzinfo=UTC)
    lowenna = _email_reply(
        _request_to(sink, "lowenna.eastcott@example.org"),
        sender="Lowenna Eastcott <lowenna.eastcott@example.org>",
        body="5.3: Amber - recruitment started\n5.4: Amber - pilot running",
        when=when,
        message_id="<le-1@mail.example.org>",
    )
    outcome = ingest_email(engine, lowenna, now=when, receiver=TRUSTED)
    assert (outcome.verdict, outcome.late) == ("applied", True)
    # Escalations on the 24th (the digest, on the 26th, is sent by ``send_digest``).
    clock.now = datetime(2025, 9, 24, 8, 30, tzinfo=UTC)
    tick(runtime, clock.now)
    clock.now = READING
    return _Chased(
        StoreSnapshot.take(engine),
        list(sink.messages),
        token,
        form_link,
        stranger_reply=stranger.reply_id,
        spoofed_reply=spoofed.reply_id,
    )


# -- reading pages the way a secretary does -----------------------------------------------------


@dataclass
class Table:
    caption: str
    head: list[str]
    rows: list[list[str]]  # each cell's text, whitespace collapsed
    tags: list[list[tuple[str, str]]]  # per row: (GOV.UK tag classes, text) of each tag

    def row(self, first: str) -> list[str]:
        """The row whose first cell starts with ``first``."""
        return next(r for r in self.rows if r[0] == first or r[0].startswith(first + " "))

    def tags_of(self, first: str) -> list[tuple[str, str]]:
        index = next(
            i for i, r in enumerate(self.rows) if r[0] == first or r[0].startswith(first + " ")
        )
        return self.tags[index]

    def first_cells(self) -> list[str]:
        return [r[0].split(" ", 1)[0] for r in self.rows]


class _Page(HTMLParser):
    """The page's tables (caption, header, body rows and tags), headings and main text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.headings: list[tuple[str, str]] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._heading: tuple[str, list[str]] | None = None
        self._tag: tuple[str, list[str]] | None = None
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag == "table":
            self.tables.append(Table("", [], [], []))
        elif tag == "caption":
            self._caption = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self.tables and not self._in_head:
            self.tables[-1].rows.append([])
            self.tables[-1].tags.append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = (tag, [])
        elif tag == "strong" and "govuk-tag" in classes:
            self._tag = (classes, [])
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._caption is not None:
            self.tables[-1].caption = _text(self._caption)
            self._caption = None
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            table = self.tables[-1]
            (table.head if self._in_head else table.rows[-1]).append(_text(self._cell))
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append((self._heading[0], _text(self._heading[1])))
            self._heading = None
        elif tag == "strong" and self._tag is not None:
            if self.tables and self.tables[-1].tags and self._cell is not None:
                self.tables[-1].tags[-1].append((self._tag[0], _text(self._tag[1])))
            self._tag = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._caption, self._heading[1] if self._heading else None):
            if sink is not None:
                sink.append(data)
        if self._tag is not None:
            self._tag[1].append(data)

    def table(self, caption: str) -> Table:
        return next(t for t in self.tables if t.caption.startswith(caption))

    def h2s(self) -> list[str]:
        return [text for level, text in self.headings if level == "h2"]


def _text(parts: list[str]) -> str:
    return " ".join("".join(parts).split())


def page(html: str) -> _Page:
    return _Page(html)


def _status_of(engine: Engine, ref: str) -> tuple[str | None, str]:
    with Session(engine) as s:
        action = s.exec(select(Action).where(Action.ref == ref)).one()
        return action.status, action.status_label


def _counts(engine: Engine) -> tuple[int, list[tuple[int | None, str, str, str]], list[Any]]:
    """Everything a review decision could change."""
    with Session(engine) as s:
        changes = s.exec(select(func.count()).select_from(StatusChange)).one()
        replies = [
            (r.id, r.verdict, r.decided_by, r.reason)
            for r in s.exec(select(Reply).order_by(col(Reply.id)))
        ]
        actions = [
            (a.ref, a.status, a.status_label, a.updated_at)
            for a in s.exec(select(Action).order_by(col(Action.id)))
        ]
    return changes, replies, actions


def _refs_in_area(engine: Engine, number: int) -> list[str]:
    with Session(engine) as s:
        area = s.exec(select(Area).where(Area.number == number)).one()
        return [
            a.ref
            for a in s.exec(
                select(Action).where(Action.area_id == area.id).order_by(col(Action.position))
            )
        ]


# -- /plan ---------------------------------------------------------------------------------------


def test_the_dashboard_groups_actions_by_area_with_each_status_and_latest_words(
    world: World,
) -> None:
    html = world.get("/plan")
    shown = page(html)
    second = page(world.get("/plan?page=2"))  # 50 actions a page
    assert html.count("<h1") == 1
    assert list(dict.fromkeys(shown.h2s()[1:] + second.h2s()[1:])) == [
        *(f"Priority action area {n}" for n in range(1, 6)),
        *(f"Improvement area {n}" for n in range(6, 10)),
    ]
    assert "Showing 76 of 76 actions" in html
    assert "Page 1 of 2: actions 1 to 50." in html
    # an area split between the pages says so on each
    flat = " ".join(world.get("/plan?page=2").split())
    assert "Page 2 of 2: actions 51 to 76." in flat
    assert "Rosalind Hext, Ansel Gwillam, Morwenna Maddock. 12 actions. 3 on this page." in flat

    counts = shown.table("Actions by status")
    assert counts.rows == [
        ["Blue", "Complete and embedded", "0"],
        ["Green", "Complete", "1 Green actions"],
        ["Amber", "Progressing to timescale", "6 Amber actions"],
        ["Red", "Little or no progress/delayed", "1 Red actions"],
        ["Not reported", "", "68 Not reported actions"],
    ]
    # the plan's own colours, as GOV.UK tags (Blue is GOV.UK's default tag)
    assert [t for row in counts.tags for t in row] == [
        ("govuk-tag", "Blue"),
        ("govuk-tag govuk-tag--green", "Green"),
        ("govuk-tag govuk-tag--yellow", "Amber"),
        ("govuk-tag govuk-tag--red", "Red"),
        ("govuk-tag govuk-tag--grey", "Not reported"),
    ]

    area2 = shown.table("Actions in priority action area 2")
    assert area2.head == [
        "Action",
        "Lead",
        "Status",
        "Due",
        "Last update",
        "Latest narrative",
        "Flags",
    ]
    assert area2.first_cells() == _refs_in_area(world.engine, 2)
    ap = area2.row("2.5")
    assert ap[1:] == [
        "Aisha Pendleford",
        "Red",
        "Apr 2024 Forecast: Jul 2026",
        "16 Sep 2025",
        " ".join(AP_WORDS.split()),  # short enough to show whole
        "",
    ]
    assert area2.tags_of("2.5") == [("govuk-tag govuk-tag--red", "Red")]
    assert area2.row("2.2")[2:5] == ["Not reported", "Jun 2024", "None yet"]
    assert '<a class="govuk-link govuk-!-font-weight-bold" href="/actions/2.5">2.5</a>' in html

    area7 = second.table("Actions in improvement area 7")
    freya = area7.row("7.12")
    assert freya[1:5] == ["Freya Odgers", "Amber", "Jan 2024", "17 Sep 2025"]
    assert freya[5] == "All on track."
    assert area7.row("7.5")[2] == "Green"  # as imported
    assert area7.row("P7-01")[0].startswith("P7-01 ")  # a generated ref
    assert shown.table("Actions in priority action area 4").row("4.4")[6] == OVERDUE.reason
    area5 = shown.table("Actions in priority action area 5")
    assert area5.row("5.4")[2:5] == ["Amber", "Dec 2023", "24 Sep 2025"]


def test_a_long_narrative_shows_its_first_150_characters(world: World) -> None:
    words = "The assessment panel met again and agreed the new criteria " * 5
    with Session(world.engine) as s:
        action = s.exec(select(Action).where(Action.ref == "1.1")).one()
        action.progress = words
        s.add(action)
        s.commit()
    cell = page(world.get("/plan")).table("Actions in priority action area 1").row("1.1")[5]
    assert cell.endswith("…") and len(cell) <= 151
    assert words.startswith(cell[:-1])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=Red", ["2.5"]),
        ("status=Amber", ["5.3", "5.4", "7.9", "7.11", "7.12", "7.13"]),
        ("status=Green", ["7.5"]),
        ("lead=FO", ["7.9", "7.11", "7.12", "7.13"]),
        ("lead=LE", ["5.3", "5.4"]),
        ("flagged=yes", ["4.4"]),
        ("q=2.5", ["2.5"]),
        ("q=WAITING+list", ["P7-01", "7.2", "7.3", "7.7", "7.9", "7.11"]),
        ("q=uhp++waiting", ["7.9", "7.11", "7.13"]),  # every word, anywhere in the title
        ("area=7&status=Amber", ["7.9", "7.11", "7.12", "7.13"]),
        ("area=5&lead=FO", []),
    ],
)
def test_each_filter_narrows_the_actions_and_keeps_them_by_area(
    world: World, query: str, expected: list[str]
) -> None:
    html = world.get(f"/plan?{query}")
    shown = page(html)
    refs = [
        ref for t in shown.tables if t.caption.startswith("Actions in") for ref in t.first_cells()
    ]
    assert refs == expected
    assert f"Showing {len(expected)} of 76 actions" in html
    with Session(world.engine) as s:
        areas = {a.id: a.number for a in s.exec(select(Area))}
        by_ref = {a.ref: areas[a.area_id] for a in s.exec(select(Action)) if a.area_id}
    for table in shown.tables[1:]:  # every shown action sits under its own area
        number = int(table.caption.rsplit(" ", 1)[1])
        assert {by_ref[r] for r in table.first_cells()} == {number}
    if not expected:
        assert "No actions match" in html
    assert 'href="/plan">Clear filters</a>' in html


def test_the_area_filter_shows_only_that_area(world: World) -> None:
    shown = page(world.get("/plan?area=7"))
    assert shown.h2s()[1:] == ["Improvement area 7"]
    assert shown.table("Actions in improvement area 7").first_cells() == _refs_in_area(
        world.engine, 7
    )
    html = world.get("/plan?area=7")
    assert "Showing 15 of 76 actions" in html and "15 of 15 actions shown" in html
    assert '<option value="7" selected>' in html  # the form remembers the filter
    # an unreadable filter is ignored, not an error
    assert "Showing 76 of 76 actions" in world.get("/plan?area=seven&status=&lead=")


def test_withdrawn_actions_are_hidden_unless_asked_for(world: World) -> None:
    with Session(world.engine) as s:
        action = s.exec(select(Action).where(Action.ref == "3.7")).one()
        action.withdrawn = True
        s.add(action)
        s.commit()
    html = world.get("/plan")
    assert "Showing 75 of 75 actions" in html
    assert "3.7" not in page(html).table("Actions in priority action area 3").first_cells()
    assert "1 action withdrawn from the plan is not counted" in html
    html = world.get("/plan?withdrawn=yes")
    table = page(html).table("Actions in priority action area 3")
    assert "3.7" in table.first_cells()
    assert ("govuk-tag govuk-tag--grey govuk-!-margin-top-1", "Withdrawn") in table.tags_of("3.7")
    assert "Showing 76 of 76 actions" in html


def test_html_in_narratives_is_escaped_on_every_page(world: World) -> None:
    for path in ("/plan", "/plan?q=2.5", "/actions/2.5"):
        html = world.get(path)
        assert "<script>alert(1)</script>" not in html and "<b>delayed</b>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "Panel &lt;b&gt;delayed&lt;/b&gt; &amp; &#34;pilot&#34;" in html
        assert "<script" not in html


_SIGNIN_TABLES = ("web_session", "user_account", "user_role")


def _queries(world: World, path: str, *, signin: bool = False) -> list[str]:
    """The statements a page runs: the page's own, or (``signin``) those of the sign-in check
    every page makes first."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(world.engine, "before_cursor_execute", count)
    try:
        world.get(path)
    finally:
        event.remove(world.engine, "before_cursor_execute", count)
    mine = [s for s in statements if any(f"FROM {n}" in s for n in _SIGNIN_TABLES)]
    return mine if signin else [s for s in statements if s not in mine]


def test_the_pages_read_the_store_in_a_few_queries_however_big_the_plan(world: World) -> None:
    pages = (
        "/plan",
        "/plan?status=Amber",
        "/plan?page=2",
        "/actions/2.5",
        "/meetings",
        f"/meetings/{MEETING}",
        "/review",
    )
    world.get("/plan")  # the first page fills the kept flags; the others read them
    before = {path: len(_queries(world, path)) for path in pages}
    assert len(_queries(world, "/plan", signin=True)) == 3  # the session, its user, their roles
    # the plan, its areas, the kept flags (whether a change came since, and the page's flags),
    # the counts (one GROUP BY), the page's rows with their last updates, the leads, the areas'
    # officers, the outbox's counts; a filter adds the count of its matches and by area
    assert before["/plan"] <= 10, _queries(world, "/plan")
    assert before["/plan?status=Amber"] <= 12 and before["/plan?page=2"] <= 10
    assert before["/actions/2.5"] <= 17, _queries(world, "/actions/2.5")
    # a meeting's view, computed (the plan and its stamp, then 7 queries) or kept (the stamp)
    assert before["/meetings"] <= 10 and before[f"/meetings/{MEETING}"] <= 10
    assert before["/review"] <= 9
    # twice the actions, each with a lead and an update: the same queries (no N+1)
    with Session(world.engine) as s:
        person = s.exec(select(Person).where(Person.code == "FO")).one()
        for action in list(s.exec(select(Action))):
            copy = Action.model_validate(action.model_dump(exclude={"id"}))
            copy.ref, copy.position = f"{action.ref}b", action.position + 1000
            copy.accountable_id = person.id
            s.add(copy)
            s.flush()
            assert copy.id is not None
            s.add(
                StatusChange(
                    action_id=copy.id,
                    recorded_at=READING - timedelta(days=1),
                    person_id=person.id,
                    channel="email",
                    kind="update",
                    status_after="on_track",
                    status_label_after="Amber",
                    narrative="Copied.",
                )
            )
        s.commit()
    assert "Showing 152 of 152 actions" in world.get("/plan")
    assert {path: len(_queries(world, path)) for path in pages} == before


# -- /actions/{ref} ------------------------------------------------------------------------------


def test_an_actions_page_shows_its_details_and_its_history_newest_first(world: World) -> None:
    html = world.get("/actions/2.5")
    shown = page(html)
    assert [text for level, text in shown.headings if level == "h1"] == ["Action 2.5"]
    details = _summary(html, "Details")
    assert details["Area"].startswith("Priority action area 2: Leaders, including")
    assert details["Lead"] == "Aisha Pendleford (AP)"
    assert details["Contributors"] == (
        "Marcus Abernethy (MA), Morwenna Maddock (MM), Hester Pengelly (HP)"
    )
    assert details["Senior responsible officer"] == "Ansel Gwillam"
    assert (details["Start"], details["Due (baseline)"], details["Forecast"]) == (
        "Sep 2023",
        "Apr 2024",
        "Jul 2026",
    )
    assert details["Status"] == "Red Little or no progress/delayed"
    assert details["Progress (latest narrative)"] == " ".join(AP_WORDS.split())
    assert shown.table("Milestones of action 2.5").rows == [
        ["Milestone 1", "Jan 2024", "Apr 2024", "Same as due", "No"],
        ["Milestone 2", "Sep 2023", "Dec 2023", "Same as due", "No"],
        ["Milestone 3", "Sep 2023", "Dec 2023", "Same as due", "No"],
    ]

    cards = _history(html)
    assert [c["title"] for c in cards] == [
        "Tue 16 Sep 2025, 14:15: Update",  # London time
        "Mon 2 Jun 2025, 09:00: Added to the plan",
    ]
    newest = cards[0]
    assert newest["Who"] == "Aisha Pendleford"
    assert newest["How"] == "Reply form"
    assert newest["Status"] == "Not reported → Red"
    assert newest["Forecast"] == "Apr 2024 → Jul 2026"
    assert newest["Narrative"] == " ".join(AP_WORDS.split())
    assert "Late" not in newest
    assert cards[1]["How"] == "Plan import" and cards[1]["Who"] == "No one recorded"

    replies = shown.table("Replies about action 2.5")
    assert [r[0] for r in replies.rows] == [f"Reply {world.stranger_reply}", "Reply 1"]
    assert replies.row(f"Reply {world.stranger_reply}")[2:4] == [
        "someone@elsewhere.example",
        "Waiting for review",
    ]
    assert f'href="/review#reply-{world.stranger_reply}"' in html  # still pending: linked

    sent = shown.table("Messages that asked about action 2.5")
    assert sent.rows[-1] == [
        "Update request (email)",
        "SIB meeting on 30 September 2025",
        "Aisha Pendleford",
        "Tue 16 Sep 2025, 09:30",
        "Sent",
    ]
    kinds = [r[0] for r in sent.rows]
    assert kinds[-3:] == ["Final reminder (email)", "Reminder (email)", "Update request (email)"]
    assert "Escalation (email)" not in kinds  # updated before the escalations went out
    # 2.2 was never updated: it was in the escalation to the area's officer
    escalated = page(world.get("/actions/2.2")).table("Messages that asked about action 2.2")
    assert escalated.rows[0] == [
        "Escalation (email)",
        "SIB meeting on 30 September 2025",
        "Ansel Gwillam (about Aisha Pendleford’s actions)",
        "Wed 24 Sep 2025, 09:30",
        "Sent",
    ]
    assert f'href="/meetings/{MEETING}"' in html


def test_it_lists_the_requests_to_a_lead_the_action_had_before(
    world: World, tmp_path: Path
) -> None:
    # Aisha never updated 2.2; the workbook imported after the chase names Tamsin as its lead.
    workbook = load_workbook(PLAN_XLSX)
    sheet = workbook["Action Plan"]
    row = next(r for r in range(3, sheet.max_row + 1) if sheet[f"E{r}"].value == "2.2")
    sheet[f"G{row}"] = "Head of Skills and Post 16 (TB)"
    changed = tmp_path / "plan-after-the-chase.xlsx"
    workbook.save(changed)
    outcome = import_plan(
        world.engine, changed, mapping=load_mapping(MAPPING), now=READING - timedelta(hours=1)
    )
    assert outcome.ok, outcome.errors

    html = world.get("/actions/2.2")
    assert _summary(html, "Details")["Lead"] == "Tamsin Bolitho (TB)"
    sent = page(html).table("Messages that asked about action 2.2")
    asked = [(r[0], r[2]) for r in sent.rows]
    assert ("Update request (email)", "Aisha Pendleford") in asked
    assert ("Final reminder (email)", "Aisha Pendleford") in asked
    # the escalation to Ansel, the area's officer, was about Aisha's actions, as it said then
    assert asked[0] == ("Escalation (email)", "Ansel Gwillam (about Aisha Pendleford’s actions)")
    # and only the messages that asked about 2.2: none of Aisha's others is listed twice
    assert len(asked) == len(set(asked))


def test_a_late_update_is_marked_late_in_the_history(world: World) -> None:
    html = world.get("/actions/5.4")
    newest = _history(html)[0]
    assert newest["title"] == "Wed 24 Sep 2025, 08:45: Update"
    assert newest["Who"] == "Lowenna Eastcott"
    assert newest["How"] == "Email"
    assert newest["Status"] == "Not reported → Amber"
    assert newest["Late"] == "Late After the papers deadline"
    assert newest["Reply"].startswith("Reply ")
    assert "pilot running" in newest["Narrative"]


def test_an_unknown_action_gets_a_404_page(world: World) -> None:
    for path in ("/actions/99.9", "/actions/%3Cb%3E", "/actions/2.5%2Fx"):
        response = world.client.get(path)
        assert response.status_code == 404
        assert "Action not found" in response.text
        assert "<b>" not in response.text


def test_a_ref_with_a_slash_has_its_own_page(world: World) -> None:
    with Session(world.engine) as s:
        action = s.exec(select(Action).where(Action.ref == "P7-01")).one()
        action.ref = "P7/01"
        s.add(action)
        s.commit()
    html = world.get("/plan?area=7")
    assert 'href="/actions/P7%2F01"' in html
    assert "Action P7/01" in world.get("/actions/P7%2F01")


# -- /meetings -----------------------------------------------------------------------------------


def test_the_meetings_page_shows_each_meetings_chase(world: World) -> None:
    before = page(world.get("/meetings")).table("Chased meetings").rows[0]
    assert before[6] == "Not sent"
    send_digest(world)
    html = world.get("/meetings")
    table = page(html).table("Chased meetings")
    assert table.rows == [
        [
            "SIB meeting on 30 September 2025 Local Area SEND Improvement Board",
            "23 Sep 2025",
            "13",
            "2",
            "11",
            "12 reminders, 12 final reminders, 7 escalations; 3 not delivered",
            "Sent Fri 26 Sep 2025, 09:30",
        ]
    ]
    assert f'href="/meetings/{MEETING}"' in html


def test_a_meeting_nobody_was_chased_for_is_past_or_still_to_come(world: World) -> None:
    def around(now: datetime) -> Sequence[Meeting]:
        return meetings(CYCLES, date(2025, 8, 1), date(2025, 11, 30), groups=["SIB"])

    app = create_app(
        engine=world.engine,
        secret=SECRET.encode(),
        clock=world.clock,
        form_url=BASE,
        plan_code=PLAN,
        meetings=around,
        signin=TEST_SIGNIN,
    )
    with TestClient(app, base_url=BASE) as client:
        sign_in(client, world.engine)
        rows = page(client.get("/meetings").text).table("Chased meetings").rows
    chasers = {r[0].split(" Local Area")[0]: r[5] for r in rows}
    assert chasers["SIB meeting on 19 August 2025"] == "Not chased"  # before Chaser started
    assert chasers["SIB meeting on 11 November 2025"] == "Not chased yet"


def test_without_a_calendar_the_meetings_come_from_the_outbox(world: World) -> None:
    app = create_app(
        engine=world.engine,
        secret=SECRET.encode(),
        clock=world.clock,
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )
    with TestClient(app, base_url=BASE) as client:
        sign_in(client, world.engine)
        html = client.get("/meetings").text
    rows = page(html).table("Chased meetings").rows
    assert [r[0] for r in rows] == ["SIB meeting on 30 September 2025"]
    assert rows[0][1:5] == ["23 Sep 2025", "13", "2", "11"]


def test_a_meetings_page_shows_who_was_asked_who_updated_and_who_is_outstanding(
    world: World,
) -> None:
    send_digest(world)
    html = world.get(f"/meetings/{MEETING}")
    summary = _summary(html, None)
    assert summary["Meeting date"] == "30 Sep 2025"
    assert summary["Papers deadline"] == "23 Sep 2025"
    assert (summary["Leads asked"], summary["Leads who have updated every action"]) == ("13", "2")
    assert summary["Outstanding"].split(", ")[:3] == [
        "Aisha Pendleford",
        "Ansel Gwillam",
        "Delia Harrowgate",
    ]
    assert "Freya Odgers" not in summary["Outstanding"]
    assert summary["Digest"] == "Sent Fri 26 Sep 2025, 09:30"

    leads = page(html).table("Each lead asked")
    assert len(leads.rows) == 13
    freya = leads.row("Freya Odgers")
    assert freya[0] == "Freya Odgers Updated"
    assert freya[1] == "Tue 16 Sep 2025, 09:30"
    assert freya[2] == (
        "4 of 4 updated 7.9: updated Wed 17 Sep 2025, 10:00 7.11: updated Wed 17 Sep 2025, "
        "10:00 7.12: updated Wed 17 Sep 2025, 10:00 7.13: updated Wed 17 Sep 2025, 10:00"
    )
    assert freya[3:] == ["None", "None"]  # not reminded: she had answered
    assert leads.tags_of("Freya Odgers") == [
        ("govuk-tag govuk-tag--green govuk-!-margin-top-1", "Updated")
    ]

    lowenna = leads.row("Lowenna Eastcott")
    assert lowenna[0] == "Lowenna Eastcott Updated"
    assert "5.3: updated Wed 24 Sep 2025, 08:45, late" in lowenna[2]
    assert lowenna[3] == (
        "Reminder: sent Fri 19 Sep 2025, 09:30 Final reminder: sent Tue 23 Sep 2025, 09:30"
    )

    aisha = leads.row("Aisha Pendleford")
    assert aisha[0] == "Aisha Pendleford Outstanding"
    assert aisha[2].startswith("1 of 11 updated 2.2: not updated 2.5: updated Tue 16 Sep 2025")
    assert aisha[3].startswith(
        "Reminder: sent Fri 19 Sep 2025, 09:30 Final reminder: sent Tue 23 Sep 2025, 09:30 "
        "Escalation to Ansel Gwillam: sent Wed 24 Sep 2025"
    )

    hester = leads.row("Hester Pengelly")
    assert hester[4] == (
        "Update request to Hester Pengelly (teams): no 'teams' channel is configured; see "
        "docs/chasing.md Reminder to Hester Pengelly (teams): no 'teams' channel is configured; "
        "see docs/chasing.md Final reminder to Hester Pengelly (teams): no 'teams' channel is "
        "configured; see docs/chasing.md"
    )


def test_a_meetings_page_is_kept_until_a_reply_or_a_message_changes_it(
    world: World, sink: SmtpSink
) -> None:
    path = f"/meetings/{MEETING}"
    aisha = page(world.get(path)).table("Each lead asked").row("Aisha Pendleford")
    assert aisha[2].startswith("1 of 11 updated 2.2: not updated")
    again = _queries(world, path)
    assert not [q for q in again if "FROM status_change" in q], "read again, though unchanged"
    # Aisha answers 2.2 by email: the page shows it at once.
    when = datetime(2025, 9, 26, 10, 0, tzinfo=UTC)
    reply = _email_reply(
        _request_to(sink, "aisha.pendleford@example.org"),
        sender=AISHA,
        body="2.2: Amber - panel dates booked",
        when=when,
        message_id="<ap-9@mail.example.org>",
    )
    assert ingest_email(world.engine, reply, now=when, receiver=TRUSTED).verdict == "applied"
    aisha = page(world.get(path)).table("Each lead asked").row("Aisha Pendleford")
    assert aisha[2].startswith("2 of 11 updated 2.2: updated Fri 26 Sep 2025")
    # The digest goes out: the page shows it (a change to the outbox alone).
    send_digest(world)
    assert _summary(world.get(path), None)["Digest"] == "Sent Fri 26 Sep 2025, 09:30"


def test_an_unknown_meeting_gets_a_404_page(world: World) -> None:
    for key in ("SIB:2031-01-01", "nonsense"):
        response = world.client.get(f"/meetings/{key}")
        assert response.status_code == 404
        assert "Meeting not found" in response.text


# -- /review -------------------------------------------------------------------------------------


def _review_form(world: World) -> str:
    html = world.get("/review")
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found is not None
    return found.group(1)


def _decide(world: World, reply_id: int, **fields: str) -> Any:
    data = {"csrf_token": _review_form(world), **fields}
    return world.client.post(f"/review/{reply_id}", data=data, follow_redirects=False)


def test_the_review_queue_shows_each_reply_with_why_and_what_was_read(world: World) -> None:
    html = world.get("/review")
    assert "2 replies waiting for review" in html
    stranger, spoofed = world.stranger_reply, world.spoofed_reply
    assert page(html).h2s() == [
        f"Reply {stranger} from someone@elsewhere.example",
        f"Reply {spoofed} from aisha.pendleford@example.org",
    ]
    section = _section(html, f"reply-{stranger}")
    facts = _summary(section, None)
    assert facts["Received"] == "Wed 17 Sep 2025, 11:00 (email)"
    assert facts["From"] == "someone@elsewhere.example (not in the people directory)"
    assert facts["Subject"].startswith("Re: ")
    assert facts["Answers"].startswith("Request CHS-") and facts["Answers"].endswith(
        " to Aisha Pendleford"
    )
    assert facts["Why it needs review"] == (
        "the sender someone@elsewhere.example is not in the people directory "
        "(it gives the name “Someone”)"
    )
    assert "2.5: complete" in section
    assert page(section).table(f"Updates applying reply {stranger}").rows == [
        ["2.5", "Green", "No change", "None"]  # "2.5: complete": no words but the status
    ]
    spoofed_facts = _summary(_section(html, f"reply-{spoofed}"), None)
    assert spoofed_facts["From"] == (
        "aisha.pendleford@example.org (Aisha Pendleford in the people directory)"
    )
    assert "failing authentication" in spoofed_facts["Why it needs review"]
    assert f"kept under your name, {SECRETARY_LABEL}" in unescape(section)


def test_applying_a_reply_changes_the_action_and_the_history_says_so(world: World) -> None:
    spoofed = world.spoofed_reply
    assert _status_of(world.engine, "2.2") == (None, "")
    response = _decide(world, spoofed, decision="apply")
    assert response.status_code == 303
    assert response.headers["location"] == f"/review?decided={spoofed}"
    html = world.get(response.headers["location"])
    assert f"Reply {spoofed} applied" in html
    assert "govuk-notification-banner--success" in html
    assert "1 reply waiting for review" in html
    assert f"reply-{spoofed}" not in html

    assert _status_of(world.engine, "2.2") == ("on_track", "Amber")
    with Session(world.engine) as s:
        reply = s.get(Reply, spoofed)
        assert reply is not None
        assert (reply.verdict, reply.decided_by, reply.decided_at) == (
            "applied",
            SECRETARY_LABEL,  # who was signed in: never a name typed into the form
            READING,
        )
    newest = _history(world.get("/actions/2.2"))[0]
    assert newest["title"] == "Fri 26 Sep 2025, 12:00: Update"
    assert newest["Who"] == "Aisha Pendleford"
    assert newest["How"] == f"Email, applied from the review queue by {SECRETARY_LABEL}"
    assert newest["Status"] == "Not reported → Amber"
    assert newest["Narrative"] == "panel dates booked"  # the status word is not repeated
    row = page(world.get("/plan?q=2.2")).table("Actions in priority action area 2").row("2.2")
    assert row[2:5] == ["Amber", "Jun 2024", "26 Sep 2025"]


def test_rejecting_a_reply_changes_nothing_and_keeps_it_as_rejected(world: World) -> None:
    stranger = world.stranger_reply
    changes_before, _, actions_before = _counts(world.engine)
    response = _decide(world, stranger, decision="reject", reason="Not from anyone we know")
    assert response.status_code == 303
    assert f"Reply {stranger} rejected" in world.get(response.headers["location"])
    changes, replies, actions = _counts(world.engine)
    assert (changes, actions) == (changes_before, actions_before)
    assert (stranger, "rejected", SECRETARY_LABEL, "Not from anyone we know") in replies
    assert _status_of(world.engine, "2.5") == ("off_track", "Red")
    row = page(world.get("/actions/2.5")).table("Replies about action 2.5").row(f"Reply {stranger}")
    assert row[3:] == [f"Rejected by {SECRETARY_LABEL}", "Not from anyone we know"]


def test_a_decision_needs_a_choice_and_is_kept_under_the_signed_in_name(world: World) -> None:
    before = _counts(world.engine)
    response = _decide(world, world.spoofed_reply, decision="", decided_by="Mallory", reason="x")
    assert response.status_code == 400
    assert "<title>Error: " in response.text
    n = world.spoofed_reply
    assert f'href="#decision-{n}">Select whether to apply or reject reply {n}</a>' in response.text
    assert f'id="decision-{n}"' in response.text
    assert 'name="decided_by"' not in response.text  # nobody types a name
    assert _counts(world.engine) == before
    assert _decide(world, n, decision="reject", decided_by="Mallory").status_code == 303
    with Session(world.engine) as s:
        reply = s.get(Reply, n)
        assert reply is not None and reply.decided_by == SECRETARY_LABEL


def test_a_reply_already_decided_cannot_be_decided_again(world: World) -> None:
    stranger = world.stranger_reply
    assert _decide(world, stranger, decision="reject").status_code == 303
    before = _counts(world.engine)
    response = _decide(world, stranger, decision="apply")
    assert response.status_code == 409
    assert "There is a problem" in response.text
    assert f"Reply {stranger} is rejected, not waiting for review" in response.text
    assert _counts(world.engine) == before
    assert _decide(world, 9999, decision="apply").status_code == 409


def test_another_plans_reply_cannot_be_decided_from_this_plans_queue(world: World) -> None:
    with Session(world.engine) as session:
        other = Plan(code="another-plan", title="Another plan", created_at=world.clock())
        session.add(other)
        session.flush()
        reply = Reply(
            plan_id=other.id,
            channel="email",
            received_at=world.clock(),
            sender="someone@elsewhere.example",
            raw="Subject: 1.1: red\n\n1.1: red",
            verdict="review",
            reason="the sender is not in the people directory",
        )
        session.add(reply)
        session.commit()
        reply_id = reply.id
    assert reply_id is not None
    assert f"Reply {reply_id} from" not in world.get("/review")
    response = _decide(world, reply_id, decision="reject")
    assert response.status_code == 409
    assert f"There is no reply {reply_id}" in response.text
    with Session(world.engine) as session:
        kept = session.get(Reply, reply_id)
        assert kept is not None and kept.verdict == "review" and kept.decided_by == ""


@pytest.mark.parametrize(
    "attack",
    ["no session", "no field", "wrong field", "another origin", "another referer", "null origin"],
)
def test_a_forged_decision_is_refused_and_changes_nothing(world: World, attack: str) -> None:
    csrf = _review_form(world)
    before = _counts(world.engine)
    data = {"csrf_token": csrf, "decision": "apply"}
    headers: dict[str, str] = {}
    client = world.client
    if attack == "no session":
        client = TestClient(world.client.app, base_url=BASE)
    elif attack == "no field":
        del data["csrf_token"]
    elif attack == "wrong field":
        data["csrf_token"] = "0" * 64
    elif attack == "another origin":
        headers["Origin"] = "http://evil.example"
    elif attack == "another referer":
        headers["Referer"] = "http://evil.example/page"
    else:
        headers["Origin"] = "null"
    response = client.post(
        f"/review/{world.spoofed_reply}", data=data, headers=headers, follow_redirects=False
    )
    if attack == "no session":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=")
    else:
        assert response.status_code == 403
        assert "Your change could not be saved" in response.text
    assert _counts(world.engine) == before
    # the genuine form, from this site, still works
    ok = world.client.post(
        f"/review/{world.spoofed_reply}",
        data={"csrf_token": csrf, "decision": "reject"},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert ok.status_code == 303


# -- local only ----------------------------------------------------------------------------------


def test_bound_to_every_interface_the_pages_are_refused_but_the_reply_form_works(
    world: World,
) -> None:
    app = _app(world.engine, world.clock, bind_host="0.0.0.0")
    with TestClient(app, base_url=BASE) as client:
        for path in ("/plan", "/actions/2.5", "/meetings", "/review"):
            response = client.get(path)
            assert response.status_code == 403
            assert "only available on the computer running Chaser" in response.text
        world.clock.now = datetime(2025, 9, 20, 9, 0, tzinfo=UTC)  # the link is still valid
        assert client.get(world.form_link).status_code == 200
        assert client.post(f"/review/{world.spoofed_reply}", data={}).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"Host": "evil.example:8080"},
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
    ],
)
def test_a_request_for_another_host_or_through_a_proxy_is_refused(
    world: World, headers: dict[str, str]
) -> None:
    csrf = _review_form(world)
    before = _counts(world.engine)
    for path in ("/plan", f"/meetings/{MEETING}", "/review"):
        assert world.client.get(path, headers=headers).status_code == 403
    response = world.client.post(
        f"/review/{world.spoofed_reply}",
        data={"csrf_token": csrf, "decision": "apply"},
        headers=headers,
    )
    assert response.status_code == 403
    assert _counts(world.engine) == before


# -- in a browser --------------------------------------------------------------------------------


def test_every_page_passes_axe_in_chromium(world: World, tmp_path: Path) -> None:
    send_digest(world)
    port = free_port()
    app = _app(world.engine, world.clock)
    shots = tmp_path / "screenshots"
    with FormServer(app, port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(world.engine, now=world.clock())
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for path, heading in (
            ("/plan", "Plan status"),
            ("/plan?page=2", "Plan status"),  # the second page, with GOV.UK's pagination
            ("/plan?area=2&status=Red&q=2.5", "Plan status"),
            ("/plan?flagged=yes", "Plan status"),
            ("/plan?lead=FO", "Plan status"),
            ("/actions/2.5", "Action 2.5"),
            ("/actions/2.2", "Action 2.2"),  # never updated: its messages end in an escalation
            ("/meetings", "Meetings"),
            (f"/meetings/{MEETING}", "SIB meeting on 30 September 2025"),
            ("/review", "Review queue"),
        ):
            name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
            for width in (1280, 390):  # a desktop, and a phone
                browser.set_viewport_size({"width": width, "height": 900})
                response = browser.goto(base + path)
                assert response is not None and response.status == 200, path
                assert browser.get_by_role("heading", level=1, name=heading).is_visible()
                browser.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                assert axe_violations(browser) == [], (path, describe(axe_violations(browser)))
                # wide tables scroll in their own box: the page itself never goes sideways
                page_width = browser.evaluate("document.documentElement.scrollWidth")
                assert page_width <= width, (path, width, page_width)
        browser.set_viewport_size({"width": 1024, "height": 900})

        # the filter form works without script
        browser.goto(base + "/plan")
        browser.get_by_label("Lead").select_option("LE")
        click_and_wait(browser, browser.get_by_role("button", name="Apply filters"))
        assert browser.get_by_text("Showing 2 of 76 actions").is_visible()

        # a decision with a mistake, then made properly, all in the browser
        browser.goto(base + "/review")
        section = browser.locator(f"#reply-{world.stranger_reply}")
        click_and_wait(
            browser,
            section.get_by_role("button", name=f"Save decision on reply {world.stranger_reply}"),
        )
        assert browser.get_by_role("heading", name="There is a problem").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        section = browser.locator(f"#reply-{world.stranger_reply}")
        section.get_by_label("Reject it").check()
        click_and_wait(
            browser,
            section.get_by_role("button", name=f"Save decision on reply {world.stranger_reply}"),
        )
        assert browser.get_by_text(f"Reply {world.stranger_reply} rejected").is_visible()
        assert axe_violations(browser) == [], describe(axe_violations(browser))
        browser.screenshot(path=str(shots / "review-done.png"), full_page=True)
        # nothing blocked by the Content-Security-Policy, no missing assets: only the 400 of
        # the decision sent without a choice
        assert [e for e in browser.errors if "status of 400" not in e] == []
        assert len(browser.errors) == 1
    with Session(world.engine) as s:
        reply = s.get(Reply, world.stranger_reply)
        assert reply is not None and reply.verdict == "rejected"
        assert reply.decided_by == SECRETARY_LABEL


# -- helpers for summary lists and history cards --------------------------------------------------


def _section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    end = html.find("<section", start + 1)
    return html[start : end if end != -1 else len(html)]


def _summary(html: str, after_heading: str | None) -> dict[str, str]:
    """The first GOV.UK summary list (after ``after_heading``), key by key."""
    if after_heading is not None:
        html = html[html.index(f">{after_heading}</h2>") :]
    start = html.index('<dl class="govuk-summary-list')
    block = html[start : html.index("</dl>", start)]
    return _pairs(block)


def _pairs(block: str) -> dict[str, str]:
    keys = re.findall(r'<dt class="govuk-summary-list__key">(.*?)</dt>', block, re.S)
    values = re.findall(r'<dd class="govuk-summary-list__value">(.*?)</dd>', block, re.S)
    return {_plain(k): _plain(v) for k, v in zip(keys, values, strict=True)}


def _plain(fragment: str) -> str:
    return " ".join(unescape(re.sub(r"<br>", " ", re.sub(r"<(?!br)[^>]+>", "", fragment))).split())


def _history(html: str) -> list[dict[str, str]]:
    """The history cards, newest first: their title and rows."""
    start = html.index('id="history"')
    block = html[start : html.index('id="replies"')]
    cards = []
    for card in block.split('<div class="govuk-summary-card">')[1:]:
        title = re.search(r'<h3 class="govuk-summary-card__title">(.*?)</h3>', card, re.S)
        assert title is not None
        cards.append({"title": _plain(title.group(1)), **_pairs(card)})
    return cards
