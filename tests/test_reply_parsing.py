"""Reading emailed replies: the hand-written corpus in tests/fixtures/replies, then unit tests.

Each ``*.eml`` file is a real RFC 5322 message; ``expected.json`` says what it should read as.
Every message is read with Plymouth's BRAG scale (Amber means on track there).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from workflows.plan.dates import FuzzyDate, Precision
from workflows.plan.mapping import StatusScale, load_mapping
from workflows.replies.parsing import (
    ParsedReply,
    html_to_text,
    new_text,
    parse_reply,
    read_dates,
    read_status,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fixtures" / "replies"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
PLYMOUTH: StatusScale = load_mapping(ROOT / "config" / "mappings" / "plymouth.yaml").status_scale
RAG = StatusScale.model_validate(
    {
        "values": [
            {"value": "Green", "meaning": "on_track"},
            {"value": "Amber", "meaning": "at_risk"},
            {"value": "Red", "meaning": "off_track"},
            {"value": "Complete", "meaning": "complete"},
        ]
    }
)
#: Text a reply's new part must never contain: it belongs to our own chase, quoted back.
QUOTED = ("send.improvement@example.org", "Actions to update", "recruitment under way\nActions")


def summary(reply: ParsedReply) -> dict[str, Any]:
    """The parts of a reply that expected.json pins down."""
    return {
        "reference": reply.reference,
        "sender_email": reply.sender_email,
        "auto_reply": reply.auto_reply,
        "away_until": reply.away_until.isoformat() if reply.away_until else None,
        "forwarded": reply.forwarded,
        "authentication_failed": reply.authentication_failed,
        "updates": [
            {
                "ref": u.ref,
                "status": u.status.meaning if u.status else None,
                "label": u.status.label if u.status else None,
                "embedded": u.status.embedded if u.status else None,
                "forecast": (
                    [
                        u.forecast.first_day.isoformat(),
                        u.forecast.last_day.isoformat(),
                        str(u.forecast.precision),
                    ]
                    if u.forecast
                    else None
                ),
            }
            for u in reply.updates
        ],
    }


def test_it_has_a_corpus_of_at_least_20_replies_all_with_expectations() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert len(files) >= 20
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_reads_each_reply_in_the_corpus(name: str) -> None:
    want = EXPECTED[name]
    reply = parse_reply(
        (CORPUS / name).read_bytes(),
        scale=PLYMOUTH,
        known_refs=want.get("known_refs", ()),
    )
    got = summary(reply)
    for key in got:
        assert got[key] == want[key], f"{name}: {key}"
    for text in want.get("body_contains", ()):
        assert text in reply.body, f"{name}: body lacks {text!r}"
    for text in (*QUOTED, *want.get("body_excludes", ())):
        assert text not in reply.body, f"{name}: body still has {text!r}"
    wanted_problems = want.get("problems", [])
    for text in wanted_problems:
        assert any(text in p for p in reply.problems), f"{name}: no problem like {text!r}"
    if not wanted_problems:
        assert reply.problems == (), name


# -- whole messages ---------------------------------------------------------------------------


def test_it_reads_the_headers_of_a_reply() -> None:
    reply = parse_reply((CORPUS / "01_outlook_desktop_multipart.eml").read_bytes())
    assert reply.in_reply_to == "<3f9a1c0e5b7d4a2c8e6f1b0d9c7a5e3f@example.org>"
    assert reply.references == ("<3f9a1c0e5b7d4a2c8e6f1b0d9c7a5e3f@example.org>",)
    assert reply.message_id.startswith("<DB9PR02MB7321")
    assert reply.sender_name == "Aisha Pendleford"
    assert reply.date is not None and reply.date.utcoffset() is not None
    assert reply.date.isoformat() == "2025-09-16T10:42:13+01:00"
    assert reply.subject.startswith("RE: Update needed by Tue 23 Sep")


def test_it_decodes_rfc_2047_names_and_windows_1252_bodies() -> None:
    reply = parse_reply((CORPUS / "19_base64_windows_1252.eml").read_bytes())
    assert reply.sender_name == "Ashcombe, Nerys"
    assert "Sep – SEND board" in reply.subject
    assert "we’re on target" in reply.body


def test_it_keeps_a_chaser_key_header_and_reads_the_reference_header() -> None:
    reply = parse_reply((CORPUS / "06_plain_one_liner.eml").read_bytes())
    assert reply.chaser_key == "chase/plymouth-send-2023/TB/2025-09-25/request"
    raw = b"From: a@example.org\nX-Chaser-Reference: CHS-ZZZZZZZZ22\nSubject: hi\n\ncomplete\n"
    assert parse_reply(raw).reference == "CHS-ZZZZZZZZ22"


def test_it_reports_two_different_references() -> None:
    raw = (
        b"From: a@example.org\nSubject: Re: x [ref CHS-ABCDEFGH23]\n"
        b"Date: Tue, 16 Sep 2025 10:00:00 +0100\n\nThis is for CHS-QRSTUVWX45: complete\n"
    )
    reply = parse_reply(raw)
    assert reply.reference == "CHS-ABCDEFGH23"
    assert any("more than one Chaser reference" in p for p in reply.problems)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"From: \n\n",
        b"Content-Type: text/plain; charset=x-nope\n\nhi",
    ],
)
def test_it_never_raises_on_bad_input(raw: bytes) -> None:
    reply = parse_reply(raw, scale=PLYMOUTH, known_refs=("2.5",))
    assert isinstance(reply, ParsedReply)
    assert reply.problems


def test_it_uses_today_when_the_reply_has_no_date() -> None:
    raw = b"From: a@example.org\nSubject: Re: x\n\n2.5: delayed, now expected end of next month\n"
    reply = parse_reply(raw, today=date(2025, 9, 16))
    assert reply.updates[0].forecast == FuzzyDate.month_of(2025, 10)
    undated = parse_reply(raw)
    assert undated.updates[0].forecast is None
    assert any("no Date header" in p for p in undated.problems)


def test_it_resolves_dates_in_london_time() -> None:
    # 23:30 UTC on 30 September is already 1 October in London (BST)
    raw = (
        b"From: a@example.org\nSubject: Re: x\nDate: Tue, 30 Sep 2025 23:30:00 +0000\n\n"
        b"2.5: delayed, now expected end of next month\n"
    )
    assert parse_reply(raw).updates[0].forecast == FuzzyDate.month_of(2025, 11)


def test_it_does_not_take_an_out_of_office_sentence_alone_for_an_auto_reply() -> None:
    raw = (
        b"From: a@example.org\nSubject: Re: x [ref CHS-ABCDEFGH23]\n"
        b"Date: Tue, 16 Sep 2025 10:00:00 +0100\n\n"
        b"I am out of the office next week, but 2.5 is on track.\n"
    )
    reply = parse_reply(raw)
    assert not reply.auto_reply
    assert reply.updates[0].status is not None


def test_it_takes_x_auto_response_suppress_with_an_away_sentence_for_an_auto_reply() -> None:
    head = b"From: a@example.org\nSubject: Re: x\nX-Auto-Response-Suppress: All\n"
    head += b"Date: Tue, 16 Sep 2025 10:00:00 +0100\n\n"
    assert parse_reply(head + b"I am on annual leave until 24/09/2025.\n").auto_reply
    assert parse_reply(head + b"I am on annual leave until 24/09/2025.\n").away_until == date(
        2025, 9, 24
    )
    assert not parse_reply(head + b"2.5 is on track.\n").auto_reply


def test_it_marks_dmarc_fail_but_not_softfail() -> None:
    body = b"From: a@example.org\nSubject: x\n\ncomplete\n"
    fail = b"Authentication-Results: mx.example.org; dkim=pass; dmarc=fail header.from=x\n"
    soft = b"Authentication-Results: mx.example.org; spf=softfail; dmarc=pass\n"
    assert parse_reply(fail + body).authentication_failed
    assert not parse_reply(soft + body).authentication_failed
    assert parse_reply(b"Received-SPF: Fail (sender not permitted)\n" + body).authentication_failed


def test_it_does_not_apply_a_status_written_before_the_action_numbers() -> None:
    raw = b"From: a@example.org\nSubject: x\n\nAll on track except:\n\n2.5: delayed\n"
    reply = parse_reply(raw, scale=PLYMOUTH)
    assert [u.ref for u in reply.updates] == ["2.5"]
    assert any("before the first action number" in p for p in reply.problems)


def test_it_gives_one_answer_to_several_refs_on_one_line() -> None:
    raw = b"From: a@example.org\nSubject: x\n\n2.5 and 2.6: complete\n"
    reply = parse_reply(raw, scale=PLYMOUTH)
    assert [(u.ref, u.status and u.status.label) for u in reply.updates] == [
        ("2.5", "Green"),
        ("2.6", "Green"),
    ]


# -- status words -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "meaning", "label"),
    [
        ("amber – recruitment under way", "on_track", "Amber"),
        ("Amber", "on_track", "Amber"),
        ("A - interviews booked", "on_track", "Amber"),
        ("Blue – complete and embedded", "complete", "Blue"),
        ("complete and embedded", "complete", "Blue"),
        ("Green", "complete", "Green"),
        ("complete", "complete", "Green"),
        ("completed last week", "complete", "Green"),
        ("done", "complete", "Green"),
        ("on track", "on_track", "Amber"),
        ("All on track.", "on_track", "Amber"),
        ("progressing to timescale", "on_track", "Amber"),
        ("on track some concerns", "at_risk", ""),
        ("on track, but some concerns about the budget", "at_risk", ""),
        ("at risk", "at_risk", ""),
        ("slipped", "off_track", "Red"),
        ("delayed by the funding decision", "off_track", "Red"),
        ("behind schedule", "off_track", "Red"),
        ("red – no progress", "off_track", "Red"),
        ("stalled", "off_track", "Red"),
        ("not started", "not_due", ""),
        ("not due yet", "not_due", ""),
    ],
)
def test_it_reads_status_words_on_the_plymouth_scale(text: str, meaning: str, label: str) -> None:
    status, problems = read_status(text, PLYMOUTH)
    assert problems == ()
    assert status is not None
    assert (status.meaning, status.label) == (meaning, label)


@pytest.mark.parametrize(
    ("text", "meaning", "label"),
    [
        ("amber", "at_risk", "Amber"),
        ("on track some concerns", "at_risk", "Amber"),
        ("green", "on_track", "Green"),
        ("complete", "complete", "Complete"),
        ("slipped", "off_track", "Red"),
    ],
)
def test_it_reads_status_words_on_a_rag_scale(text: str, meaning: str, label: str) -> None:
    status, _ = read_status(text, RAG)
    assert status is not None
    assert (status.meaning, status.label) == (meaning, label)


def test_it_reads_common_words_without_a_scale() -> None:
    status, _ = read_status("amber", None)
    assert status is not None and (status.meaning, status.label) == ("at_risk", "")
    status, _ = read_status("on track some concerns", None)
    assert status is not None and status.words == "on track some concerns"


def test_it_marks_complete_and_embedded() -> None:
    status, _ = read_status("Blue – complete and embedded", PLYMOUTH)
    assert status is not None and status.embedded
    status, _ = read_status("Green", PLYMOUTH)
    assert status is not None and not status.embedded


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("not on track", "off_track"),
        ("it is not on track yet", "off_track"),
        ("no longer on track", "off_track"),
        ("isn't on track", "off_track"),
        ("not yet complete", None),
        ("not complete", None),
        ("hasn't slipped", None),
        ("not delayed", None),
        ("not amber", None),
        ("will complete by March", None),
        ("should be completed by March", None),
        ("due to complete in March", None),
        ("we have done two sessions", None),
        ("the panel was late", "off_track"),
        ("the panel started late", None),
    ],
)
def test_it_does_not_read_negations_or_deadlines_as_the_positive(
    text: str, meaning: str | None
) -> None:
    status, _ = read_status(text, PLYMOUTH)
    assert (status.meaning if status else None) == meaning


def test_it_reports_conflicting_statuses() -> None:
    status, problems = read_status("amber, though realistically red", PLYMOUTH, what="action 2.5")
    assert status is None
    assert problems == ("two different statuses for action 2.5: amber and red",)


def test_it_does_not_count_two_names_for_the_same_status_as_a_conflict() -> None:
    status, problems = read_status("Amber - on track, progressing to timescale", PLYMOUTH)
    assert problems == ()
    assert status is not None and status.label == "Amber"


# -- dates in words ---------------------------------------------------------------------------

SENT = date(2025, 9, 16)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "first", "last", "precision"),
    [
        ("end of next month", "2025-10-01", "2025-10-31", "month"),
        ("next month", "2025-10-01", "2025-10-31", "month"),
        ("end of this month", "2025-09-01", "2025-09-30", "month"),
        ("end of March", "2026-03-01", "2026-03-31", "month"),
        ("by end of December", "2025-12-01", "2025-12-31", "month"),
        ("by March 2026", "2026-03-01", "2026-03-31", "month"),
        ("March 2026", "2026-03-01", "2026-03-31", "month"),
        ("Sept. 2025", "2025-09-01", "2025-09-30", "month"),
        ("w/c 13 April", "2026-04-13", "2026-04-13", "day"),
        ("week commencing 6 October", "2025-10-06", "2025-10-06", "day"),
        ("w/c 6/10", "2025-10-06", "2025-10-06", "day"),
        ("next week", "2025-09-26", "2025-09-26", "day"),
        ("this week", "2025-09-19", "2025-09-19", "day"),
        ("in two weeks", "2025-09-30", "2025-09-30", "day"),
        ("in a fortnight", "2025-09-30", "2025-09-30", "day"),
        ("in 10 days", "2025-09-26", "2025-09-26", "day"),
        ("in 3 months", "2025-12-01", "2025-12-31", "month"),
        ("Q1 2026", "2026-03-01", "2026-03-31", "month"),
        ("Q1 2026/27", "2026-06-01", "2026-06-30", "month"),
        ("Spring term", "2026-03-01", "2026-03-31", "month"),
        ("Autumn term", "2025-12-01", "2025-12-31", "month"),
        ("summer term 2026", "2026-07-01", "2026-07-31", "month"),
        ("31/03/2026", "2026-03-31", "2026-03-31", "day"),
        ("31.03.2026", "2026-03-31", "2026-03-31", "day"),
        ("14 April", "2026-04-14", "2026-04-14", "day"),
        ("16 September", "2025-09-16", "2025-09-16", "day"),
        ("the 3rd of October", "2025-10-03", "2025-10-03", "day"),
        ("October 3rd, 2025", "2025-10-03", "2025-10-03", "day"),
        ("Monday 6 October", "2025-10-06", "2025-10-06", "day"),
        ("by Friday", "2025-09-19", "2025-09-19", "day"),
    ],
)
def test_it_reads_dates_in_words(text: str, first: str, last: str, precision: str) -> None:
    found = read_dates(text, SENT)
    assert len(found) == 1, found
    when, _ = found[0]
    assert (when.first_day.isoformat(), when.last_day.isoformat(), str(when.precision)) == (
        first,
        last,
        precision,
    )


def test_it_moves_a_week_commencing_to_its_monday_and_says_so() -> None:
    raw = (
        b"From: a@example.org\nSubject: x\nDate: Tue, 16 Sep 2025 10:00:00 +0100\n\n"
        b"2.5: delayed, now w/c 14 April\n"
    )
    update = parse_reply(raw).updates[0]
    assert update.forecast == FuzzyDate(2026, 4, 13, Precision.DAY)
    assert update.forecast_words == "w/c 14 April"
    assert any("is a Tuesday" in p for p in update.problems)


@pytest.mark.parametrize(
    ("text", "forecast"),
    [
        ("2.5: amber, now expected end of next month", FuzzyDate.month_of(2025, 10)),
        ("2.5: revised to March 2026", FuzzyDate.month_of(2026, 3)),
        ("2.5: moving to Q1 2026", FuzzyDate.month_of(2026, 3)),
        ("2.5: new date 31/03/2026", FuzzyDate(2026, 3, 31, Precision.DAY)),
        ("2.5: will complete by end of March", FuzzyDate.month_of(2026, 3)),
        ("2.5: delayed until Spring term", FuzzyDate.month_of(2026, 3)),
        ("2.5: forecast March 2026", FuzzyDate.month_of(2026, 3)),
        ("2.5: amber, the panel met on 12 September", None),
        ("2.5: complete in August 2025", None),
        ("2.5: on track for the original date of March 2026", None),
    ],
)
def test_it_reads_a_revised_date_only_when_the_sentence_says_so(
    text: str, forecast: FuzzyDate | None
) -> None:
    raw = b"From: a@example.org\nSubject: x\nDate: Tue, 16 Sep 2025 10:00:00 +0100\n\n"
    update = parse_reply(raw + text.encode(), scale=PLYMOUTH).updates[0]
    assert update.forecast == forecast


def test_it_reports_two_different_revised_dates() -> None:
    raw = (
        b"From: a@example.org\nSubject: x\nDate: Tue, 16 Sep 2025 10:00:00 +0100\n\n"
        b"2.5: now expected March 2026. Possibly revised to June 2026.\n"
    )
    update = parse_reply(raw).updates[0]
    assert update.forecast is None
    assert any("different revised dates" in p for p in update.problems)


@pytest.mark.parametrize(
    ("text", "away_until"),
    [
        ("I am out of the office, returning on Monday 6 October.", date(2025, 10, 6)),
        ("I'm out of the office and back on 06/10/2025.", date(2025, 10, 6)),
        ("I'm on leave until 3rd October.", date(2025, 10, 3)),
        ("I am away until Friday 3 October, returning Monday 6 October.", date(2025, 10, 6)),
        ("I am on annual leave until the end of October.", date(2025, 10, 31)),
        ("I will be back in the office on 1 September.", date(2026, 9, 1)),
        ("I am out of the office with limited access to email.", None),
    ],
)
def test_it_reads_the_return_date_of_an_out_of_office(text: str, away_until: date | None) -> None:
    raw = (
        b"From: a@example.org\nSubject: Automatic reply: x\n"
        b"Date: Tue, 16 Sep 2025 10:00:00 +0100\n\n" + text.encode()
    )
    reply = parse_reply(raw)
    assert reply.auto_reply
    assert reply.updates == ()
    assert reply.away_until == away_until


@pytest.mark.parametrize(
    "subject",
    ["Automatic reply: Update needed", "Auto: Update needed", "Out of Office: Update", "OOO"],
)
def test_it_recognises_out_of_office_subjects(subject: str) -> None:
    raw = f"From: a@example.org\nSubject: {subject}\n\nAway.\n".encode()
    assert parse_reply(raw).auto_reply


def test_it_does_not_take_auto_submitted_no_for_an_auto_reply() -> None:
    raw = b"From: a@example.org\nSubject: Re: x\nAuto-Submitted: no\n\n2.5: complete\n"
    assert not parse_reply(raw).auto_reply


# -- HTML and quoted history ------------------------------------------------------------------


def test_it_turns_html_into_text_with_line_breaks() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>x()</script><title>T</title></head>"
        "<body><p>2.5: amber &ndash; recruitment</p><div>6.6:&nbsp;complete<br>Thanks</div>"
        "<ul><li>one</li><li>two</li></ul></body></html>"
    )
    assert html_to_text(html) == "2.5: amber – recruitment\n\n6.6: complete\nThanks\n\none\ntwo"


@pytest.mark.parametrize(
    "quote",
    [
        '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> x</div>',
        '<div class="gmail_quote"><div class="gmail_attr">On Tue wrote:</div>'
        "<blockquote>old</blockquote></div>",
        '<blockquote type="cite"><div>old</div></blockquote>',
        '<div class="moz-cite-prefix">On 16/09/2025 Send wrote:</div>',
    ],
)
def test_it_drops_quoted_history_from_html(quote: str) -> None:
    html = f"<div>2.5: complete</div>{quote}<p>Reference: CHS-ABCDEFGH23 old text</p>"
    assert html_to_text(html) == "2.5: complete"


def test_it_drops_html_signature_blocks() -> None:
    html = '<div>2.5: complete</div><div id="Signature"><div><p>Jo Bloggs</p></div></div><p>PS</p>'
    assert html_to_text(html) == "2.5: complete\n\nPS"


@pytest.mark.parametrize(
    "tail",
    [
        "-----Original Message-----\nFrom: x\n\nold",
        "________________________________\nFrom: x\nSent: y\n\nold",
        "From: Send Improvement <send.improvement@example.org>\nSent: 15 September 2025\nold",
        "On Tue, 16 Sept 2025 at 09:31, Send Improvement <\nsend.improvement@example.org> wrote:\n"
        "> old",
        "> old\n> older",
        "Sent from my iPhone\n\nold",
        "-- \nJo Bloggs\nHead of Things",
        "Kind regards\nJo\nHead of Things",
        "---------- Forwarded message ---------\nFrom: x\n\nold",
    ],
)
def test_it_strips_quoted_history_and_signatures(tail: str) -> None:
    assert new_text(f"2.5: complete\n\n{tail}\n") == "2.5: complete"


def test_it_keeps_an_update_written_after_thanks() -> None:
    assert new_text("Thanks\n\nAll on track\n") == "Thanks\n\nAll on track"


def test_it_keeps_hyphen_lists() -> None:
    text = "- 2.5: amber\n- 6.6: complete"
    assert new_text(text) == text
    reply = parse_reply(b"From: a@example.org\nSubject: x\n\n" + text.encode(), scale=PLYMOUTH)
    assert [u.ref for u in reply.updates] == ["2.5", "6.6"]


# -- each answer scoped to its action (issue 14) ---------------------------------------------------

HEAD = b"From: a@example.org\nSubject: Re: x\nDate: Wed, 17 Sep 2025 10:00:00 +0100\n\n"


def _read(text: str, **kwargs: Any) -> ParsedReply:
    return parse_reply(HEAD + text.encode(), scale=PLYMOUTH, **kwargs)


def test_it_finds_a_ref_anywhere_in_a_line_when_the_plan_has_it() -> None:
    reply = _read("Quick one on IA7 - we are now on track.", known_refs=("IA7", "IA8"))
    assert [(u.ref, u.status and u.status.meaning) for u in reply.updates] == [("IA7", "on_track")]
    # ...but a number the plan does not have, inside a sentence, is not an action.
    other = _read("Version 2.5 of the protocol is on track.", known_refs=("6.6",))
    assert [u.ref for u in other.updates] == [None]


def test_it_splits_two_answers_written_on_one_line() -> None:
    reply = _read("7.9: complete, 7.11: Red - stalled", known_refs=("7.9", "7.11"))
    assert [(u.ref, u.status and u.status.label) for u in reply.updates] == [
        ("7.9", "Green"),
        ("7.11", "Red"),
    ]


def test_it_finds_an_action_by_a_distinctive_phrase_of_its_title() -> None:
    titles = {
        "A1.1": "Agree a joint commissioning strategy for SEND 0-25 across the Council and the CCG",
        "A4.2": "Agree one SEND dataset across education, health and care",
    }
    reply = _read(
        "Joint commissioning strategy - some concerns, sign-off paused.",
        titles=titles,
        asked=("A1.1", "A4.2"),
    )
    (update,) = reply.updates
    assert (update.ref, update.match) == ("A1.1", "title")
    assert update.score is not None and update.score >= 90
    assert update.status is not None and update.status.meaning == "at_risk"


def test_it_reads_answers_in_the_order_of_the_request() -> None:
    reply = _read("Red - stalled\nAmber\nGreen", asked=("7.9", "7.11", "7.12"))
    assert [(u.ref, u.match, u.status and u.status.label) for u in reply.updates] == [
        ("7.9", "order", "Red"),
        ("7.11", "order", "Amber"),
        ("7.12", "order", "Green"),
    ]


def test_it_reads_inline_answers_under_the_quoted_request() -> None:
    text = (
        "See below.\n\nOn Tue, 16 Sep 2025 at 09:30, Chaser <c@example.org> wrote:\n"
        "> Actions to update:\n>\n> 2.5  Locality training\n>     Due: Apr 2024\n"
        "Amber - two events held\n>\n> 6.6  Local Offer\n>     Due: Apr 2024\n>\n"
    )
    reply = _read(text, known_refs=("2.5", "6.6"), asked=("2.5", "6.6"))
    assert [(u.ref, u.match, u.narrative) for u in reply.updates] == [
        ("2.5", "inline", "two events held")
    ]


def test_it_marks_the_others_unchanged_and_nothing_else() -> None:
    reply = _read("2.5: Amber - booked\nThe others are unchanged.", asked=("2.5", "6.6", "6.11"))
    assert [(u.ref, u.unchanged, u.narrative) for u in reply.updates] == [
        ("2.5", False, "booked"),
        ("6.6", True, ""),
        ("6.11", True, ""),
    ]


def test_it_keeps_thanks_will_reply_next_week_as_an_acknowledgement() -> None:
    reply = _read("Thanks, will reply next week.", asked=("2.5", "6.6"))
    assert reply.acknowledged and reply.updates == ()
    assert not [p for p in reply.problems if "status" in p]
    assert not _read("Thanks, will reply next week: 2.5 is delayed.").acknowledged


@pytest.mark.parametrize(
    ("text", "narrative", "evidence"),
    [
        ("6.6: complete - Delivered; pages live", "Delivered; pages live", ()),
        ("6.6: Amber", "", ()),
        ("6.6: pages live - Green", "pages live", ()),
        (
            "6.6: Green - audit done. Evidence: https://x.example/audit.pdf.",
            "audit done.",
            ("https://x.example/audit.pdf",),
        ),
    ],
)
def test_it_stores_the_leads_words_without_the_status_word_or_links(
    text: str, narrative: str, evidence: tuple[str, ...]
) -> None:
    (update,) = _read(text).updates
    assert (update.narrative, update.evidence) == (narrative, evidence)


@pytest.mark.parametrize(
    ("text", "meaning", "forecast"),
    [
        ("3.4: Amber - pupils at risk of exclusion are now notified", "on_track", None),
        ("2.5: Amber. The terms of reference were updated in January.", "on_track", None),
        ("2.5: Amber, training starts 2 April", "on_track", None),
        (
            "2.5: Amber, the panel meets on 14 October, now expected March 2026",
            "on_track",
            FuzzyDate.month_of(2026, 3),
        ),
        ("2.5: Red, pushed back to 31/05/2026", "off_track", FuzzyDate(2026, 5, 31, Precision.DAY)),
    ],
)
def test_it_reads_status_and_dates_only_about_the_actions_progress(
    text: str, meaning: str, forecast: FuzzyDate | None
) -> None:
    (update,) = _read(text).updates
    assert update.status is not None and update.status.meaning == meaning
    assert update.forecast == forecast


def test_it_cuts_a_disclaimer_whose_numbers_look_like_refs_and_dates() -> None:
    reply = _read(
        "6.6: Amber - testing with families\n\nThis e-mail and any attachments are "
        "confidential; see section 2.5 of our policy, revised 31/05/2025.",
        known_refs=("2.5", "6.6"),
    )
    assert [(u.ref, u.narrative) for u in reply.updates] == [("6.6", "testing with families")]


def test_it_reads_when_the_gateway_received_the_message() -> None:
    raw = b"Received: from a by mx.council.example; Tue, 23 Sep 2025 16:58:00 +0100\n" + HEAD
    assert parse_reply(raw + b"2.5: Amber").received == datetime(2025, 9, 23, 15, 58, tzinfo=UTC)
