"""A lead marks a milestone done on the reply form (issue 17): the form lists the action's open
milestones as tick boxes; a ticked one is marked done with the update, in the history under the
lead's name and the form channel, and the next digest no longer flags it as missed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.service import link_for, tick
from integrations.web import create_app
from tests.clock import Clock
from tests.conftest import ROOT
from tests.test_web_form import AP_KEY, BASE, REQUEST_TIME, SECRET, World, _runtime
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import next_meeting
from workflows.digest.build import build_digest
from workflows.digest.slippage import SlippageConfig
from workflows.store.models import Action, Milestone, Person, StatusChange

CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")


@pytest.fixture
def lead(engine: Engine, tmp_path: Path) -> Iterator[World]:
    clock = Clock(REQUEST_TIME)
    runtime = _runtime(engine, tmp_path, clock, channels={})
    report = tick(runtime, clock.now, dispatch=False)
    planned = next(p for p in report.planned if p.delivery.message.key == AP_KEY)
    token = link_for(runtime, planned.chase).rsplit("/r/", 1)[1]
    app = create_app(engine=engine, secret=SECRET.encode(), clock=clock, form_url=BASE)
    with TestClient(app, base_url=BASE) as client:
        yield World(engine, clock, client, token, planned.delivery.action_refs)


def _missed(engine: Engine, ref: str) -> str:
    meeting = next_meeting(CYCLES, "SIB", date(2025, 9, 30))
    assert meeting is not None
    with Session(engine) as s:
        digest = build_digest(
            s,
            plan_code="plymouth-send-2023",
            cycles=CYCLES,
            group_code="SIB",
            meeting=meeting,
            now=datetime(2025, 9, 24, 9, tzinfo=UTC),
            config=SlippageConfig(),
            cycle_groups=("SIB", "SSDG"),
        )
    row = next(r for r in digest.log if r.ref == ref)
    return next((f.reason for f in row.flags if f.rule == "milestone_missed"), "")


def test_it_marks_a_ticked_milestone_done_with_the_leads_update(lead: World) -> None:
    assert "2.2" in lead.refs
    page = lead.client.get(lead.url).text
    index = lead.refs.index("2.2") + 1
    assert re.search(
        rf'<input class="govuk-checkboxes__input" id="a{index}-milestone-done-1" '
        r'name="milestone-done-1" type="checkbox" value="yes">\s*'
        rf'<label class="govuk-label govuk-checkboxes__label" for="a{index}-milestone-done-1">'
        r"Milestone 1: Developed \(due Feb 2024\)</label>",
        page,
    ), "no tick box for milestone 1 of 2.2"
    assert _missed(lead.engine, "2.2").startswith('Milestones 1 "Developed" (Feb 2024) and 2')

    saved = lead.post(
        "2.2",
        {"status": "Amber", "narrative": "Guidance developed; training in October",
         "milestone-done-1": "yes"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text

    assert _missed(lead.engine, "2.2") == (
        'Milestone 2 "Disseminated and training has occurred" (Jun 2024) missed'
    )
    with Session(lead.engine) as s:
        action = s.exec(select(Action).where(Action.ref == "2.2")).one()
        done = s.exec(
            select(StatusChange)
            .where(StatusChange.action_id == action.id, StatusChange.kind == "milestone_done")
            .order_by(col(StatusChange.id))
        ).one()
        ap = s.exec(select(Person).where(Person.code == "AP")).one()
        milestones = s.exec(
            select(Milestone)
            .where(Milestone.action_id == action.id)
            .order_by(col(Milestone.position))
        ).all()
    assert (done.channel, done.person_id, done.note) == (
        "form",
        ap.id,
        "Milestone 1 (Developed) marked done.",
    )
    assert done.reply_id is not None
    assert [m.complete for m in milestones] == [True, False]
    again = lead.client.get(lead.url).text
    assert f"a{index}-milestone-done-1" not in again and f"a{index}-milestone-done-2" in again
