"""Importing the real Plymouth plan, as the council wrote it, value by value."""

from __future__ import annotations

import gc
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import ImportOutcome, import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_CSV, PLAN_XLSX
from workflows.plan.mapping import load_mapping
from workflows.plan.merge import latest_cells
from workflows.store.models import (
    Action,
    ActionContributor,
    Area,
    ImportedRow,
    Milestone,
    Person,
    Plan,
    StatusChange,
)
from workflows.views.plan_list import list_actions


def _import(engine: Engine, path: Path = PLAN_XLSX, **kwargs: object) -> ImportOutcome:
    import_people(engine, PEOPLE_CSV, now=NOW)
    outcome = import_plan(engine, path, mapping=load_mapping(MAPPING), now=NOW, **kwargs)  # type: ignore[arg-type]
    assert outcome.errors == []
    return outcome


def _action(s: Session, ref: str) -> Action:
    return s.exec(select(Action).where(Action.ref == ref)).one()


def _codes(s: Session, action: Action) -> tuple[str | None, list[str]]:
    people = {p.id: p.code for p in s.exec(select(Person))}
    links = s.exec(
        select(ActionContributor)
        .where(ActionContributor.action_id == action.id)
        .order_by(ActionContributor.position)  # type: ignore[arg-type]
    )
    accountable = people.get(action.accountable_id) if action.accountable_id else None
    return accountable, [people[c.person_id] for c in links]


def test_it_imports_every_action_of_the_plymouth_plan_without_spurious_warnings(
    engine: Engine,
) -> None:
    outcome = _import(engine)
    assert outcome.actions == 76
    assert outcome.warnings == []
    with Session(engine) as s:
        refs = [a.ref for a in s.exec(select(Action).order_by(Action.position))]  # type: ignore[arg-type]
        plan = s.exec(select(Plan)).one()
    assert len(refs) == 76 and len(set(refs)) == 76
    assert refs[:3] == ["1.1", "1.2", "1.3"] and refs[9] == "1.10" and refs[-1] == "9.5"
    assert plan.code == "plymouth-send-2023"
    assert [v["value"] for v in plan.status_scale] == ["Blue", "Green", "Amber", "Red"]


def test_it_gives_the_unnumbered_action_a_stable_ref_from_its_area_and_position(
    engine: Engine,
) -> None:
    _import(engine)
    with Session(engine) as s:
        action = _action(s, "P7-01")
        area = s.get(Area, action.area_id)
        assert action.ref_generated
        assert action.title.startswith("Devon ICB will strengthen governance")
        assert area is not None and area.number == 7
        assert _codes(s, action) == ("HP", [])


def test_it_reads_areas_with_roman_numerals_and_their_senior_responsible_officers(
    engine: Engine,
) -> None:
    _import(engine)
    with Session(engine) as s:
        areas = {a.number: a for a in s.exec(select(Area))}
        people = {p.id: p.code for p in s.exec(select(Person))}
    assert sorted(areas) == list(range(1, 10))
    assert (areas[1].kind, areas[1].label) == ("Priority action area", "PRIORITY ACTION AREA I")
    assert areas[6].kind == "Improvement area"
    assert areas[1].title.startswith("Leaders, including Plymouth City Council")
    assert areas[6].sro_codes == ["RH", "AG", "MM"]
    assert areas[8].sro_codes == ["AG", "LS", "SN", "CW"]
    assert people[areas[4].sro_id] == "SS"


@pytest.mark.parametrize(
    ("ref", "accountable", "contributors"),
    [
        ("1.1", "TL", ["DH"]),
        ("1.2", "DH", ["HP", "MM"]),
        ("1.4", "DH", ["HP", "MM", "CP"]),
        ("2.5", "AP", ["MA", "MM", "HP"]),
        ("2.6", "DH", ["AG", "ND", "HP", "MM"]),
        ("5.8", "DH", ["CDT", "AP"]),
        ("6.10", "AP", ["FG", "DD", "DMO"]),
        ("8.1", "AP", ["MM", "HP", "CP"]),
        ("9.1", "TL", ["NA"]),
        ("9.2", "AG", ["AP"]),
        ("9.5", "AG", ["AP"]),
    ],
)
def test_it_resolves_every_lead_written_in_a_cell(
    engine: Engine, ref: str, accountable: str, contributors: list[str]
) -> None:
    _import(engine)
    with Session(engine) as s:
        assert _codes(s, _action(s, ref)) == (accountable, contributors)


@pytest.mark.parametrize(
    ("ref", "start", "due", "shown"),
    [
        ("1.1", date(2023, 8, 1), date(2023, 12, 31), "Dec 2023"),
        ("1.9", date(2023, 10, 1), date(2024, 2, 29), "Feb 2024"),
        ("1.6", date(2024, 1, 1), date(2024, 4, 30), "Apr 2024"),
        ("2.5", date(2023, 9, 1), date(2024, 4, 30), "Apr 2024"),
        ("7.6", date(2023, 1, 1), date(2023, 10, 31), "Oct 2023"),
        ("9.5", date(2023, 9, 1), date(2026, 9, 30), "Sep 2026"),
    ],
)
def test_it_keeps_month_precision_dates_as_the_end_of_the_month(
    engine: Engine, ref: str, start: date, due: date, shown: str
) -> None:
    _import(engine)
    with Session(engine) as s:
        action = _action(s, ref)
        lines = {line.ref: line for line in list_actions(s)}
    assert (action.start_date, action.start_precision) == (start, "month")
    assert (action.baseline_due, action.baseline_due_precision) == (due, "month")
    assert (action.forecast_due, action.forecast_due_precision) == (due, "month")
    assert lines[ref].due == shown


def test_it_keeps_the_qualifier_written_next_to_a_date(engine: Engine) -> None:
    _import(engine)
    with Session(engine) as s:
        assert _action(s, "1.6").due_note == "Reviewed annually"
        assert _action(s, "6.11").due_note == "at full staffing complement"
        assert _action(s, "3.5").baseline_due == date(2024, 7, 31)


def test_it_reads_completed_as_a_complete_status_with_no_due_date(engine: Engine) -> None:
    _import(engine)
    with Session(engine) as s:
        action = _action(s, "7.5")
        created = s.exec(select(StatusChange).where(StatusChange.action_id == action.id)).one()
    assert action.due_kind == "completed"
    assert action.baseline_due is None
    assert (action.status, action.status_label, action.embedded) == ("complete", "Green", False)
    assert (created.kind, created.channel, created.status_after) == (
        "created",
        "import",
        "complete",
    )


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (
            "2.5",
            [
                ("1", date(2024, 1, 1), date(2024, 4, 30)),
                ("2", date(2023, 9, 1), date(2023, 12, 31)),
                ("3", date(2023, 9, 1), date(2023, 12, 31)),
            ],
        ),
        (
            "2.2",
            [
                ("Developed", None, date(2024, 2, 29)),
                ("Disseminated and training has occurred", None, date(2024, 6, 30)),
            ],
        ),
        (
            "9.5",
            [
                ("Publication", None, date(2023, 11, 30)),
                ("Implementation", date(2024, 1, 1), date(2026, 9, 30)),
            ],
        ),
        (
            "3.2",
            [
                ("for programme to be developed", None, date(2023, 12, 31)),
                ("Programme roll out", date(2024, 1, 1), date(2024, 7, 31)),
            ],
        ),
        ("9.1", [("", None, date(2025, 3, 31)), ("Report", None, date(2024, 4, 30))]),
    ],
)
def test_it_turns_multi_part_dates_into_milestones(
    engine: Engine, ref: str, expected: list[tuple[str, date | None, date]]
) -> None:
    _import(engine)
    with Session(engine) as s:
        action = _action(s, ref)
        milestones = s.exec(
            select(Milestone).where(Milestone.action_id == action.id).order_by(Milestone.position)  # type: ignore[arg-type]
        ).all()
    assert [(m.label, m.start_date, m.baseline_due) for m in milestones] == expected
    assert all(m.baseline_due_precision == "month" for m in milestones)
    assert action.baseline_due == max(m.baseline_due for m in milestones)


def test_it_keeps_every_raw_cell_of_every_row(engine: Engine) -> None:
    _import(engine)
    with Session(engine) as s:
        action = _action(s, "2.5")
        rows = s.exec(select(ImportedRow).where(ImportedRow.action_id == action.id)).all()
        latest = latest_cells(s, action.plan_id)[action.id or 0]
    assert len(rows) == 1 and rows[0].row_number == 19
    cells = rows[0].cells
    assert cells["Completion date"] == "1) April 2024\n2) December 2023\n3) December 2023"
    assert cells["Ref"] == "2.5"
    assert len(cells) == 10  # every non-empty cell of the row, by header
    assert latest == cells


def test_it_reads_the_csv_export_exactly_as_the_workbook(engine: Engine) -> None:
    _import(engine, PLAN_XLSX, plan_code="from-xlsx")
    import_plan(engine, PLAN_CSV, mapping=load_mapping(MAPPING), now=NOW, plan_code="from-csv")
    with Session(engine) as s:
        lines = list_actions(s)
    by_plan: dict[str, list[tuple[object, ...]]] = {}
    for line in lines:
        by_plan.setdefault(line.plan, []).append(
            (line.ref, line.accountable, line.contributors, line.due, line.start, line.title)
        )
    assert len(by_plan["from-xlsx"]) == 76
    assert by_plan["from-xlsx"] == by_plan["from-csv"]


def test_it_keeps_plans_apart_in_one_database(engine: Engine) -> None:
    _import(engine, plan_code="plymouth-a")
    _import(engine, plan_code="plymouth-b")
    with Session(engine) as s:
        plans = s.exec(select(Plan)).all()
        actions = s.exec(select(Action)).all()
        areas = s.exec(select(Area)).all()
    assert sorted(p.code for p in plans) == ["plymouth-a", "plymouth-b"]
    assert len(actions) == 152 and len(areas) == 18


def test_a_dry_run_reports_everything_and_saves_nothing(engine: Engine) -> None:
    outcome = _import(engine, dry_run=True)
    assert outcome.actions == 76 and outcome.merge is not None and outcome.merge.created == 76
    with Session(engine) as s:
        assert s.exec(select(Action)).all() == []
        assert s.exec(select(Plan)).all() == []


def test_it_leaves_the_cycle_collector_on_after_an_import_that_works_or_fails(
    engine: Engine, tmp_path: Path
) -> None:
    # The import pauses the collector while it runs; a process that kept it off would grow.
    import_people(engine, PEOPLE_CSV, now=NOW)
    assert gc.isenabled()
    assert import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW).ok
    assert gc.isenabled()
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    assert not import_plan(engine, broken, mapping=load_mapping(MAPPING), now=NOW).ok
    assert gc.isenabled()
