"""`chaser compliance` (issue 17): each monitoring duty of the improvement notice with the
records that prove it, over a real six-week cycle of the Plymouth sample (the service's tick
once a day: invitations, requests, reminders and the digest through an SMTP sink, one lead's
update before the papers deadline). Removing one adviser's invitation names the gap."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from chaser.importing import import_people, import_plan
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from integrations.web import FormServer, create_app
from integrations.web.secretary import PlanSite
from tests.browser import axe_violations, chromium_page, describe
from tests.clock import Clock
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink, free_port
from tests.signin import COOKIE, TEST_SIGNIN, session_token, sign_in
from tests.test_cli_admin_verbs import Chaser
from workflows.board.compliance import Compliance, Duty, compliance
from workflows.calendar.cycles import LONDON, load_cycles
from workflows.plan.mapping import load_mapping
from workflows.replies.apply import ActionUpdate, answer_of, apply_reply
from workflows.store.invitation_models import Invitation
from workflows.store.models import Person, Plan, Reply, ReplyVerdict

PLAN = "plymouth-send-2023"
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
START, END = date(2025, 8, 20), date(2025, 10, 1)
NOW = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
ADVISER = next(p for p in CYCLES.group("SIB").mandatory_invitees)


@dataclass
class Cycle:
    engine: Engine
    tmp_path: Path


@pytest.fixture
def cycle(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Iterator[Cycle]:
    clock = Clock(datetime.combine(START, time(8), tzinfo=UTC))
    import_people(engine, PEOPLE_CSV, now=clock.now)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=clock.now)
    runtime = build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "c" * 40, "CHASER_DATA_DIR": str(tmp_path)},
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
    day = START
    while day < END:  # the service's tick, once a day at 09:30
        clock.now = datetime.combine(day, time(9, 30), tzinfo=LONDON).astimezone(UTC)
        tick(runtime, clock.now)
        if day == date(2025, 9, 17):  # Aisha answers for 2.2 the day after the request
            _update(engine, "AP", "2.2", clock.now)
        day += timedelta(days=1)
    runtime.close()
    yield Cycle(engine, tmp_path)


def _update(engine: Engine, code: str, ref: str, when: datetime) -> None:
    with Session(engine) as s:
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        person = s.exec(select(Person).where(Person.code == code)).one()
        stored = Reply(plan_id=plan.id, channel="email", received_at=when, person_id=person.id,
                       verdict=str(ReplyVerdict.APPLIED))  # fmt: skip
        s.add(stored)
        s.flush()
        apply_reply(s, stored, answer_of([ActionUpdate(ref=ref, narrative="On track.")]), now=when)
        s.commit()


def _duties(engine: Engine) -> dict[str, Duty]:
    with Session(engine) as s:
        found: Compliance = compliance(
            s, PLAN, CYCLES, start=date(2025, 9, 1), end=date(2025, 9, 30), now=NOW
        )
    return {d.code: d for d in found.duties}


def test_it_reports_every_duty_with_its_records_and_names_a_missing_invitation(
    cycle: Cycle,
) -> None:
    duties = _duties(cycle.engine)
    assert list(duties) == [
        "accountable_owner",
        "updates_before_deadline",
        "risks_reviewed",
        "advisers_invited",
        "log_updated",
        "measures_reported",
    ]
    invited = duties["advisers_invited"]
    assert invited.met, invited.gaps
    assert invited.evidence == ("SIB on 30 Sep 2025: 3 of 3 mandatory invitees invited",)
    log = duties["log_updated"]
    assert log.met and log.evidence == (
        "SIB on 30 Sep 2025: the action and impact log sent 26 Sep 2025",
    )
    updates = duties["updates_before_deadline"]
    assert updates.evidence[0].startswith("SIB on 30 Sep 2025: 1 of ")
    assert updates.evidence[0].endswith(" actions updated by the papers deadline (Tue 23 Sep)")
    (missing,) = updates.gaps
    named = missing.removeprefix("SIB on 30 Sep 2025: no update before the papers deadline on ")
    assert "2.2" not in named.split(", ") and "2.5" in named.split(", ")
    assert updates.evidence[0] == (
        f"SIB on 30 Sep 2025: 1 of {len(named.split(', ')) + 1} actions updated by the papers "
        "deadline (Tue 23 Sep)"
    )
    assert duties["risks_reviewed"].gaps == (
        "SIB on 30 Sep 2025: no risk on the register to review",
    )
    assert duties["measures_reported"].gaps == ("No impact measure is on the scorecard",)

    with Session(cycle.engine) as s:  # one adviser's invitation lost from the records
        s.exec(delete(Invitation).where(col(Invitation.email) == ADVISER.email))
        s.commit()
    gap = _duties(cycle.engine)["advisers_invited"]
    assert gap.evidence == ("SIB on 30 Sep 2025: 2 of 3 mandatory invitees invited",)
    assert gap.gaps == (f"SIB on 30 Sep 2025: {ADVISER.name} ({ADVISER.role}) was not invited",)

    cli = Chaser(cycle.engine, cycle.tmp_path)
    out, _ = cli(
        "compliance", "--plan", PLAN, "--from", "2025-09-01", "--to", "2025-09-30",
        "--now", "2025-10-01T13:00", code=1,
    )  # fmt: skip
    assert f"  gap: SIB on 30 Sep 2025: {ADVISER.name} ({ADVISER.role}) was not invited" in out
    assert duties["accountable_owner"].evidence == ("76 of 76 actions have an accountable owner",)
    assert "\nMET  An accountable owner for every action\n" in out
    assert "\nGAPS  Invitations sent on each occasion to the DfE adviser" in out
    data = json.loads(
        cli("compliance", "--plan", PLAN, "--from", "2025-09-01", "--to", "2025-09-30",
            "--now", "2025-10-01T13:00", "--json", code=1)[0]
    )  # fmt: skip
    assert [d["code"] for d in data["duties"]] == list(duties)
    assert data["gaps"] == sum(len(d.gaps) for d in _duties(cycle.engine).values())


def test_the_compliance_page_lists_each_duty_with_its_gaps_and_passes_axe(
    cycle: Cycle, tmp_path: Path
) -> None:
    with Session(cycle.engine) as s:
        s.exec(delete(Invitation).where(col(Invitation.email) == ADVISER.email))
        s.commit()
    app = create_app(
        engine=cycle.engine,
        secret=b"c" * 40,
        clock=lambda: NOW,
        form_url="http://127.0.0.1:8080",
        plans=[PlanSite(PLAN, cycles=lambda now: CYCLES)],
        signin=TEST_SIGNIN,
    )
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        sign_in(client, cycle.engine, now=NOW)
        page = client.get("/board/compliance?start=2025-09-01&end=2025-09-30")
        assert page.status_code == 200
        text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))
        assert client.get("/board/compliance?start=September").status_code == 400
    assert "from 1 Sep 2025 to 30 Sep 2025" in text
    assert (
        "Invitations sent on each occasion to the DfE adviser, the NHS England adviser and the "
        "Department's case lead Gaps SIB on 30 Sep 2025: 2 of 3 mandatory invitees invited "
        f"Gaps: SIB on 30 Sep 2025: {ADVISER.name} ({ADVISER.role}) was not invited"
    ) in text
    assert "An accountable owner for every action Met 76 of 76 actions" in text

    port = free_port()
    with FormServer(app, port=port), chromium_page() as browser:
        base = f"http://127.0.0.1:{port}"
        token = session_token(cycle.engine, now=NOW)
        browser.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
        for width in (1024, 390):
            browser.set_viewport_size({"width": width, "height": 900})
            response = browser.goto(base + "/board/compliance?start=2025-09-01&end=2025-09-30")
            assert response is not None and response.status == 200
            browser.screenshot(path=str(tmp_path / f"compliance-{width}.png"), full_page=True)
            assert axe_violations(browser) == [], describe(axe_violations(browser))
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
