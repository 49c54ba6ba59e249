"""The people directory CSV: every bad cell named, nothing half-imported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import import_people
from tests.conftest import NOW, PEOPLE_CSV
from workflows.plan.people import PeopleFileError, read_people_csv
from workflows.store.models import Person


def test_it_imports_every_person_of_the_plymouth_directory(engine: Engine) -> None:
    result = import_people(engine, PEOPLE_CSV, now=NOW)
    assert (result.created, result.updated) == (27, 0)
    with Session(engine) as s:
        hp = s.exec(select(Person).where(Person.code == "HP")).one()
        sro_codes = sorted(p.code for p in s.exec(select(Person).where(Person.is_sro == True)))  # noqa: E712
    assert hp.name == "Hester Pengelly"
    assert hp.email == "hester.pengelly@example.nhs.uk"
    assert hp.teams_id == "hester.pengelly@example.nhs.uk"
    assert hp.delegate_code == "KR"
    assert hp.role == "Head of Women and Children's Commissioning – Devon ICB"
    assert sro_codes == ["AG", "AP", "CW", "DH", "LS", "MM", "ND", "RH", "SN", "SS"]


def test_it_updates_people_by_code_on_a_second_import(engine: Engine, tmp_path: Path) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    lines = PEOPLE_CSV.read_text(encoding="utf-8").splitlines()
    edited = [lines[0] + ",away_until"] + [
        line.replace(
            "Hester Pengelly,hester.pengelly@example.nhs.uk",
            "Hester Pengelly-Rowe,hester.rowe@example.nhs.uk",
        )
        + ","
        for line in lines[1:]
    ]
    edited.append("ZZ,Clerk,Zia Zed,zia@example.org,,,no,24/12/2026")
    path = tmp_path / "people.csv"
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")
    result = import_people(engine, path, now=NOW)
    assert (result.created, result.updated, result.unchanged) == (1, 1, 26)
    with Session(engine) as s:
        hp = s.exec(select(Person).where(Person.code == "HP")).one()
        zz = s.exec(select(Person).where(Person.code == "ZZ")).one()
    assert (hp.name, hp.email) == ("Hester Pengelly-Rowe", "hester.rowe@example.nhs.uk")
    assert zz.away_until == date(2026, 12, 24)


def test_it_reports_every_bad_cell_with_row_and_column_and_imports_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "code,role,name,email,teams_upn,delegate_code,sro\n"
        "AP,Head of SEND,Aisha,aisha@example.org,,QQ,yes\n"
        "AP,Other,Another,another@example.org,,,no\n"
        "DD,Manager,Dara,not-an-address,,,maybe\n"
        ",Nobody,,,,,no\n",
        encoding="utf-8",
    )
    with pytest.raises(PeopleFileError) as err:
        import_people(engine, path, now=NOW)
    found = {(p.row, p.column, p.header) for p in err.value.problems}
    assert found == {
        (2, "F", "delegate_code"),
        (3, "A", "code"),
        (4, "D", "email"),
        (4, "G", "sro"),
        (5, "A", "code"),
    }
    messages = " ".join(p.message for p in err.value.problems)
    assert "delegate 'QQ' of AP is not in this file" in messages
    assert "already used on row 2" in messages
    with Session(engine) as s:
        assert s.exec(select(Person)).all() == []


def test_it_names_the_columns_it_needs_when_the_header_is_wrong() -> None:
    expected = r"no 'code', 'name' column.*needs columns code, name"
    with pytest.raises(PeopleFileError, match=expected):
        read_people_csv("initials,full name\nAP,Aisha\n")
