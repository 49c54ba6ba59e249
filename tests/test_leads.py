"""Leads as councils write them: workflows.plan.leads."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from workflows.plan.leads import (
    DEFAULT_NON_PERSON_PATTERNS,
    DirectoryEntry,
    LeadMention,
    LeadResolver,
    directory_from_rows,
    parse_leads,
)

SAMPLES = Path(__file__).resolve().parent.parent / "chaser" / "samples" / "plymouth"
PLAN_CSV = SAMPLES / "plymouth_send_plan_2023.csv"
PEOPLE_CSV = SAMPLES / "plymouth_people.csv"


def _plan_rows() -> list[dict[str, str]]:
    with PLAN_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _directory() -> tuple[DirectoryEntry, ...]:
    with PEOPLE_CSV.open(encoding="utf-8", newline="") as f:
        return directory_from_rows(csv.DictReader(f))


PLYMOUTH = _directory()
RESOLVER = LeadResolver(PLYMOUTH)
LEAD_BY_REF = {row["Ref"]: row["Lead"] for row in _plan_rows()}

SMALL = (
    DirectoryEntry("XY", "Xena Yeo", "Assistant Director Learning and Skills"),
    DirectoryEntry("AB", "Abel Bray", "Head of SEND"),
    DirectoryEntry("CD", "Cara Dent", "Head of Education", aliases=("Education lead",)),
)


# --------------------------------------------------------------------------------------------
# The Plymouth plan


def test_it_reads_the_plymouth_directory_with_every_code() -> None:
    codes = {e.code for e in PLYMOUTH}
    assert len(PLYMOUTH) == 27
    assert {"AG", "AP", "CDT", "DMO", "HP", "KR", "LS", "SN", "CW"} <= codes


@pytest.mark.parametrize(
    "cell",
    sorted(
        {row["Lead"] for row in _plan_rows()}
        | {row["Senior Responsible Officer"] for row in _plan_rows()}
    ),
)
def test_it_resolves_every_plymouth_lead_and_senior_officer_cell_with_nothing_left_over(
    cell: str,
) -> None:
    parsed = RESOLVER.parse(cell)
    assert parsed.unresolved == (), parsed
    assert parsed.people, parsed
    assert parsed.raw == cell
    for mention in parsed.mentions:
        assert mention.text, parsed
        assert mention.text in cell.replace("\r", ""), (mention.text, cell)


@pytest.mark.parametrize(
    ("ref", "people", "non_people"),
    [
        ("1.1", ("TL", "DH"), ()),
        ("1.2", ("DH", "HP", "MM"), ()),
        ("1.4", ("DH", "HP", "MM", "CP"), ()),
        ("2.3", ("DH", "MM", "HP", "ND"), ()),
        ("2.4", ("DH", "AG", "ND", "MM", "HP"), ()),
        ("2.6", ("DH", "AG", "ND", "HP", "MM"), ()),
        ("2.8", ("DH", "GW", "TB", "AP", "MM"), ()),
        ("3.6", ("MM", "JB", "AP", "TB", "HP"), ()),
        ("5.8", ("DH", "CDT", "AP"), ()),
        ("6.9", ("FG", "AP", "MM", "HP"), ()),
        ("6.10", ("AP", "FG", "DD", "DMO"), ()),
        ("7.9", ("FO",), ()),
        ("8.1", ("AP", "MM", "HP", "CP"), ("Children and Young People",)),
        ("9.1", ("TL", "NA"), ("Plymouth SEND Improvement Board",)),
        ("9.2", ("AG", "AP"), ()),
        ("9.5", ("AG", "AP"), ("SEND Sufficiency group",)),
    ],
)
def test_it_lists_the_people_of_a_plymouth_lead_cell_in_order(
    ref: str, people: tuple[str, ...], non_people: tuple[str, ...]
) -> None:
    parsed = parse_leads(LEAD_BY_REF[ref], PLYMOUTH)
    assert parsed.people == people
    assert parsed.non_people == non_people
    assert parsed.unresolved == ()


def test_it_finds_the_unnumbered_first_action_of_area_7() -> None:
    assert parse_leads(LEAD_BY_REF[""], PLYMOUTH).people == ("HP",)


def test_it_splits_a_lead_cell_into_its_fragments() -> None:
    parsed = parse_leads(LEAD_BY_REF["1.2"], PLYMOUTH)
    assert parsed.mentions == (
        LeadMention("DCS PCC (DH)", "DH", "code"),
        LeadMention("Head of Women and Children’s Commissioning – Devon ICB (HP)", "HP", "code"),
        LeadMention("PBWG as leads for schools and colleges (MM)", "MM", "code"),
    )


def test_it_drops_connecting_words_and_trailing_punctuation_from_fragments() -> None:
    parsed = parse_leads(LEAD_BY_REF["5.8"], PLYMOUTH)  # "... with Head of Service (CDT)\nand ..."
    assert [m.text for m in parsed.mentions] == [
        "DCS PCC (DH)",
        "Head of Service (CDT)",
        "Head of SEND (AP)",
    ]
    assert [m.how for m in parsed.mentions] == ["code", "code", "code"]


def test_it_reads_a_bare_code_without_brackets() -> None:
    parsed = parse_leads(LEAD_BY_REF["6.10"], PLYMOUTH)
    assert parsed.mentions[-1] == LeadMention("DMO", "DMO", "bare_code")


def test_it_lists_a_code_named_twice_once_at_its_first_position() -> None:
    parsed = parse_leads(LEAD_BY_REF["9.5"], PLYMOUTH)
    assert parsed.people == ("AG", "AP")
    assert [m.person_code for m in parsed.mentions] == [None, "AG", "AP", "AG"]
    assert parsed.mentions[0] == LeadMention("SEND Sufficiency group", None, "not_a_person")


def test_it_reads_lettered_senior_officer_parts() -> None:
    parsed = parse_leads(
        "a. Director of Public Health (RH)\nb. Director of Education (AG) with CEO Chair PBWG (MM)",
        PLYMOUTH,
    )
    assert parsed.people == ("RH", "AG", "MM")
    assert [m.text for m in parsed.mentions] == [
        "Director of Public Health (RH)",
        "Director of Education (AG)",
        "CEO Chair PBWG (MM)",
    ]
    assert parsed.unresolved == ()


def test_it_reads_codes_listed_inside_a_senior_officer_heading() -> None:
    parsed = parse_leads(
        "Director of EPS (AG) and Head teacher Chairs of Phases (LS – secondary school heads, "
        "SN – primary school heads and CW – special school heads)",
        PLYMOUTH,
    )
    assert parsed.people == ("AG", "LS", "SN", "CW")
    assert parsed.mentions[1:] == (
        LeadMention("LS – secondary school heads", "LS", "bare_code"),
        LeadMention("SN – primary school heads", "SN", "bare_code"),
        LeadMention("CW – special school heads", "CW", "bare_code"),
    )
    assert parsed.unresolved == () and parsed.non_people == ()


# --------------------------------------------------------------------------------------------
# Codes that are not in the directory, and organisations' acronyms


def test_it_reports_an_unknown_code_as_unresolved_with_its_fragment() -> None:
    parsed = parse_leads("Head of SEND (AP) Head of Virtual School (ZZ)", PLYMOUTH)
    assert parsed.people == ("AP",)
    assert parsed.unresolved == ("Head of Virtual School (ZZ)",)
    assert parsed.mentions[-1] == LeadMention("Head of Virtual School (ZZ)", None, "unresolved")


def test_it_does_not_guess_who_an_unknown_code_is_from_a_matching_role() -> None:
    parsed = parse_leads("Head of SEND (QQ)", PLYMOUTH)
    assert parsed.people == ()
    assert parsed.unresolved == ("Head of SEND (QQ)",)


def test_it_ignores_an_organisation_acronym_next_to_a_known_code() -> None:
    parsed = parse_leads("Plymouth Parent and Carer Voice (PPCV) (CP)", PLYMOUTH)
    assert parsed.people == ("CP",)
    assert parsed.unresolved == ()
    assert parsed.mentions == (
        LeadMention("Plymouth Parent and Carer Voice (PPCV) (CP)", "CP", "code"),
    )


def test_it_resolves_an_organisation_acronym_without_a_code_by_its_wording() -> None:
    parsed = parse_leads("Head of SEND (AP) Plymouth Parent and Carer Voice (PPCV)", PLYMOUTH)
    assert parsed.people == ("AP", "CP")
    assert parsed.mentions[1].how == "role"
    assert parsed.unresolved == ()


def test_it_keeps_words_in_brackets_that_are_not_codes_in_the_fragment() -> None:
    parsed = parse_leads("Director of Children's Services (DCS PCC) (DH)", PLYMOUTH)
    assert parsed.mentions == (
        LeadMention("Director of Children's Services (DCS PCC) (DH)", "DH", "code"),
    )


def test_it_accepts_a_lower_case_code_and_a_code_in_front_of_a_description() -> None:
    assert parse_leads("Head of SEND (ap)", PLYMOUTH).people == ("AP",)
    parsed = parse_leads("DMO Head of SEND (AP)", PLYMOUTH)
    assert parsed.mentions == (
        LeadMention("DMO", "DMO", "bare_code"),
        LeadMention("Head of SEND (AP)", "AP", "code"),
    )
    assert parse_leads("DMO, JB", PLYMOUTH).people == ("DMO", "JB")


# --------------------------------------------------------------------------------------------
# Role titles and names without codes


def test_it_resolves_a_role_title_without_a_code_against_the_directory_wording() -> None:
    parsed = parse_leads("Assistant Director Learning and Skills", SMALL)
    assert parsed.people == ("XY",)
    assert parsed.mentions == (
        LeadMention("Assistant Director Learning and Skills", "XY", "role", 100.0),
    )


@pytest.mark.parametrize(
    ("cell", "people"),
    [
        ("Assistant Director, Learning & Skills", ("XY",)),
        ("assistant director learning and skills.", ("XY",)),
        ("Asst Director Learning and Skills", ("XY",)),
        ("Assistant Director Learning and Skills with Head of SEND", ("XY", "AB")),
        ("Head of SEND and Head of Education", ("AB", "CD")),
        ("Head of SEND\nEducation lead", ("AB", "CD")),
        ("Xena Yeo", ("XY",)),
    ],
)
def test_it_resolves_role_titles_and_names_written_loosely(
    cell: str, people: tuple[str, ...]
) -> None:
    parsed = parse_leads(cell, SMALL)
    assert parsed.people == people
    assert parsed.unresolved == ()


def test_it_reports_how_a_fuzzy_role_match_was_made() -> None:
    parsed = parse_leads("Asst Director Learning and Skills", SMALL)
    (mention,) = parsed.mentions
    assert mention.how == "role"
    assert mention.score is not None and 85 <= mention.score < 100
    assert parse_leads("Xena Yeo", SMALL).mentions[0].how == "name"


def test_it_resolves_a_plymouth_role_written_without_its_code() -> None:
    parsed = parse_leads("Head of Women and Children's commissioning – NHS Devon", PLYMOUTH)
    assert parsed.people == ("HP",)
    assert parsed.mentions[0].how == "role"


def test_it_leaves_a_role_nobody_holds_unresolved() -> None:
    parsed = parse_leads("Director of Finance", SMALL)
    assert parsed.people == ()
    assert parsed.unresolved == ("Director of Finance",)


def test_it_leaves_a_role_that_several_people_share_unresolved() -> None:
    parsed = parse_leads("Head teacher Chair of Phase", PLYMOUTH)  # LS, SN and CW
    assert parsed.people == ()
    assert parsed.unresolved == ("Head teacher Chair of Phase",)


def test_it_lets_the_importer_set_the_role_match_threshold() -> None:
    strict = parse_leads("Asst Director Learning and Skills", SMALL, role_match_threshold=99)
    assert strict.people == () and strict.unresolved == ("Asst Director Learning and Skills",)


# --------------------------------------------------------------------------------------------
# Not people


@pytest.mark.parametrize(
    "cell",
    [
        "Children and Young People",
        "Plymouth SEND Improvement Board.",
        "SEND Strategic Delivery Group",
        "Parents and carers",
        "Schools",
        "All schools and colleges",
        "Health and Wellbeing Partnership",
    ],
)
def test_it_does_not_report_groups_as_unresolved_people(cell: str) -> None:
    parsed = parse_leads(cell, SMALL)
    assert parsed.people == ()
    assert parsed.unresolved == ()
    assert parsed.non_people == (cell.rstrip("."),)


def test_it_still_reports_a_post_on_a_board_as_a_person() -> None:
    parsed = parse_leads("Chair of the SEND Board", SMALL)
    assert parsed.unresolved == ("Chair of the SEND Board",)
    assert parsed.non_people == ()


def test_it_takes_non_person_patterns_from_the_caller() -> None:
    cell = "Head of SEND (AB)\nVirtual School"
    assert parse_leads(cell, SMALL).unresolved == ("Virtual School",)
    custom = parse_leads(cell, SMALL, non_person_patterns=[*DEFAULT_NON_PERSON_PATTERNS, "school"])
    assert custom.unresolved == () and custom.non_people == ("Virtual School",)
    only_board = parse_leads("Parents and carers", SMALL, non_person_patterns=["board"])
    assert only_board.unresolved == ("Parents and carers",)


def test_it_drops_a_heading_word_before_a_colon() -> None:
    parsed = parse_leads("Leads: Head of SEND (AB)", SMALL)
    assert parsed.mentions == (LeadMention("Head of SEND (AB)", "AB", "code"),)


# --------------------------------------------------------------------------------------------
# Empty cells, caching and the directory


@pytest.mark.parametrize("cell", [None, "", "  \n "])
def test_it_reads_an_empty_lead_cell_as_no_one(cell: str | None) -> None:
    parsed = parse_leads(cell, PLYMOUTH)
    assert (parsed.mentions, parsed.people, parsed.unresolved, parsed.non_people) == (
        (),
        (),
        (),
        (),
    )


def test_it_reads_a_repeated_cell_from_its_cache() -> None:
    resolver = LeadResolver(PLYMOUTH)
    first = resolver.parse(LEAD_BY_REF["2.6"])
    assert resolver.parse(LEAD_BY_REF["2.6"]) is first
    assert parse_leads(LEAD_BY_REF["2.6"], PLYMOUTH) == first


def test_it_builds_a_directory_from_rows_with_aliases_and_skips_rows_without_a_code() -> None:
    entries = directory_from_rows(
        [
            {
                "code": " AB ",
                "name": "Abel Bray",
                "role": "Head of SEND",
                "aliases": "SEND lead; HoS",
            },
            {"code": "", "name": "Nobody", "role": "Vacant"},
        ]
    )
    assert entries == (DirectoryEntry("AB", "Abel Bray", "Head of SEND", ("SEND lead", "HoS")),)
    assert parse_leads("SEND lead", entries).people == ("AB",)


# --------------------------------------------------------------------------------------------
# Role titles however they are written, and role titles several people hold


@pytest.mark.parametrize(
    "cell",
    [
        "Head of Skills and Post 16.",
        "Head Of Skills And Post 16",
        "HEAD OF SKILLS AND POST 16",
        "Head  of Skills   and Post 16",
        "Head of Skills & Post-16",
        "Head of Skills and Post 16 (interim)",
    ],
)
def test_it_matches_a_role_title_however_it_is_capitalised_or_punctuated(cell: str) -> None:
    parsed = parse_leads(cell, PLYMOUTH)
    assert parsed.people == ("TB",) and parsed.unresolved == ()
    assert parsed.mentions[0].score == 100.0  # an exact match, not a near one


@pytest.mark.parametrize("apostrophe", ["'", "’", "‘", "ʼ", "`"])
def test_it_matches_a_role_title_with_any_apostrophe(apostrophe: str) -> None:
    parsed = parse_leads(f"Director of Children{apostrophe}s Services", PLYMOUTH)
    assert parsed.people == ("DH",)
    assert parsed.mentions[0].score == 100.0


SHARED = (
    DirectoryEntry("EH", "Elsa Hatherleigh", "Head of Service – Early Help"),
    DirectoryEntry("SH", "Saul Hembury", "Head of Service – Children with Disabilities"),
    DirectoryEntry("JB", "Jonah Brimblecombe", "Head of Education"),
)


def test_it_names_the_people_a_shared_role_title_could_mean() -> None:
    parsed = parse_leads("Head Of Service. Head of Education", SHARED)
    assert parsed.people == ("JB",)
    assert parsed.unresolved == ("Head Of Service",)
    assert parsed.ambiguous == (("Head Of Service", ("EH", "SH")),)
    assert parse_leads("Head of Service – Early Help", SHARED).people == ("EH",)


def test_it_names_everyone_holding_a_plymouth_role_title() -> None:
    parsed = parse_leads("Head teacher Chair of Phase", PLYMOUTH)
    assert parsed.ambiguous == (("Head teacher Chair of Phase", ("CW", "LS", "SN")),)


def test_an_unknown_code_is_not_called_ambiguous() -> None:
    parsed = parse_leads("Head of Service (ZZ)", SHARED)
    assert parsed.unresolved == ("Head of Service (ZZ)",) and parsed.ambiguous == ()


def test_a_group_named_beside_a_person_does_not_hide_the_person() -> None:
    resolver = LeadResolver(PLYMOUTH, non_person_patterns=("family voice",))
    parsed = resolver.parse("Director of Children’s Services with SEND Family Voice Torbay")
    assert parsed.people == ("DH",)
    assert parsed.non_people == ("SEND Family Voice Torbay",)
    assert resolver.parse("SEND Family Voice Torbay").non_people == ("SEND Family Voice Torbay",)
