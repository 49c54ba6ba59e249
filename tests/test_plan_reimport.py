"""Re-importing an edited workbook: merge by ref, keep baselines, never lose what leads said."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.importing import ImportOutcome, import_people, import_plan
from integrations.spreadsheets import read_grid
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_CSV
from tests.plan_builders import csv_rows, write_csv, write_mapping, write_workbook
from workflows.plan.mapping import load_mapping
from workflows.plan.merge import merge_plan
from workflows.plan.people import directory
from workflows.plan.reading import Problem, read_plan
from workflows.store.models import (
    Action,
    ActionContributor,
    ChangeKind,
    Channel,
    Milestone,
    Person,
    StatusChange,
)
from workflows.views.action_history import action_history

LATER = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)


def _rows() -> list[dict[str, str]]:
    return csv_rows(PLAN_CSV)


def _imported_with_its_unnumbered_row(
    engine: Engine,
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The sample plan imported; its rows to edit, and among them the one without a ref
    (P7-01)."""
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    rows = _rows()
    return rows, next(r for r in rows if r["Ref"] == "")


def _import(engine: Engine, path: Path, now: datetime = NOW) -> ImportOutcome:
    outcome = import_plan(engine, path, mapping=load_mapping(MAPPING), now=now)
    assert outcome.errors == []
    return outcome


def _action(s: Session, ref: str) -> Action:
    return s.exec(select(Action).where(Action.ref == ref)).one()


def _history(s: Session, action: Action) -> list[StatusChange]:
    return list(
        s.exec(
            select(StatusChange)
            .where(StatusChange.action_id == action.id)
            .order_by(StatusChange.id)  # type: ignore[arg-type]
        )
    )


def _report_amber(engine: Engine, ref: str) -> None:
    """The lead reported Amber since the import (as a reply would set it)."""
    with Session(engine) as s:
        action = _action(s, ref)
        action.status, action.status_label = "on_track", "Amber"
        s.commit()


def test_it_changes_nothing_when_the_same_workbook_comes_back(engine: Engine) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    again = _import(engine, PLAN_CSV, LATER)
    assert again.merge is not None
    assert again.merge.as_dict() | {"plan": ""} == {
        "plan": "",
        "created": 0,
        "updated": 0,
        "unchanged": 76,
        "withdrawn": 0,
        "reinstated": 0,
        "forecast_changes": 0,
        "status_changes": 0,
    }


def test_a_changed_due_date_becomes_a_forecast_change_and_the_baseline_stays(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    _report_amber(engine, "1.1")
    rows = _rows()
    row = next(r for r in rows if r["Ref"] == "1.1")
    row["Completion date"] = "March 2024"
    outcome = _import(engine, write_csv(tmp_path / "edited.csv", rows), LATER)
    assert outcome.merge is not None and outcome.merge.forecast_changes == 1
    with Session(engine) as s:
        action = _action(s, "1.1")
        history = _history(s, action)
    assert (action.baseline_due, action.baseline_due_precision) == (date(2023, 12, 31), "month")
    assert (action.forecast_due, action.forecast_due_precision) == (date(2024, 3, 31), "month")
    change = history[-1]
    assert (change.kind, change.channel, change.recorded_at) == ("forecast", "import", LATER)
    assert (change.due_before, change.due_after) == (date(2023, 12, 31), date(2024, 3, 31))
    # The status it had stays in its history: the digest reads the status at past meetings there.
    assert (change.status_before, change.status_after, change.status_label_after) == (
        "on_track",
        "on_track",
        "Amber",
    )


def test_a_removed_action_is_withdrawn_never_deleted_and_comes_back_reinstated(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    _report_amber(engine, "1.2")
    rows = _rows()
    without = [r for r in rows if r["Ref"] != "1.2"]
    first = _import(engine, write_csv(tmp_path / "cut.csv", without), LATER)
    assert first.merge is not None and first.merge.withdrawn == 1
    with Session(engine) as s:
        action = _action(s, "1.2")
        assert action.withdrawn
        assert [h.kind for h in _history(s, action)] == ["created", "withdrawn"]
    back = _import(engine, PLAN_CSV, LATER)
    assert back.merge is not None and back.merge.reinstated == 1
    with Session(engine) as s:
        action = _action(s, "1.2")
        assert not action.withdrawn
        history = _history(s, action)
        assert [h.kind for h in history] == ["created", "withdrawn", "reinstated"]
        assert [(h.status_after, h.status_label_after) for h in history[1:]] == [
            ("on_track", "Amber"),
            ("on_track", "Amber"),
        ]


def test_nothing_recorded_from_replies_is_lost_on_reimport(engine: Engine, tmp_path: Path) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    with Session(engine) as s:
        action = _action(s, "2.5")
        assert action.id is not None
        # a lead reported a slip by email
        action.status, action.status_label = "off_track", "Red"
        action.forecast_due, action.forecast_due_precision = date(2024, 9, 30), "month"
        action.progress = "Recruitment delayed"
        s.add(
            StatusChange(
                action_id=action.id,
                recorded_at=NOW,
                channel=Channel.EMAIL,
                kind=ChangeKind.STATUS,
                status_before=None,
                status_after="off_track",
                due_after=date(2024, 9, 30),
                narrative="Recruitment delayed",
            )
        )
        s.commit()
    rows = _rows()
    next(r for r in rows if r["Ref"] == "1.1")["Completion date"] = "March 2024"
    _import(engine, write_csv(tmp_path / "edited.csv", rows), LATER)
    with Session(engine) as s:
        action = _action(s, "2.5")
        kinds = [(h.kind, h.channel) for h in _history(s, action)]
    assert (action.status, action.status_label) == ("off_track", "Red")
    assert action.progress == "Recruitment delayed"
    assert action.forecast_due == date(2024, 9, 30)
    assert action.baseline_due == date(2024, 4, 30)
    assert kinds == [("created", "import"), ("status", "email")]


def test_an_unnumbered_action_is_matched_by_its_wording_and_the_match_is_reported(
    engine: Engine, tmp_path: Path
) -> None:
    rows, unnumbered = _imported_with_its_unnumbered_row(engine)
    unnumbered["Actions to deliver"] = unnumbered["Actions to deliver"].replace(
        "Devon ICB will strengthen", "Devon ICB will further strengthen"
    )
    unnumbered["Completion date"] = "June 2024"
    outcome = _import(engine, write_csv(tmp_path / "edited.csv", rows), LATER)
    matches = [w for w in outcome.warnings if w.kind == "matched_by_wording"]
    assert len(matches) == 1
    assert matches[0].ref == "P7-01" and "% alike" in matches[0].message
    with Session(engine) as s:
        action = _action(s, "P7-01")
        assert action.title.startswith("Devon ICB will further strengthen")
        assert (action.baseline_due, action.forecast_due) == (date(2024, 4, 30), date(2024, 6, 30))
        assert len(s.exec(select(Action)).all()) == 76


def test_a_status_changed_in_the_workbook_is_applied_but_an_unchanged_one_never_overwrites(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    mapping = load_mapping(write_mapping(tmp_path))
    header = ["Priority", "Ref", "Action", "Lead", "Due", "RAG", "Progress"]
    rows: list[list[object]] = [
        ["Priority 1", "1.1", "One", "Head of SEND (AP)", "May 2024", "Amber"],
        ["Priority 1", "1.2", "Two", "Head of SEND (AP)", "May 2024", "Amber"],
    ]
    book = write_workbook(tmp_path / "v1.xlsx", rows, header=header)
    import_plan(engine, book, mapping=mapping, now=NOW)
    with Session(engine) as s:  # both leads report Red since
        for ref in ("1.1", "1.2"):
            a = _action(s, ref)
            a.status, a.status_label = "off_track", "Red"
        s.commit()
    rows[0][5] = "Blue"  # the secretary marks 1.1 complete and embedded in the workbook
    book = write_workbook(tmp_path / "v2.xlsx", rows, header=header)
    outcome = import_plan(engine, book, mapping=mapping, now=LATER)
    assert outcome.merge is not None and outcome.merge.status_changes == 1
    with Session(engine) as s:
        one, two = _action(s, "1.1"), _action(s, "1.2")
        change = _history(s, one)[-1]
    assert (one.status, one.status_label, one.embedded) == ("complete", "Blue", True)
    assert (change.status_before, change.status_after) == ("off_track", "complete")
    assert (two.status, two.status_label) == ("off_track", "Red")


def _contributors(s: Session, action: Action) -> list[str]:
    rows = s.exec(
        select(Person.code)
        .join(ActionContributor, col(ActionContributor.person_id) == Person.id)
        .where(ActionContributor.action_id == action.id)
        .order_by(col(ActionContributor.position))
    )
    return list(rows)


def _milestones(s: Session, action: Action) -> list[tuple[str, date, date]]:
    found = s.exec(
        select(Milestone).where(Milestone.action_id == action.id).order_by(col(Milestone.position))
    )
    return [(m.label, m.baseline_due, m.forecast_due) for m in found]


def test_a_reimport_replaces_changed_contributors_and_moves_changed_milestones_only(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    with Session(engine) as s:
        before_34 = _contributors(s, _action(s, "3.4"))
        before_25 = _milestones(s, _action(s, "2.5"))
        before_1_9 = _contributors(s, _action(s, "1.9"))
    assert before_34 == ["JB"] and before_1_9 == ["AG"]
    assert [m[1] for m in before_25] == [date(2024, 4, 30), date(2023, 12, 31), date(2023, 12, 31)]
    rows = _rows()
    row_34 = next(r for r in rows if r["Ref"] == "3.4")
    row_34["Lead"] = "Head of SEND (AP) Head of Targeted Support (MA) Director EPS (AG)"
    row_25 = next(r for r in rows if r["Ref"] == "2.5")
    row_25["Completion date"] = "1) June 2024\n2) December 2023\n3) December 2023"
    outcome = _import(engine, write_csv(tmp_path / "edited.csv", rows), LATER)
    assert outcome.merge is not None
    with Session(engine) as s:
        assert _contributors(s, _action(s, "3.4")) == ["MA", "AG"]
        assert _contributors(s, _action(s, "1.9")) == before_1_9
        moved = _milestones(s, _action(s, "2.5"))
        history = _history(s, _action(s, "2.5"))
    assert [m[1] for m in moved] == [m[1] for m in before_25]  # baselines stay
    assert [m[2] for m in moved] == [date(2024, 6, 30), date(2023, 12, 31), date(2023, 12, 31)]
    assert [h.kind for h in history].count(ChangeKind.MILESTONE_FORECAST) == 1


def test_a_reinstated_action_keeps_what_a_lead_reported_while_its_cells_are_unchanged(
    engine: Engine, tmp_path: Path
) -> None:
    """The workbook is compared with the action's own latest row (two imports back here), not
    with the previous import, which did not hold it."""
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    without = [r for r in _rows() if r["Ref"] != "1.2"]
    _import(engine, write_csv(tmp_path / "cut.csv", without), LATER)
    reported = date(2025, 6, 30)
    with Session(engine) as s:
        action = _action(s, "1.2")
        action.forecast_due, action.forecast_due_precision = reported, "day"
        s.add(action)
        s.commit()
    back = _import(engine, PLAN_CSV, LATER)
    assert back.merge is not None and back.merge.reinstated == 1
    assert back.merge.forecast_changes == 0
    with Session(engine) as s:
        action = _action(s, "1.2")
        kinds = [h.kind for h in _history(s, action)]
    assert (action.withdrawn, action.forecast_due) == (False, reported)
    assert kinds == ["created", "withdrawn", "reinstated"]


def test_it_records_what_a_reimport_changed_in_an_actions_wording_and_people(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    _report_amber(engine, "3.4")
    rows = _rows()
    row = next(r for r in rows if r["Ref"] == "3.4")
    row["Lead"] = "Head of SEND (AP) Director EPS (AG)"
    row["Task and Finish Group"] = "Early identification"
    row["Outcome statements from children, young people, parents & carers"] = (
        "Children are identified earlier."
    )
    outcome = _import(engine, write_csv(tmp_path / "edited.csv", rows), LATER)
    assert outcome.merge is not None and outcome.merge.updated == 1
    with Session(engine) as s:
        history = _history(s, _action(s, "3.4"))
        others = s.exec(select(StatusChange).where(col(StatusChange.recorded_at) == LATER)).all()
    change = history[-1]
    assert (change.kind, change.channel, change.recorded_at) == ("edited", "import", LATER)
    assert change.note == (
        "lead: Head of SEND (AP) Head of Education (JB) to Head of SEND (AP) Director EPS (AG); "
        "reporting group: Inclusion to Early identification; "
        "outcomes: none to Children are identified earlier.; "
        "contributors: JB to AG"
    )
    assert (change.status_after, change.status_label_after) == ("on_track", "Amber")
    assert change.import_run_id == outcome.merge.import_run_id
    assert [c.action_id for c in others] == [change.action_id]  # no other action changed
    with Session(engine) as s:
        page = action_history(s, "plymouth-send-2023", "3.4")
    assert page is not None
    shown = page.history[0]
    assert (shown.what, shown.how, shown.note) == (
        "Changed in the workbook",
        "Plan import",
        change.note,
    )
    assert not shown.status_changed


def test_a_session_holding_the_plans_rows_sees_what_the_merge_changed(
    engine: Engine, tmp_path: Path
) -> None:
    """The merge writes its changes through SQL Core, which the ORM does not see: a caller's
    session holding the plan's actions and milestones (the browser's upload compares the plan
    before and after in one) reads them again rather than keeping the old values."""
    import_people(engine, PEOPLE_CSV, now=NOW)
    _import(engine, PLAN_CSV)
    rows = _rows()
    next(r for r in rows if r["Ref"] == "1.1")["Completion date"] = "March 2024"
    next(r for r in rows if r["Ref"] == "2.5")["Completion date"] = (
        "1) June 2024\n2) December 2023\n3) December 2023"
    )
    path = write_csv(tmp_path / "edited.csv", rows)
    mapping = load_mapping(MAPPING)
    with Session(engine) as s:
        held = _action(s, "1.1")
        first = s.exec(
            select(Milestone).where(
                Milestone.action_id == _action(s, "2.5").id, Milestone.position == 1
            )
        ).one()
        assert (held.forecast_due, first.forecast_due) == (date(2023, 12, 31), date(2024, 4, 30))
        parsed = read_plan(read_grid(path, mapping.sheet), mapping, directory(s, ""))
        merge_plan(
            s,
            parsed,
            mapping,
            plan_code=mapping.plan.code,
            now=LATER,
            source_name="edited.csv",
            source_sha256="0" * 64,
        )
        assert (held.forecast_due, first.forecast_due) == (date(2024, 3, 31), date(2024, 6, 30))
        assert held.updated_at == LATER


def test_a_plan_that_numbers_nothing_keeps_each_action_through_a_reordered_reworded_reimport(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    rows = _rows()
    for row in rows:
        row["Ref"] = ""
    title = "Actions to deliver"
    rows[3][title] = rows[2][title]  # two actions worded alike
    _import(engine, write_csv(tmp_path / "first.csv", rows))
    with Session(engine) as s:
        before = {a.ref: a.title for a in s.exec(select(Action))}
    assert len(before) == 76 and all(ref.startswith("P") for ref in before)
    reworded = rows[10][title]
    rows[10][title] = reworded.replace(" will ", " will also ", 1)
    replaced = rows[20][title]
    rows[20][title] = "Commission an independent review of transport for post-16 learners."
    outcome = _import(engine, write_csv(tmp_path / "again.csv", rows[::-1]), LATER)
    assert outcome.merge is not None
    assert (outcome.merge.created, outcome.merge.withdrawn) == (1, 1)
    with Session(engine) as s:
        after = {a.ref: (a.title, a.withdrawn) for a in s.exec(select(Action))}
    for ref, was in before.items():
        now, withdrawn = after[ref]
        if was == replaced:
            assert withdrawn, ref
        elif was == reworded:
            assert (now, withdrawn) == (rows[10][title], False)
        else:
            assert (now, withdrawn) == (was, False), ref
    (new,) = set(after) - set(before)
    assert after[new] == (rows[20][title], False)
    assert [t for t, _ in after.values()].count(rows[2][title]) == 2  # both kept, one each
    # One warning for the 74 rows worded as before, one for the row reworded.
    matches = [w for w in outcome.warnings if w.kind == "matched_by_wording"]
    assert len(matches) == 2, [m.message for m in matches]
    alike = next(m for m in matches if len(m.rows) > 1)
    assert len(alike.rows) == len(set(alike.refs)) == 74
    assert alike.message.startswith("74 rows have no ref of their own (rows ")
    assert "worded the same" in alike.message
    assert "; give each action a ref in the workbook" in alike.message
    (changed,) = (m for m in matches if m is not alike)
    assert after[changed.ref] == (rows[10][title], False)
    assert "has no ref of its own" in changed.message and "% alike" in changed.message
    assert "100% alike" not in changed.message


def test_an_unnumbered_action_given_a_ref_keeps_its_own_and_the_warning_says_which(
    engine: Engine, tmp_path: Path
) -> None:
    rows, unnumbered = _imported_with_its_unnumbered_row(engine)
    unnumbered["Ref"] = "7.99"
    outcome = _import(engine, write_csv(tmp_path / "numbered.csv", rows), LATER)
    (match,) = [w for w in outcome.warnings if w.kind == "matched_by_wording"]
    assert match.ref == "P7-01" and match.message == (
        f"row {match.row} has ref '7.99', which no action had; matched to existing action "
        "P7-01 by its wording (100% alike)"
    )
    # Said once where it is: the message names its row, so nothing more goes before it.
    assert match.place == "" and str(match) == f"{match.sheet}: {match.message}"
    with Session(engine) as s:
        assert _action(s, "P7-01").withdrawn is False  # a ref stays with its action for good
        assert len(s.exec(select(Action)).all()) == 76


def test_it_says_where_a_warning_is_the_way_excel_names_the_place() -> None:
    cell = Problem(kind="date", message="'soon' is not a date", sheet="Plan", row=7, column="F")
    assert (cell.place, str(cell)) == ("Row 7, column F", "Plan!F7: 'soon' is not a date")
    row = Problem(kind="lead", message="no lead", sheet="Plan", row=7)
    assert (row.place, str(row)) == ("Row 7", "Plan, row 7: no lead")
    named = Problem(kind="lead", message="row 7 has no lead", sheet="Plan", row=7)
    assert (named.place, str(named)) == ("", "Plan: row 7 has no lead")
    other = Problem(kind="lead", message="row 17 has no lead", sheet="Plan", row=7)
    assert other.place == "Row 7"
    several = Problem(kind="lead", message="3 rows", sheet="Plan", row=7, rows=(7, 8, 9))
    assert (several.place, str(several)) == ("", "Plan: 3 rows")
