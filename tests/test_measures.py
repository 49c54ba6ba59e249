"""Impact measures: RAG against the trajectory, direction of travel, slippage flags, the
scorecard import (merging, never losing a figure), readings by CSV and by email, bad input."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.cli import cli
from chaser.measures_import import import_readings_file
from tests.conftest import NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.measures_helpers import (
    PLAN,
    READINGS,
    SCORECARD,
    SCORECARD_HEADER,
    measure_row,
    reply_from,
    scorecard,
    with_plan,
    write_csv,
)
from workflows.measures.email import MeasureName, apply_emailed_figures, extract_figures
from workflows.measures.scoring import Definition, Point, assess, direction, expected_on, rag
from workflows.measures.store import ReadingError, record_reading, scorecard_lines
from workflows.store.models import Measure, MeasureReading, Person, Plan

EHCP = Definition(
    code="M1",
    name="EHCP 20-week timeliness",
    unit="%",
    baseline=40.0,
    baseline_period=date(2025, 3, 31),
    trajectory=(Point(date(2025, 9, 30), 60.0), Point(date(2026, 3, 31), 75.0)),
    first_period=date(2024, 4, 30),
)


def _series(*values: float, start: int = 4) -> list[Point]:
    months = [date(2025, m, 1) for m in range(start, start + len(values))]
    from workflows.measures.scoring import month_end

    return [Point(month_end(d.year, d.month), v) for d, v in zip(months, values, strict=True)]


def test_it_reads_the_expected_value_off_the_trajectory_between_its_points() -> None:
    assert expected_on(EHCP, date(2025, 9, 30)) == 60.0
    assert expected_on(EHCP, date(2025, 3, 31)) == 40.0  # the baseline starts the line
    mid = expected_on(EHCP, date(2025, 6, 30))
    assert mid is not None and 49 < mid < 51
    assert expected_on(EHCP, date(2027, 1, 31)) == 75.0  # after the last point: the last point


def test_it_rates_green_on_or_ahead_amber_within_15_percent_and_red_beyond() -> None:
    assert rag(60, 60, higher_is_better=True, amber_within=15) == "green"
    assert rag(65, 60, higher_is_better=True, amber_within=15) == "green"
    assert rag(51, 60, higher_is_better=True, amber_within=15) == "amber"  # 15% of 60 is 9
    assert rag(50.9, 60, higher_is_better=True, amber_within=15) == "red"
    # lower is better: waiting 23 weeks against 20 expected is 15% over, still amber
    assert rag(23, 20, higher_is_better=False, amber_within=15) == "amber"
    assert rag(24, 20, higher_is_better=False, amber_within=15) == "red"
    assert rag(18, 20, higher_is_better=False, amber_within=15) == "green"


def test_it_gives_the_direction_of_travel_against_the_previous_period() -> None:
    assert direction(58, 57, higher_is_better=True) == "improving"
    assert direction(25, 26, higher_is_better=False) == "improving"
    assert direction(25, 25, higher_is_better=False) == "no change"
    status = assess(EHCP, _series(49, 53, 50), date(2025, 7, 10))
    assert (status.latest, status.previous) == (
        Point(date(2025, 6, 30), 50),
        Point(date(2025, 5, 31), 53),
    )
    assert status.direction == "worsening" and status.arrow == "↓"


def test_it_flags_off_trajectory_missing_and_worse_for_two_periods() -> None:
    status = assess(EHCP, _series(49, 47, 40), date(2025, 8, 12))
    kinds = [f.kind for f in status.flags]
    assert kinds == ["off_trajectory", "missing_reading", "worsened"]
    off, missing, worse = status.flags
    assert "40% for Jun 2025" in off.message and "more than 15% off" in off.message
    assert missing.message.endswith("no figure for Jul 2025")
    assert "49% → 47% → 40%" in worse.message
    # on trajectory, reported, improving: no flags
    good = assess(EHCP, _series(47, 50, 53), date(2025, 7, 3))
    assert good.flags == () and good.rag == "green"


def test_it_keeps_the_latest_figure_given_for_a_period_and_ignores_future_periods() -> None:
    late_fix = [*_series(49, 53), Point(date(2025, 5, 31), 51.0), Point(date(2025, 12, 31), 99)]
    status = assess(EHCP, late_fix, date(2025, 6, 2))
    assert status.latest == Point(date(2025, 5, 31), 51.0)


def test_it_imports_the_plymouth_scorecard_with_every_figure(engine: Engine) -> None:
    with_plan(engine)
    outcome = scorecard(engine)
    assert outcome.errors == [] and outcome.warnings == []
    assert outcome.counts["created"] == 5 and outcome.counts["readings_added"] == 20
    with Session(engine) as s:
        m1 = s.exec(select(Measure).where(Measure.code == "M1")).one()
        owner = s.get(Person, m1.owner_id)
        assert owner is not None and owner.code == "AP"
        assert m1.unit == "%" and m1.higher_is_better and m1.amber_within == 15
        assert m1.action_refs == ["6.10", "6.11"] and m1.action_id is not None
        assert m1.trajectory == [
            {"date": "2025-09-30", "value": 60.0},
            {"date": "2026-03-31", "value": 75.0},
        ]
        assert m1.targets == [{"date": "2026-03-31", "value": 75.0}]
        m2 = s.exec(select(Measure).where(Measure.code == "M2")).one()
        assert not m2.higher_is_better
        readings = s.exec(select(MeasureReading).where(MeasureReading.measure_id == m1.id)).all()
        assert [(r.period_end, r.value) for r in readings] == [
            (date(2025, 4, 30), 49),
            (date(2025, 5, 31), 53),
            (date(2025, 6, 30), 57),
            (date(2025, 7, 31), 58),
        ]
        assert {r.given_by for r in readings} == {"Morwenna Tregear"}
        assert readings[0].source == "plymouth_scorecard_2025.xlsx Q3"
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        assert plan.id is not None
        lines = {x.code: x for x in scorecard_lines(s, plan.id, date(2025, 8, 20))}
        later = {x.code: x for x in scorecard_lines(s, plan.id, date(2025, 9, 2))}
    m4 = lines["M4"].status
    assert m4.rag == "amber" and m4.direction == "worsening"
    assert [f.kind for f in m4.flags] == ["worsened"]
    # In September the August figure is due, and nobody has given it yet.
    assert [f.kind for f in later["M4"].status.flags] == ["missing_reading", "worsened"]


def test_it_merges_a_reimported_scorecard_and_never_loses_a_figure(
    engine: Engine, tmp_path: Path
) -> None:
    with_plan(engine)
    first = write_csv(tmp_path / "card.csv", SCORECARD_HEADER, [measure_row()])
    assert scorecard(engine, first).ok
    # The council corrects May, leaves April out, and moves the target.
    again = write_csv(
        tmp_path / "card2.csv",
        SCORECARD_HEADER,
        [measure_row(**{"Apr 2025": "", "May 2025": 52, "Target": 80})],
    )
    outcome = scorecard(engine, again)
    assert outcome.ok
    assert outcome.counts == {
        "measures": 1, "created": 0, "updated": 1, "unchanged": 0,
        "readings_added": 1, "readings_unchanged": 0,
    }  # fmt: skip
    with Session(engine) as s:
        m1 = s.exec(select(Measure).where(Measure.code == "M1")).one()
        assert m1.target == 80
        kept = s.exec(
            select(MeasureReading)
            .where(MeasureReading.measure_id == m1.id)
            .order_by(col(MeasureReading.id))
        ).all()
        assert [(r.period_end.month, r.value, r.source) for r in kept] == [
            (4, 49, "card.csv Q3"),
            (5, 53, "card.csv R3"),
            (5, 52, "card2.csv R3"),
        ]
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        assert plan.id is not None
        line = scorecard_lines(s, plan.id, date(2025, 6, 5))[0]
    assert line.status.latest == Point(date(2025, 5, 31), 52)  # the correction supersedes
    # The same file a third time changes nothing.
    third = scorecard(engine, again)
    assert third.counts["unchanged"] == 1 and third.counts["readings_added"] == 0


def test_it_refuses_a_scorecard_with_bad_figures_naming_the_cell_and_what_is_expected(
    engine: Engine, tmp_path: Path
) -> None:
    with_plan(engine)
    bad = write_csv(
        tmp_path / "bad.csv",
        SCORECARD_HEADER,
        [
            measure_row(**{"Apr 2025": "sixty", "May 2025": "104%"}),
            measure_row(
                Ref="M2",
                Measure="Weeks to issue",
                Unit="weeks",
                **{"Good is": "Lower", "From": "May 2025", "Trajectory": "Sep 2025: 24"},
            ),
        ],
    )
    outcome = scorecard(engine, bad)
    assert not outcome.ok
    by_kind = {e.kind: e for e in outcome.errors}
    assert set(by_kind) == {"not_a_number", "over_100_percent", "period_out_of_range"}
    nan = by_kind["not_a_number"]
    assert (nan.row, nan.column, nan.header, nan.value) == (3, "Q", "Apr 2025", "sixty")
    assert "is not a number; write a number, like 61 or 61.5" in nan.message
    over = by_kind["over_100_percent"]
    assert (over.column, over.value) == ("R", "104%")
    assert "a figure from 0 to 100" in over.message
    outside = by_kind["period_out_of_range"]
    assert outside.ref == "M2" and outside.header == "Apr 2025"
    assert "outside the periods of 'Weeks to issue' (May 2025 to Mar 2027)" in outside.message
    with Session(engine) as s:
        assert s.exec(select(Measure)).all() == []  # all or nothing


def test_it_imports_figures_from_a_csv_with_who_gave_them(engine: Engine) -> None:
    with_plan(engine)
    scorecard(engine)
    outcome = import_readings_file(
        engine, READINGS, plan_code=PLAN, now=NOW, given_by="Morwenna Tregear"
    )
    assert outcome.ok and outcome.counts == {"readings_added": 2, "readings_unchanged": 0}
    with Session(engine) as s:
        m5 = s.exec(select(Measure).where(Measure.code == "M5")).one()
        latest = s.exec(
            select(MeasureReading)
            .where(MeasureReading.measure_id == m5.id)
            .order_by(col(MeasureReading.id).desc())
        ).first()
    assert latest is not None
    assert (latest.period_end, latest.value) == (date(2025, 8, 31), 8610)
    assert (latest.given_by, latest.channel) == ("Local Offer team", "import")
    assert latest.source == "plymouth_readings_aug_2025.csv row 3"


def test_it_reports_every_bad_row_of_a_readings_csv_and_keeps_none(
    engine: Engine, tmp_path: Path
) -> None:
    with_plan(engine)
    scorecard(engine)
    path = tmp_path / "readings.csv"
    path.write_text(
        "Measure,Period,Value\nM1,Aug 2025,61%\nM1,Sep 2025,abc\nM1,Mar 2030,50\n"
        "M4,Aug 2025,120\nM9,Aug 2025,3\nM2,Augtember,20\n",
        encoding="utf-8",
    )
    outcome = import_readings_file(engine, path, plan_code=PLAN, now=NOW, given_by="x")
    kinds = [(e.row, e.kind, e.column) for e in outcome.errors]
    assert kinds == [
        (3, "not_a_number", "C"),
        (4, "period_out_of_range", "B"),
        (5, "over_100_percent", "C"),
        (6, "unknown_measure", "A"),
        (7, "unreadable_period", "B"),
    ]
    assert (
        "readings.csv row 3, column C (Value): EHCP 20-week timeliness" in outcome.errors[0].message
    )
    assert "codes: M1, M2, M3, M4, M5" in outcome.errors[3].message
    with Session(engine) as s:
        assert len(s.exec(select(MeasureReading)).all()) == 20  # the row that was fine too: none


def test_it_finds_figures_written_in_an_emailed_reply() -> None:
    names = [
        MeasureName(1, "M1", "EHCP 20-week timeliness (new EHCPs issued within 20 weeks)"),
        MeasureName(2, "M2", "Average weeks to issue a new EHCP"),
    ]
    text = (
        "Hi Morwenna,\n\nEHCP 20-week timeliness: 61%\nM2 = 24.5 weeks\n"
        "Average weeks to issue a new EHCP (Jul 2025): 25\nStatus: amber\n"
        "> EHCP 20-week timeliness: 12%\n"
    )
    found = extract_figures(text, names)
    assert [(f.code, f.value, f.period) for f in found] == [
        ("M1", "61%", ""),
        ("M2", "24.5 weeks", ""),
        ("M2", "25", "Jul 2025"),
    ]


def test_it_keeps_emailed_figures_as_readings_from_the_sender_and_says_why_not(
    engine: Engine,
) -> None:
    with_plan(engine)
    scorecard(engine)
    reply = reply_from(engine, "AP", at=NOW)
    sender, reply_id = reply.person_id, reply.id
    text = "EHCP 20-week timeliness: 61%\nM4: 104\nM2 for Jul 2025: 24\n"
    with Session(engine) as s:
        s.add(reply)
        results = apply_emailed_figures(s, reply, text, now=date_at(2025, 9, 3))
        s.commit()
        assert [(r.code, r.kept) for r in results] == [("M1", True), ("M4", False), ("M2", True)]
        assert "over 100, but the measure is a percentage" in results[1].problem
        m1 = s.exec(select(Measure).where(Measure.code == "M1")).one()
        got = s.exec(
            select(MeasureReading)
            .where(MeasureReading.measure_id == m1.id)
            .order_by(col(MeasureReading.id).desc())
        ).first()
    assert got is not None
    assert (got.period_end, got.value, got.channel) == (date(2025, 8, 31), 61, "email")
    assert (got.person_id, got.reply_id) == (sender, reply_id)


def date_at(y: int, m: int, d: int):  # type: ignore[no-untyped-def]
    from tests.measures_helpers import at

    return at(y, m, d)


def test_it_refuses_a_figure_that_is_not_a_number_or_outside_the_range(engine: Engine) -> None:
    with_plan(engine)
    scorecard(engine)
    with Session(engine) as s:
        m1 = s.exec(select(Measure).where(Measure.code == "M1")).one()
        with pytest.raises(ReadingError, match=r"'about half' is not a number"):
            record_reading(s, m1, value="about half", period="Aug 2025", now=NOW, channel="form")
        with pytest.raises(
            ReadingError, match=r"Jan 2024 is outside the periods .*\(Apr 2024 to Mar 2027\)"
        ):
            record_reading(s, m1, value=50, period="2024-01", now=NOW, channel="form")


def test_it_imports_and_lists_the_scorecard_from_the_command_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> tuple[int, str, str]:
        r = CliRunner().invoke(cli, ["--db", db, "--config", str(ROOT / "config"), *args])
        return r.exit_code, r.stdout, r.stderr

    assert run("db", "upgrade")[0] == 0
    run("people", "import", str(PEOPLE_CSV))
    run("plan", "import", str(PLAN_XLSX))
    code, out, _ = run("measures", "import", str(SCORECARD))
    assert code == 0, out
    assert "5 measures, 5 created" in out and "20 readings added" in out
    code, out, _ = run("measures", "list", "--on", "2025-08-20", "--json")
    listed = {m["code"]: m for m in json.loads(out)}
    assert listed["M1"]["latest"] == {"period": "2025-07-31", "value": 58.0}
    assert listed["M1"]["rag"] == "green" and listed["M1"]["direction"] == "improving"
    code, out, _ = run("measures", "list", "--on", "2025-08-20")
    assert "M4    Annual reviews completed within 12 months: 60% (Jul 2025) ↓ worsening" in out
    assert "worse for 2 periods in a row (63% → 62% → 60%)" in out
    bad = tmp_path / "r.csv"
    bad.write_text("Measure,Period,Value\nM1,Aug 2025,lots\n", encoding="utf-8")
    code, _, err = run("measures", "readings", str(bad))
    assert code == 1
    assert "r.csv row 2, column C (Value)" in err and "nothing was imported" in err
