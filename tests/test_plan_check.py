"""`chaser plan check`: what Chaser makes of a workbook, and who would never be chased."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from chaser.cli import cli
from integrations.spreadsheets import read_grid
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.plan_builders import SMALL_MAPPING, write_mapping, write_workbook
from workflows.calendar.cycles import load_cycles
from workflows.chasing.config import load_chasing
from workflows.plan.check import PlanCheck, chase_setup, check_plan
from workflows.plan.leads import DirectoryEntry
from workflows.plan.mapping import load_mapping
from workflows.plan.reading import read_plan

TORBAY = ROOT / "chaser" / "samples" / "torbay"
SOUTHEND = ROOT / "chaser" / "samples" / "southend"
TORBAY_BOOK = TORBAY / "torbay_send_strategy_2024.xlsx"
SOUTHEND_BOOK = SOUTHEND / "southend_wsoa_2019.xlsx"
TORBAY_MAPPING = ROOT / "config" / "mappings" / "torbay.yaml"
SOUTHEND_MAPPING = ROOT / "config" / "mappings" / "southend.yaml"


def _torbay_people() -> list[DirectoryEntry]:
    import csv

    with (TORBAY / "torbay_people.csv").open(encoding="utf-8", newline="") as f:
        return [DirectoryEntry(r["code"], r["name"], r["role"]) for r in csv.DictReader(f)]


def _torbay(config: Path = TORBAY / "config") -> PlanCheck:
    mapping = load_mapping(TORBAY_MAPPING)
    parsed = read_plan(read_grid(TORBAY_BOOK, mapping.sheet), mapping, _torbay_people())
    cycles = load_cycles(config / "cycles.yaml")
    setup = chase_setup(cycles, load_chasing(config / "chasing.yaml", groups=cycles.codes))
    return check_plan(parsed, mapping=mapping.name, plan_code=mapping.plan.code, setup=setup)


def test_it_counts_the_actions_of_each_area_and_the_meetings_that_cover_it() -> None:
    report = _torbay()
    assert [(a.number, a.actions, a.meetings) for a in report.areas] == [
        (1, 4, ("SSB",)),
        (2, 3, ("SSB",)),
        (3, 3, ("SSB",)),
        (4, 3, ("SSB",)),
        (5, 3, ()),
    ]
    assert report.areas[2].title.startswith("Understand the needs of our children")


def test_it_says_which_actions_no_meeting_will_chase_and_why() -> None:
    report = _torbay()
    reasons = {u.reason: (u.rows, u.refs, u.fix) for u in report.unchased}
    assert reasons["area 5 is in no chased meeting's scope (SSB)"] == (
        (17, 18, 19),
        ("P5.1", "P5.2", "P5.3"),
        "add 5 to `plan_areas` of SSB or of a group reporting to one of them in cycles.yaml",
    )
    assert reasons["no resolved lead, so there is nobody to chase"][:2] == (
        (9, 18),
        ("2.2", "P5.2"),
    )
    assert report.chased == 12  # 16 actions: 3 in area 5, and 2.2 has no resolved lead


def test_it_groups_unresolved_lead_cells_and_counts_the_dates_by_how_they_are_written() -> None:
    report = _torbay()
    assert report.leads_resolved == 14
    assert [(u.text, u.rows) for u in report.leads_unresolved] == [
        ("Designated Clinical Officer", (9, 18))
    ]
    assert {d.form: len(d.rows) for d in report.dates} == {
        "month": 2,
        "quarter": 7,
        "term": 5,
        "TBC": 2,
    }


def test_it_says_when_chasing_yaml_chases_another_plan() -> None:
    report = _torbay(ROOT / "config")  # the shipped Plymouth configuration
    (only,) = report.unchased
    assert only.reason == (
        "chasing.yaml chases plan 'plymouth-send-2023', not 'torbay-send-strategy-2024'"
    )
    assert len(only.rows) == 16 and report.chased == 0


def test_it_says_an_action_in_no_area_is_in_no_meetings_scope(tmp_path: Path) -> None:
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [
            ["To identify need early", None, "Screen", "Head of SEND (AP)", "May 2024"],
            ["Priority 1", "1.1", "Train", "Head of SEND (AP)", "Spring term 2025", "Blue"],
        ],
    )
    mapping = load_mapping(write_mapping(tmp_path, SMALL_MAPPING))
    people = [DirectoryEntry("AP", "Aisha Pendleford", "Head of SEND")]
    parsed = read_plan(read_grid(book, "Plan"), mapping, people)
    cycles = load_cycles(ROOT / "config" / "cycles.yaml")
    chasing = load_chasing(ROOT / "config" / "chasing.yaml").model_copy(
        update={"plan": "small-plan"}
    )
    report = check_plan(
        parsed, mapping="small", plan_code="small-plan", setup=chase_setup(cycles, chasing)
    )
    assert [(u.reason, u.rows) for u in report.unchased] == [
        ("in no area (area 0), so no meeting's scope covers it", (3,)),
        ("Blue: complete and embedded, never chased again", (4,)),
    ]
    assert [(a.number, a.actions) for a in report.areas] == [(1, 1), (None, 1)]


# -- the verb --------------------------------------------------------------------------------


def _run(tmp_path: Path, config: Path, *args: str) -> tuple[int, str, str]:
    db = f"sqlite:///{tmp_path / 'check.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def test_it_reports_the_southend_plan_to_a_person(tmp_path: Path) -> None:
    code, out, err = _run(
        tmp_path,
        SOUTHEND / "config",
        "plan",
        "check",
        str(SOUTHEND_BOOK),
        "--mapping",
        str(SOUTHEND_MAPPING),
        "--people",
        str(SOUTHEND / "southend_people.csv"),
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith(
        "sheet 'WSoA Action Plan', layout 'southend', plan southend-send-wsoa-2019: 20 actions "
        "below the header in row 4. Nothing was saved."
    )
    area_lines = lines[lines.index("Actions per area:") + 1 :][:5]
    assert [line.split()[0] for line in area_lines] == ["1", "2", "3", "4", "5"]
    assert area_lines[0].split()[1:3] == ["To", "develop"] and area_lines[0].endswith("5  SPB")
    assert "Leads: 18 of 20 actions have a resolved accountable lead." in lines
    assert "  not resolved: 'Virtual School lead': 1 action, row 22 (A3.3)" in lines
    assert (
        "Due dates: 2 day, 10 month, 1 quarter, 1 term, 1 year, 1 range, 2 TBC, 1 completed, "
        "1 unreadable"
    ) in lines
    assert (
        "Chasing (plan southend-send-wsoa-2019, meetings SPB): 18 of 20 actions are in a chased "
        "meeting's scope with a lead."
    ) in lines
    assert "Warnings (6):" in lines


def test_it_reports_json_and_saves_nothing(tmp_path: Path) -> None:
    code, out, err = _run(
        tmp_path,
        ROOT / "config",
        "plan",
        "check",
        str(PLAN_XLSX),
        "--people",
        str(PEOPLE_CSV),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["actions"] == 76 and report["people"] == 27 and report["warnings"] == []
    assert [a["number"] for a in report["areas"]] == list(range(1, 10))
    assert report["chasing"]["meetings"] == ["SIB", "SSDG"]
    assert report["chasing"]["chased"] == 76 and report["chasing"]["not_chased"] == []
    code, out, _ = _run(tmp_path, ROOT / "config", "plan", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_it_reads_leads_from_the_store_when_no_csv_is_given(tmp_path: Path) -> None:
    assert _run(tmp_path, ROOT / "config", "people", "import", str(PEOPLE_CSV))[0] == 0
    code, out, _ = _run(tmp_path, ROOT / "config", "plan", "check", str(PLAN_XLSX))
    assert code == 0 and "Leads: 76 of 76 actions have a resolved accountable lead." in out
    assert "people directory is empty" not in out


def test_it_says_when_no_lead_can_be_resolved(tmp_path: Path) -> None:
    code, out, _ = _run(
        tmp_path, ROOT / "config", "plan", "check", str(PLAN_XLSX), "--mapping", str(MAPPING)
    )
    assert code == 0
    assert "Leads: 0 of 76 actions have a resolved accountable lead." in out
    assert out.rstrip().endswith(
        "The people directory is empty, so no lead could be resolved: pass --people FILE.csv, "
        "or run `chaser people import FILE.csv` first."
    )


def test_it_refuses_a_file_in_another_layout_with_one_line(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, ROOT / "config", "plan", "check", str(TORBAY_BOOK))
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "there is no sheet 'Action Plan'; the workbook has 'Delivery plan'" in err
    code, out, err = _run(
        tmp_path, ROOT / "config", "plan", "check", str(TORBAY_BOOK), "--sheet", "Delivery plan"
    )
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "not in the 'plymouth' layout" in err and "--mapping" in err


def test_it_picks_the_mapping_of_the_plan_named(tmp_path: Path) -> None:
    code, out, err = _run(
        tmp_path,
        ROOT / "config",
        "plan",
        "check",
        str(TORBAY_BOOK),
        "--plan",
        "torbay-send-strategy-2024",
        "--people",
        str(TORBAY / "torbay_people.csv"),
    )
    assert code == 0, err
    assert "layout 'torbay', plan torbay-send-strategy-2024: 16 actions" in out
