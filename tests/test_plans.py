"""Two partnerships' plans in one deployment: each chased on its own cycle, each secretary
sent their own digest, each reply in its own plan, each directory kept apart."""

from __future__ import annotations

import email.policy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time as time_
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from integrations.web import FormServer, create_app
from integrations.web.secretary import PlanSite
from tests.browser import axe_violations, chromium_page, click_and_wait, describe
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT, unpaced
from tests.mail_servers import SmtpSink, free_port
from tests.plan_builders import write_workbook
from tests.signin import COOKIE, TEST_SIGNIN, session_token, sign_in
from tests.test_replies import TRUSTED, gateway_stamp
from workflows.plan.mapping import load_mapping
from workflows.replies.intake import ingest_email
from workflows.replies.review import decide, pending_reviews
from workflows.store.models import Action, Area, Person, Plan, Reply, ReplyVerdict

LONDON = ZoneInfo("Europe/London")
SECRET = "p" * 40
PLYMOUTH = "plymouth-send-2023"
KERNOW = "kernow-send-2025"
MAILBOX = "send.improvement@example.org"
#: Hester works for the NHS across both areas: she leads actions in both plans.
HESTER = "hester.pengelly@example.nhs.uk"

KERNOW_CHASING = f"""\
plan: {KERNOW}
partnership: kernow
meetings: [KSB]
ladder: {{request: -5, reminder: -2, final_reminder: 0, escalation: 1}}
send_window: {{start: "09:00", end: "17:30", working_days_only: true}}
sender:
  mailbox: {MAILBOX}
  name: Kernow SEND Partnership
form_url: http://127.0.0.1:8080
"""

KERNOW_CYCLES = """\
version: 1
timezone: Europe/London
groups:
  - code: KSB
    name: Kernow SEND Improvement Board
    secretary: {name: Tamsin Kitto, email: tamsin.kitto@example.org}
    mandatory_invitees:
      - {name: Imogen Castellane, role: DfE SEND adviser, email: imogen.castellane@example.gov.uk}
    cadence: every 3 weeks on Thursday
    first_meeting: 2025-09-04
    time: "14:00"
    papers_deadline_working_days: 3
    plan_areas: [1, 2]
"""

KERNOW_DIGEST = """\
groups: [KSB]
cycle_groups: [KSB]
send: {working_days_before: 2}
slippage: {}
"""

#: Another council's layout: a title block, "Workstream" and "No." columns, an owner named by
#: code, and a scale of four phrases.
KERNOW_MAPPING = f"""\
name: kernow
plan:
  code: {KERNOW}
  title: Kernow SEND Improvement Plan 2025
sheet: Actions
header:
  contains: [No., What we will do]
columns:
  area: Workstream
  ref: No.
  title: What we will do
  lead: Owner
  due: By when
  status: Progress
required: [title, lead, due]
fill_down: [area]
status_scale:
  name: Progress
  values:
    - {{value: Complete, meaning: complete}}
    - {{value: In progress, meaning: on_track}}
    - {{value: Delayed, meaning: off_track}}
    - {{value: Not started, meaning: not_due}}
"""

#: AP is Aisha Pendleford in Plymouth and Austell Polglase in Kernow; Hester is in both.
KERNOW_PEOPLE = f"""\
code,role,name,email,teams_upn,delegate_code,sro
AP,Head of Inclusion,Austell Polglase,austell.polglase@example.kernow.gov.uk,,,yes
HEP,Associate Director of Commissioning – NHS Devon,Hester Pengelly,{HESTER},,,no
JT,Designated Clinical Officer,Jenna Trevail,jenna.trevail@example.kernow.gov.uk,,,no
"""


def _kernow_workbook(path: Path) -> Path:
    return write_workbook(
        path,
        [
            [
                "1. Identifying need early",
                "1.1",
                "Launch the early help SEND pathway",
                "AP",
                "Dec 2025",
                "In progress",
            ],
            [
                None,
                "1.2",
                "Train SENCOs in the graduated approach",
                "JT",
                "Mar 2026",
                "Not started",
            ],
            [
                "2. Health provision",
                "2.1",
                "Cut the wait for ASD assessment to 18 weeks",
                "HEP",
                "Jun 2026",
                "Delayed",
            ],
        ],
        header=["Workstream", "No.", "What we will do", "Owner", "By when", "Progress"],
        title_rows=2,
        sheet="Actions",
    )


@dataclass
class Deployment:
    config: Path
    settings: Settings
    runtime: Runtime
    clock: Clock


def _config(tmp_path: Path) -> Path:
    """``config/plans/plymouth/`` (the shipped files, partnership plymouth) and
    ``config/plans/kernow/``; mappings shared."""
    config = tmp_path / "config"
    (config / "mappings").mkdir(parents=True)
    shutil.copy(MAPPING, config / "mappings" / "plymouth.yaml")
    (config / "mappings" / "kernow.yaml").write_text(KERNOW_MAPPING, encoding="utf-8")
    plymouth = config / "plans" / "plymouth"
    plymouth.mkdir(parents=True)
    for name in ("cycles.yaml", "digest.yaml"):
        shutil.copy(ROOT / "config" / name, plymouth / name)
    chasing = (ROOT / "config" / "chasing.yaml").read_text(encoding="utf-8")
    (plymouth / "chasing.yaml").write_text(
        chasing.replace(f"plan: {PLYMOUTH}", f"plan: {PLYMOUTH}\npartnership: plymouth", 1),
        encoding="utf-8",
    )
    kernow = config / "plans" / "kernow"
    kernow.mkdir()
    (kernow / "chasing.yaml").write_text(KERNOW_CHASING, encoding="utf-8")
    (kernow / "cycles.yaml").write_text(KERNOW_CYCLES, encoding="utf-8")
    (kernow / "digest.yaml").write_text(KERNOW_DIGEST, encoding="utf-8")
    return config


@pytest.fixture
def deployment(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Deployment:
    config = _config(tmp_path)
    people = tmp_path / "kernow_people.csv"
    people.write_text(KERNOW_PEOPLE, encoding="utf-8")
    import_people(engine, PEOPLE_CSV, now=NOW, partnership="plymouth")
    import_people(engine, people, now=NOW, partnership="kernow")
    plymouth = import_plan(
        engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW, partnership="plymouth"
    )
    kernow = import_plan(
        engine,
        _kernow_workbook(tmp_path / "kernow.xlsx"),
        mapping=load_mapping(config / "mappings" / "kernow.yaml"),
        now=NOW,
        partnership="kernow",
    )
    assert plymouth.ok and kernow.ok, (plymouth.errors, kernow.errors)
    clock = Clock(datetime(2025, 9, 1, 8, tzinfo=UTC))
    settings = Settings.from_env(
        {"CHASER_SECRET_KEY": SECRET, "CHASER_DATA_DIR": str(tmp_path / "data")},
        config_dir=config,
    )
    runtime = build_runtime(
        settings,
        engine,
        channels={
            "email": SmtpChannel(sink.host, sink.port, sender_address=MAILBOX, starttls=False)
        },
        clock=clock,
        sleep=clock.advance,
    )
    return Deployment(config, settings, runtime, clock)


def _run_days(d: Deployment, start: date, end: date) -> None:
    day = start
    while day < end:
        for hour in (time(9, 30), time(14, 0)):
            d.clock.now = datetime.combine(day, hour, tzinfo=LONDON).astimezone(UTC)
            tick(d.runtime, d.clock.now)
        day += timedelta(days=1)


def _keys(sink: SmtpSink) -> list[str]:
    return [str(m.message["X-Chaser-Key"]) for m in sink.messages]


def test_it_keeps_both_partnerships_people_though_their_codes_clash(
    engine: Engine, deployment: Deployment
) -> None:
    with Session(engine) as s:
        aps = {p.partnership: p.name for p in s.exec(select(Person).where(Person.code == "AP"))}
        hesters = {
            p.partnership: p.code for p in s.exec(select(Person).where(Person.email == HESTER))
        }
        leads = {
            (plan.code, a.ref): s.get(Person, a.accountable_id).name  # type: ignore[union-attr]
            for plan in s.exec(select(Plan))
            for a in s.exec(select(Action).where(Action.plan_id == plan.id))
            if a.ref in ("1.1", "2.1") and a.accountable_id is not None
        }
    assert aps == {"plymouth": "Aisha Pendleford", "kernow": "Austell Polglase"}
    assert hesters == {"plymouth": "HP", "kernow": "HEP"}
    assert leads[(KERNOW, "1.1")] == "Austell Polglase"
    assert leads[(KERNOW, "2.1")] == "Hester Pengelly"


def test_it_reads_each_plan_with_its_own_layout_and_scale(
    engine: Engine, deployment: Deployment
) -> None:
    with Session(engine) as s:
        kernow = s.exec(select(Plan).where(Plan.code == KERNOW)).one()
        areas = {a.id: a.number for a in s.exec(select(Area).where(Area.plan_id == kernow.id))}
        read = {
            a.ref: (areas[a.area_id], a.status, a.status_label)
            for a in s.exec(select(Action).where(Action.plan_id == kernow.id))
            if a.area_id is not None
        }
    assert kernow.partnership == "kernow"
    assert read == {
        "1.1": (1, "on_track", "In progress"),
        "1.2": (1, "not_due", "Not started"),
        "2.1": (2, "off_track", "Delayed"),
    }


def test_it_chases_each_plan_on_its_own_cycle_and_sends_each_secretary_their_digest(
    deployment: Deployment, sink: SmtpSink
) -> None:
    _run_days(deployment, date(2025, 9, 1), date(2025, 9, 30))
    keys = _keys(sink)
    kernow = sorted(k for k in keys if k.startswith(f"{KERNOW}/"))
    # KSB meets Thu 25 Sep; papers due 3 working days before (Mon 22); requests 5 before that
    assert f"{KERNOW}/request:AP:KSB:2025-09-25" in kernow
    assert f"{KERNOW}/request:HEP:KSB:2025-09-25" in kernow
    assert f"{PLYMOUTH}/request:AP:SIB:2025-09-30" in keys
    assert f"{PLYMOUTH}/request:HP:SIB:2025-09-30" in keys
    # Hester, in both plans, gets each plan's own request from each plan's own sender name
    to_hester = [m.message for m in sink.messages if HESTER in m.rcpt_tos]
    senders = Counter(
        str(m["From"]).split(" <")[0]
        for m in to_hester
        if str(m["X-Chaser-Key"]).split("/")[1].startswith("request:")
    )
    assert senders == {"Kernow SEND Partnership": 1, "Plymouth SEND Improvement Programme": 1}
    # the Kernow request lists only Kernow's action, the Plymouth one only Plymouth's
    kernow_request = next(
        m for m in to_hester if m["X-Chaser-Key"] == f"{KERNOW}/request:HEP:KSB:2025-09-25"
    )
    body = kernow_request.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "Cut the wait for ASD assessment" in text
    assert "Plymouth" not in text
    digests = {
        str(m.message["X-Chaser-Key"]): m.rcpt_tos
        for m in sink.messages
        if ":digest:" in f":{str(m.message['X-Chaser-Key']).split('/')[1]}"
    }
    assert digests[f"{KERNOW}/digest:KSB:2025-09-25"] == ["tamsin.kitto@example.org"]
    assert digests[f"{PLYMOUTH}/digest:SSDG:2025-09-09"] == ["jago.pascoe@example.org"]
    assert not [k for k in digests if k.startswith(f"{KERNOW}/digest:SSDG")]


def _request(sink: SmtpSink, key: str) -> EmailMessage:
    return next(m.message for m in sink.messages if m.message["X-Chaser-Key"] == key)


def _reply(
    *, body: str, when: datetime, request: EmailMessage | None = None, message_id: str
) -> bytes:
    reply = EmailMessage()
    reply["Authentication-Results"] = gateway_stamp(HESTER)  # the council's gateway vouches
    reply["From"] = f"Hester Pengelly <{HESTER}>"
    reply["To"] = MAILBOX
    reply["Subject"] = f"Re: {request['Subject']}" if request is not None else "SEND updates"
    reply["Date"] = format_datetime(when)
    reply["Message-ID"] = message_id
    if request is not None:
        reply["In-Reply-To"] = request["Message-ID"]
        reply["References"] = request["Message-ID"]
    reply.set_content(body)
    return reply.as_bytes(policy=email.policy.SMTP)


def test_it_files_a_reply_in_the_plan_of_the_request_it_answers(
    engine: Engine, deployment: Deployment, sink: SmtpSink
) -> None:
    _run_days(deployment, date(2025, 9, 15), date(2025, 9, 17))
    request = _request(sink, f"{KERNOW}/request:HEP:KSB:2025-09-25")
    when = datetime(2025, 9, 17, 10, tzinfo=UTC)
    outcome = ingest_email(
        engine,
        _reply(
            body="2.1: Amber, the new clinic opens in October",
            request=request,
            when=when,
            message_id="<r1@nhs.example>",
        ),
        now=when,
        receiver=TRUSTED,
    )
    assert outcome.verdict == "applied", outcome.reason
    with Session(engine) as s:
        plans = {p.id: p.code for p in s.exec(select(Plan))}
        updated = {
            (plans[a.plan_id], a.ref): a.progress
            for a in s.exec(select(Action).where(Action.ref == "2.1"))
        }
    assert "new clinic opens in October" in (updated[(KERNOW, "2.1")] or "")
    assert "new clinic" not in (updated[(PLYMOUTH, "2.1")] or "")


def test_it_sends_a_reply_from_someone_in_both_plans_with_no_thread_to_review_naming_both(
    engine: Engine, deployment: Deployment
) -> None:
    when = datetime(2025, 9, 17, 10, tzinfo=UTC)
    outcome = ingest_email(
        engine,
        _reply(body="2.1: complete", when=when, message_id="<r2@nhs.example>"),
        now=when,
        receiver=TRUSTED,
    )
    assert outcome.verdict == "review"
    assert "Kernow SEND Improvement Plan 2025" in outcome.reason
    assert PLYMOUTH in outcome.reason and KERNOW in outcome.reason
    with Session(engine) as s:
        queued = pending_reviews(s, KERNOW)
        assert [r.id for r in queued] == [outcome.reply_id]
        assert [r.id for r in pending_reviews(s, PLYMOUTH)] == [outcome.reply_id]
    # applied from Kernow's queue, it is Kernow's: Kernow's 2.1 changes, Plymouth's does not
    decide(engine, outcome.reply_id, apply=True, by="Tamsin Kitto", now=when, plan_code=KERNOW)
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
        assert reply is not None and reply.verdict == ReplyVerdict.APPLIED
        plans = {p.id: p.code for p in s.exec(select(Plan))}
        status = {
            plans[a.plan_id]: a.status for a in s.exec(select(Action).where(Action.ref == "2.1"))
        }
        person = s.get(Person, reply.person_id)
    assert status[KERNOW] == "complete" and status[PLYMOUTH] != "complete"
    assert person is not None and (person.partnership, person.code) == ("kernow", "HEP")


def test_it_asks_which_plan_when_several_are_configured_and_none_is_named(
    deployment: Deployment, engine: Engine
) -> None:
    runner = CliRunner()
    env = {
        "CHASER_CONFIG_DIR": str(deployment.config),
        "CHASER_DATA_DIR": str(deployment.config.parent / "data"),
        "CHASER_SECRET_KEY": SECRET,
    }
    result = runner.invoke(cli, ["cycles", "validate"], env=env)
    assert result.exit_code == 1
    assert f"2 plans are configured ({KERNOW}, {PLYMOUTH})" in result.output or (
        f"2 plans are configured ({PLYMOUTH}, {KERNOW})" in result.output
    )
    assert "--plan CODE" in result.output
    result = runner.invoke(cli, ["cycles", "validate", "--plan", KERNOW], env=env)
    assert result.exit_code == 0, result.output
    assert "plans/kernow/cycles.yaml: valid (1 groups)" in result.output
    result = runner.invoke(cli, ["chasing", "validate", "--plan", KERNOW], env=env)
    assert result.exit_code == 0, result.output
    assert "chases for KSB" in result.output
    result = runner.invoke(cli, ["cycles", "preview", "--plan", "nope"], env=env)
    assert result.exit_code == 1
    assert "no plan 'nope' is configured" in result.output


def test_it_imports_and_lists_people_and_plans_into_the_plans_partnership(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    people = tmp_path / "kernow_people.csv"
    people.write_text(KERNOW_PEOPLE, encoding="utf-8")
    env = {
        "CHASER_CONFIG_DIR": str(config),
        "CHASER_DATA_DIR": str(tmp_path / "data"),
        "CHASER_SECRET_KEY": SECRET,
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(cli, ["people", "import", str(people)], env=env)
    assert result.exit_code == 1
    assert "choose one with --plan CODE" in result.output
    result = runner.invoke(cli, ["people", "import", str(people), "--plan", KERNOW], env=env)
    assert result.exit_code == 0, result.output
    assert "added 3, updated 0, unchanged 0 people in partnership kernow" in result.output
    result = runner.invoke(cli, ["people", "import", str(PEOPLE_CSV), "--plan", PLYMOUTH], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli,
        [
            "plan",
            "import",
            str(_kernow_workbook(tmp_path / "k.xlsx")),
            "--plan",
            KERNOW,
            "--mapping",
            str(config / "mappings" / "kernow.yaml"),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert f"3 actions read into plan {KERNOW}: 3 new" in result.output
    listed = runner.invoke(cli, ["people", "list", "--plan", KERNOW], env=env).output
    assert "Austell Polglase" in listed and "Aisha Pendleford" not in listed
    listed = runner.invoke(cli, ["people", "list", "--plan", PLYMOUTH], env=env).output
    assert "Aisha Pendleford" in listed and "Austell Polglase" not in listed
    actions = runner.invoke(cli, ["plan", "list", "--plan", KERNOW], env=env).output
    assert "2.1     HEP" in actions


def test_it_runs_every_configured_plan_and_names_one_not_imported_yet(tmp_path: Path) -> None:
    config = _config(tmp_path)
    unpaced(config / "plans" / "plymouth" / "chasing.yaml")  # today's messages
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    env = {
        **os.environ,
        "CHASER_CONFIG_DIR": str(config),
        "CHASER_DATABASE_URL": db,
        "CHASER_DATA_DIR": str(tmp_path / "data"),
        "CHASER_SECRET_KEY": SECRET,
        "CHASER_LOG_FORMAT": "json",
        "CHASER_WEB_LISTEN": f"127.0.0.1:{free_port()}",
    }
    runner = CliRunner()
    for args in (["db", "upgrade"], ["people", "import", str(PEOPLE_CSV), "--plan", PLYMOUTH]):
        assert runner.invoke(cli, args, env=env).exit_code == 0
    assert (
        runner.invoke(
            cli, ["plan", "import", str(PLAN_XLSX), "--mapping", str(MAPPING)], env=env
        ).exit_code
        == 0
    )
    with SmtpSink() as sink:
        env |= {
            "CHASER_SMTP_HOST": sink.host,
            "CHASER_SMTP_PORT": str(sink.port),
            "CHASER_SMTP_STARTTLS": "no",
        }
        events = _run_until_ticks(env, ticks=1)
    started = next(e for e in events if e["event"] == "service_started")
    assert started["plans"] == ["kernow-send-2025", PLYMOUTH]
    missing = [e for e in events if e["event"] == "plan_not_imported"]
    assert {e["plan"] for e in missing} == {KERNOW}
    tick_event = next(e for e in events if e["event"] == "tick")
    assert tick_event["plans"] == 1  # Plymouth is chased though Kernow is not imported yet
    assert "tick_failed" not in [e["event"] for e in events]


def _run_until_ticks(env: dict[str, str], *, ticks: int) -> list[dict[str, object]]:
    """``chaser run --interval 1`` until it has ticked ``ticks`` times, then SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chaser", "run", "--interval", "1"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    events: list[dict[str, object]] = []
    try:
        assert process.stderr is not None
        deadline = time_.monotonic() + 60
        while time_.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            if line.startswith("{"):
                events.append(json.loads(line))
            if sum(1 for e in events if e["event"] == "tick") >= ticks:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    events.extend(json.loads(line) for line in rest.splitlines() if line.startswith("{"))
    return events


# -- the secretary's pages, for several plans ----------------------------------------------------

BASE = "http://127.0.0.1:8080"


def _client(d: Deployment, engine: Engine, **role: Any) -> TestClient:
    app = create_app(
        engine=engine,
        secret=SECRET.encode(),
        clock=d.clock,
        form_url=BASE,
        plans=[PlanSite(PLYMOUTH), PlanSite(KERNOW)],
        signin=TEST_SIGNIN,
    )
    client = TestClient(app, base_url=BASE)
    sign_in(client, engine, **role)
    return client


def _options(html: str) -> list[tuple[str, str, bool]]:
    found = re.search(r'<select[^>]*id="plan-switch".*?</select>', html, re.S)
    assert found is not None, "no plan switcher"
    return [
        (value, " ".join(text.split()), bool(selected))
        for value, selected, text in re.findall(
            r'<option value="([^"]*)"( selected)?>(.*?)</option>', found.group(0), re.S
        )
    ]


def test_it_switches_between_the_plans_a_secretary_works_on(
    engine: Engine, deployment: Deployment
) -> None:
    with _client(deployment, engine) as client:
        first = client.get("/plan")
        assert first.status_code == 200
        assert _options(first.text) == [
            (PLYMOUTH, "Plymouth Local Area SEND Improvement Plan (October 2023)", True),
            (KERNOW, "Kernow SEND Improvement Plan 2025", False),
        ]
        assert "Launch the early help SEND pathway" not in first.text
        kernow = client.get("/plan", params={"plan": KERNOW})
        assert kernow.status_code == 200
        assert "Launch the early help SEND pathway" in kernow.text
        assert [o for o in _options(kernow.text) if o[2]] == [
            (KERNOW, "Kernow SEND Improvement Plan 2025", True)
        ]
        # every link says which plan it is about, so another tab cannot change what it acts on
        assert f'href="/actions/1.1?plan={KERNOW}"' in kernow.text
        assert f'href="/review?plan={KERNOW}"' in kernow.text
        assert f'<input type="hidden" name="plan" value="{KERNOW}">' in kernow.text
        # the choice is remembered for a page opened without one
        again = client.get("/plan")
        assert "Launch the early help SEND pathway" in again.text
        action = client.get("/actions/2.1", params={"plan": KERNOW})
        assert "Cut the wait for ASD assessment" in action.text
        plymouth_21 = client.get("/actions/2.1", params={"plan": PLYMOUTH})
        assert plymouth_21.status_code == 200
        assert "Cut the wait for ASD assessment" not in plymouth_21.text
        assert client.get("/plan", params={"plan": "nope"}).status_code == 404


def test_it_shows_someone_with_one_plan_only_that_plan_and_no_switcher(
    engine: Engine, deployment: Deployment
) -> None:
    with _client(
        deployment,
        engine,
        email="tamsin.kitto@example.org",
        name="Tamsin Kitto",
        plan_code=KERNOW,
    ) as client:
        page_ = client.get("/plan")
        assert page_.status_code == 200
        assert "Launch the early help SEND pathway" in page_.text
        assert 'id="plan-switch"' not in page_.text
        refused = client.get("/plan", params={"plan": PLYMOUTH})
        assert refused.status_code == 403
        assert "no role on this plan" in refused.text


def test_it_applies_a_reply_from_someone_in_both_plans_from_the_queue_it_is_decided_in(
    engine: Engine, deployment: Deployment
) -> None:
    when = datetime(2025, 9, 17, 10, tzinfo=UTC)
    outcome = ingest_email(
        engine,
        _reply(body="2.1: complete", when=when, message_id="<r3@nhs.example>"),
        now=when,
        receiver=TRUSTED,
    )
    assert outcome.verdict == "review"
    with _client(deployment, engine) as client:
        queue = client.get("/review", params={"plan": KERNOW})
        assert f"Reply {outcome.reply_id} from {HESTER}" in queue.text
        assert "Kernow SEND Improvement Plan 2025" in queue.text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', queue.text)
        assert csrf is not None
        assert f'action="/review/{outcome.reply_id}?plan={KERNOW}"' in queue.text
        done = client.post(
            f"/review/{outcome.reply_id}?plan={KERNOW}",
            data={"csrf_token": csrf.group(1), "decision": "apply"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/review?decided={outcome.reply_id}&plan={KERNOW}"
    with Session(engine) as s:
        plans = {p.id: p.code for p in s.exec(select(Plan))}
        status = {
            plans[a.plan_id]: a.status for a in s.exec(select(Action).where(Action.ref == "2.1"))
        }
    assert status[KERNOW] == "complete" and status[PLYMOUTH] != "complete"


def test_it_switches_plan_in_chromium_at_phone_and_desktop_widths(
    engine: Engine, deployment: Deployment, tmp_path: Path
) -> None:
    port = free_port()
    app = create_app(
        engine=engine,
        secret=SECRET.encode(),
        clock=deployment.clock,
        form_url=f"http://127.0.0.1:{port}",
        plans=[PlanSite(PLYMOUTH), PlanSite(KERNOW)],
        signin=TEST_SIGNIN,
    )
    shots = tmp_path / "screenshots"
    with FormServer(app, port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(engine, now=deployment.clock())
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for width in (390, 1024):
            browser.set_viewport_size({"width": width, "height": 900})
            browser.goto(base + f"/plan?plan={PLYMOUTH}")
            browser.get_by_label("Plan").select_option(KERNOW)
            click_and_wait(browser, browser.get_by_role("button", name="Show"))
            assert browser.get_by_role("heading", level=1, name="Plan status").is_visible()
            assert browser.get_by_text("Launch the early help SEND pathway").is_visible()
            switcher = browser.get_by_label("Plan")
            assert switcher.input_value() == KERNOW
            box = switcher.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width  # nothing off-screen
            browser.screenshot(path=str(shots / f"plan-switcher-{width}.png"), full_page=True)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            # a link followed keeps to the plan shown
            click_and_wait(browser, browser.get_by_role("link", name="2.1", exact=True))
            assert browser.get_by_text("Cut the wait for ASD assessment").first.is_visible()
        assert browser.errors == []
