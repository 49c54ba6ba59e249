"""Rendering chases: notifications.render and the shipped templates."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import jinja2
import pytest

from notifications.render import (
    Templates,
    load_templates,
    long_date,
    render_chase,
    render_teams,
    short_date,
)
from workflows.chasing.chases import Chase, ChasedAction, Step, Who

HESTER = Who("HP", "Hester Pengelly", "hester.pengelly@council.example", "hester@council.example")
KIT = Who("KT", "Kit Trelawny", "kit.trelawny@council.example", "kit@council.example")
SRO = Who("MR", "Morwenna Rowe", "morwenna.rowe@council.example", "")
SECRETARY = Who("secretary", "Board Secretary", "board.secretary@council.example")
LINK = "https://chaser.council.example/u/tok?t=abc&x=1"
REF = "CHS-abc123"
SENDER = "chaser@council.example"

ACTIONS = (
    ChasedAction(
        "2.5", "Recruit two specialist teachers", "Dec 2023", "Mar 2024", "Amber", date(2025, 6, 3)
    ),
    ChasedAction("3.1", "Publish the local offer", "TBC", "", "", None),
    ChasedAction("4.2", "Train SENCOs", "Sep 2025", "", "Green", None),
)


def chase(step: Step = Step.REQUEST, **changes: object) -> Chase:
    base = Chase(
        key=f"{step}:HP:SIB-2025-07-08",
        step=step,
        plan_code="PLY",
        to=HESTER,
        lead=HESTER,
        cc=(),
        actions=ACTIONS,
        channels=("email",),
        group_code="SIB",
        group_name="SEND Improvement Board",
        meeting_date=date(2025, 7, 8),
        papers_deadline=date(2025, 7, 1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def templates() -> Templates:
    return load_templates(None)


def render(templates: Templates, c: Chase) -> tuple[str, str, str]:
    m = render_chase(c, link=LINK, reference=REF, sender=SENDER, templates=templates)
    return m.subject, m.text, m.html


def test_it_writes_a_plain_english_subject_with_the_reference(templates: Templates) -> None:
    subject, _, _ = render(templates, chase())
    assert subject == ("Update needed by Tue 1 Jul for the SEND Improvement Board [ref CHS-abc123]")


def test_it_addresses_the_message(templates: Templates) -> None:
    m = render_chase(chase(), link=LINK, reference=REF, sender=SENDER, templates=templates)
    assert m.channel == "email"
    assert m.sender == SENDER
    assert [(a.name, a.email) for a in m.to] == [("Hester Pengelly", HESTER.email)]
    assert m.cc == ()
    assert m.key == "request:HP:SIB-2025-07-08"
    assert m.headers["X-Chaser-Key"] == m.key
    assert m.link == LINK


def test_it_lists_every_action_in_the_text(templates: Templates) -> None:
    _, text, _ = render(templates, chase())
    assert "Hello Hester Pengelly," in text
    assert "meets on Tuesday 8 July 2025" in text
    assert "your 3 actions by Tuesday 1 July 2025" in text
    # One short numbered line per action: its status, then its due date.
    assert (
        "1. 2.5 Recruit two specialist teachers — Amber (3 Jun 2025), due Dec 2023, "
        "now forecast Mar 2024\n" in text
    )
    assert "2. 3.1 Publish the local offer — No update yet, due TBC\n" in text
    assert "3. 4.2 Train SENCOs — Green, due Sep 2025\n" in text


def test_it_explains_both_ways_to_reply(templates: Templates) -> None:
    _, text, html = render(templates, chase())
    assert LINK in text
    assert "reply to this email" in text.lower()
    assert "Reply under each line or use the form." in text
    assert "keep the reference CHS-abc123 in the subject" in text
    assert "2.5: amber – recruitment under way" in text
    assert 'href="https://chaser.council.example/u/tok?t=abc&amp;x=1"' in html
    assert "Reply under each line or use the form." in html
    assert "keep the reference CHS-abc123" in html


def test_it_lists_every_action_in_the_html(templates: Templates) -> None:
    _, _, html = render(templates, chase())
    for action in ACTIONS:
        assert action.ref in html and action.title in html
    assert "<strong>1.</strong>" in html and "<strong>3.</strong>" in html
    assert "Amber (3 Jun 2025) · due Dec 2023, now forecast Mar 2024".replace("·", "&#183;") in html


def test_it_escapes_user_text_in_html(templates: Templates) -> None:
    bad = ChasedAction("1.1", "Fix <script>alert('x')</script> & more", "TBC", "", "", None)
    lead = replace(HESTER, name="Hester <b>Pengelly</b>")
    _, text, html = render(templates, chase(actions=(bad,), to=lead, lead=lead))
    assert "<script>" not in html and "<b>Pengelly" not in html
    # css_inline re-serialises the document: text stays escaped (quotes need not be).
    assert "Fix &lt;script&gt;alert('x')&lt;/script&gt; &amp; more" in html
    assert "Hester &lt;b&gt;Pengelly&lt;/b&gt;" in html
    assert "Fix <script>alert('x')</script> & more" in text  # the text part is not HTML


def test_it_inlines_the_css_for_outlook(templates: Templates) -> None:
    _, _, html = render(templates, chase())
    assert "<style" not in html
    assert re.search(r'<td class="button-cell"[^>]*bgcolor="#00703c"[^>]*style="[^"]*padding', html)
    assert re.search(r'<a class="button"[^>]*style="[^"]*color: #ffffff', html)
    assert re.search(r'<p style="[^"]*margin', html)


def test_it_writes_ascii_html_with_character_references(templates: Templates) -> None:
    _, _, html = render(templates, chase())
    assert html.isascii() and "amber &#8211; recruitment under way" in html


def test_it_uses_no_external_resources(templates: Templates) -> None:
    _, _, html = render(templates, chase())
    assert "<img" not in html and "<link" not in html and "url(" not in html
    urls = set(re.findall(r'(?:href|src)="([^"]+)"', html))
    assert urls == {"https://chaser.council.example/u/tok?t=abc&amp;x=1"}


@pytest.mark.parametrize(
    ("step", "subject", "phrase"),
    [
        (Step.REQUEST, "Update needed by Tue 1 Jul", "so it can go in the papers"),
        (Step.REMINDER, "Reminder: update needed by Tue 1 Jul", "We have not had your update yet"),
        (
            Step.FINAL_REMINDER,
            "Final reminder: update needed by Tue 1 Jul",
            "This is the last reminder",
        ),
        (Step.NUDGE_BEFORE, "3 actions are due soon", "whether they are on track"),
        (Step.NUDGE_DUE, "3 actions are due today", "whether they are complete"),
        (Step.NUDGE_OVERDUE, "3 actions are overdue", "are past their due dates"),
    ],
)
def test_it_words_each_step(templates: Templates, step: Step, subject: str, phrase: str) -> None:
    got_subject, text, html = render(templates, chase(step))
    assert got_subject.startswith(subject) and got_subject.endswith("[ref CHS-abc123]")
    assert phrase in text and phrase in html


def test_it_names_the_single_action_in_a_nudge(templates: Templates) -> None:
    c = chase(
        Step.NUDGE_DUE, actions=ACTIONS[:1], group_name="", meeting_date=None, papers_deadline=None
    )
    subject, text, _ = render(templates, c)
    assert subject == "Action 2.5 is due today [ref CHS-abc123]"
    assert "Action 2.5 is due today." in text
    assert "whether it is complete" in text


#: One day's nudge to Hester: one action overdue, one due today, two due soon.
MIXED = (
    replace(ACTIONS[0], nudge="nudge_before"),
    replace(ACTIONS[1], nudge="nudge_overdue"),
    replace(ACTIONS[2], nudge="nudge_before"),
    ChasedAction("5.1", "Open the sensory room", "Nov 2025", "", "Green", None, nudge="nudge_due"),
)


def test_it_words_a_nudge_of_several_kinds_grouped_most_urgent_first(
    templates: Templates,
) -> None:
    c = chase(Step.NUDGE, actions=MIXED, group_name="", meeting_date=None, papers_deadline=None)
    subject, text, html = render(templates, c)
    assert subject == "1 action overdue, 1 due today, 2 due soon [ref CHS-abc123]"
    assert "Some of your actions need attention: 1 action overdue, 1 due today, 2 due soon." in text
    assert "whether it is on track or complete, and if not, when you now expect to finish" in text
    overdue, today, soon = (text.index(f"\n{h}:\n") for h in ("Overdue", "Due today", "Due soon"))
    lines = [text.index(f"{n}. {ref} ") for n, ref in enumerate(["3.1", "5.1", "2.5", "4.2"], 1)]
    assert overdue < lines[0] < today < lines[1] < soon < lines[2] < lines[3]
    for heading in ("Overdue</h2>", "Due today</h2>", "Due soon</h2>"):
        assert heading in html
    assert html.index("Overdue</h2>") < html.index(">3.1<") < html.index("Due soon</h2>")


def test_it_words_a_delegates_nudge_for_two_away_leads(templates: Templates) -> None:
    actions = (replace(MIXED[1], lead=HESTER), replace(MIXED[0], lead=SRO))
    c = chase(Step.NUDGE, to=KIT, delegated=True, actions=actions, group_name="")
    subject, text, html = render(templates, c)
    assert subject.endswith("(Hester Pengelly and Morwenna Rowe are away) [ref CHS-abc123]")
    assert "Hello Kit Trelawny," in text
    assert "because Hester Pengelly and Morwenna Rowe are away and you are named as" in text
    assert "Some of Hester Pengelly and Morwenna Rowe's actions need attention" in text
    assert "1. 3.1 Publish the local offer (Hester Pengelly) — " in text
    assert "2. 2.5 Recruit two specialist teachers (Morwenna Rowe) — " in text
    assert "Publish the local offer (Hester Pengelly)" in html


def test_it_escalates_to_the_sro_with_the_secretary_copied(templates: Templates) -> None:
    c = chase(Step.ESCALATION, to=SRO, cc=(SECRETARY,), actions=ACTIONS[:2])
    m = render_chase(c, link=LINK, reference=REF, sender=SENDER, templates=templates)
    assert [a.email for a in m.to] == [SRO.email]
    assert [a.email for a in m.cc] == [SECRETARY.email]
    assert (
        m.subject
        == "No update from Hester Pengelly for the SEND Improvement Board [ref CHS-abc123]"
    )
    assert "Hello Morwenna Rowe," in m.text
    assert "Hester Pengelly has not sent an update for 2 actions" in m.text
    assert "due to be reported to the SEND Improvement Board on Tuesday 8 July 2025" in m.text
    assert "Please follow this up with Hester Pengelly" in m.text
    assert "Hester Pengelly has not sent an update for 2 actions" in m.html


def test_it_explains_a_delegated_message(templates: Templates) -> None:
    subject, text, html = render(templates, chase(Step.REMINDER, to=KIT, delegated=True))
    assert subject.endswith("(Hester Pengelly is away) [ref CHS-abc123]")
    assert "Hello Kit Trelawny," in text
    assert "You're receiving this because Hester Pengelly is away" in text
    assert "We have not had Hester Pengelly's update yet" in text
    assert "You're receiving this because Hester Pengelly is away" in html


def test_it_reads_without_a_group_or_dates(templates: Templates) -> None:
    c = chase(group_name="", meeting_date=None, papers_deadline=None)
    subject, text, _ = render(templates, c)
    assert subject == "Update needed [ref CHS-abc123]"
    assert "Please send an update on your 3 actions, so it can go in the papers." in text


def test_it_keeps_the_subject_on_one_line(templates: Templates) -> None:
    subject, _, _ = render(templates, chase(group_name="SEND\r\nBcc: x@evil.example Board"))
    assert "\n" not in subject and "\r" not in subject


def test_it_prefers_an_override_template(tmp_path: Path) -> None:
    (tmp_path / "chase_subject.txt").write_text("Custom {{ group }} subject\n")
    subject, text, _ = render(load_templates(tmp_path), chase())
    assert subject == "Custom SEND Improvement Board subject [ref CHS-abc123]"
    assert "Hello Hester Pengelly," in text  # the rest still comes from the shipped files


def test_it_ignores_a_missing_override_folder(tmp_path: Path) -> None:
    subject, _, _ = render(load_templates(tmp_path / "nope"), chase())
    assert subject.startswith("Update needed")


def test_it_fails_loudly_on_an_unknown_name_in_a_template(tmp_path: Path) -> None:
    (tmp_path / "chase.txt").write_text("Hello {{ recipient.nickname }}\n")
    with pytest.raises(jinja2.UndefinedError):
        render(load_templates(tmp_path), chase())


def test_it_does_not_fetch_stylesheets_from_an_override(tmp_path: Path) -> None:
    (tmp_path / "chase.html").write_text(
        '<html><head><link rel="stylesheet" href="http://192.0.2.1/x.css"></head>'
        "<body><p>{{ recipient.name }}</p></body></html>"
    )
    _, _, html = render(load_templates(tmp_path), chase())
    assert "Hester Pengelly" in html and "192.0.2.1" not in html


def test_it_formats_dates_the_gov_uk_way() -> None:
    assert long_date(date(2025, 7, 1)) == "Tuesday 1 July 2025"
    assert short_date(date(2025, 7, 1)) == "Tue 1 Jul"
    assert long_date(None) == "" and short_date(None) == ""


def test_it_renders_a_teams_post_with_mentions(templates: Templates) -> None:
    m = render_teams(chase(), link=LINK, reference=REF, webhook="SIB", templates=templates)
    assert m.channel == "teams" and m.webhook == "SIB" and m.link == LINK
    assert [(x.name, x.upn) for x in m.mentions] == [("Hester Pengelly", "hester@council.example")]
    assert "<at>Hester Pengelly</at>" in m.text
    assert "- **2.5** Recruit two specialist teachers." in m.text
    assert "CHS-abc123" in m.text and m.subject.endswith("[ref CHS-abc123]")


def test_it_mentions_the_away_lead_and_the_delegate_in_teams(templates: Templates) -> None:
    c = chase(to=KIT, delegated=True)
    m = render_teams(c, link=LINK, reference=REF, webhook="SIB", templates=templates)
    assert {x.upn for x in m.mentions} == {"kit@council.example", "hester@council.example"}
    assert "<at>Kit Trelawny</at>" in m.text and "<at>Hester Pengelly</at>" in m.text


def test_it_names_people_without_a_teams_account(templates: Templates) -> None:
    plain = replace(HESTER, teams_id="")
    m = render_teams(
        chase(to=plain, lead=plain), link=LINK, reference=REF, webhook="SIB", templates=templates
    )
    assert m.mentions == () and "<at>" not in m.text and "Hester Pengelly:" in m.text


def test_it_stops_user_text_forging_a_teams_mention(templates: Templates) -> None:
    sneaky = ChasedAction("1.1", "Ask <at>Hester Pengelly</at> now", "TBC", "", "", None)
    plain = replace(HESTER, teams_id="")
    m = render_teams(
        chase(actions=(sneaky,), to=plain, lead=plain),
        link=LINK,
        reference=REF,
        webhook="SIB",
        templates=templates,
    )
    assert "<at>" not in m.text and "Ask Hester Pengelly now" in m.text


def test_it_keeps_a_plans_markdown_from_becoming_links_or_bold_in_teams(
    templates: Templates,
) -> None:
    """Plan text is the council's and the leads' words: in a Teams card it shows as written,
    never as a clickable link whose text hides where it goes."""
    sneaky = ChasedAction(
        "1.1", "Read [the guidance](https://evil.example/login) **today**", "TBC", "", "", None
    )
    m = render_teams(
        chase(actions=(sneaky,)), link=LINK, reference=REF, webhook="SIB", templates=templates
    )
    assert r"\[the guidance\]\(https://evil.example/login\) \*\*today\*\*" in m.text
    assert "[the guidance](" not in m.text
    assert m.text.startswith("**")  # Chaser's own bold heading is still bold


def test_it_lists_each_silent_lead_in_one_escalation(templates: Templates) -> None:
    actions = tuple(replace(a, lead=HESTER if a.ref != "4.2" else KIT) for a in ACTIONS)
    c = chase(Step.ESCALATION, to=SRO, lead=SRO, cc=(SECRETARY,), actions=actions)
    subject, text, html = render(templates, c)
    assert subject == "No update from 2 leads for the SEND Improvement Board [ref CHS-abc123]"
    assert "Hester Pengelly and Kit Trelawny have not sent updates for 3 actions" in text
    assert "We have sent each of them a request and reminders." in text
    assert "Please follow this up with them, or send the updates yourself." in text
    hester = text.index("Hester Pengelly: 2 actions with no update")
    kit = text.index("Kit Trelawny: 1 action with no update")
    assert hester < text.index("1. 2.5 ") < text.index("2. 3.1 ") < kit < text.index("3. 4.2 ")
    assert "Hester Pengelly: 2 actions with no update" in html
    assert "Kit Trelawny: 1 action with no update" in html
    assert "Send the updates" in html


#: A link as long as the real signed ones: one unbreakable word of 300 characters.
LONG_LINK = "https://chaser.council.example/r/" + "x" * 300


@pytest.mark.parametrize("step", [Step.REQUEST, Step.ESCALATION, Step.NUDGE])
def test_it_fits_a_phone_screen_without_scrolling_sideways(
    templates: Templates, step: Step, tmp_path: Path
) -> None:
    from tests.browser import chromium_page

    long_title = ChasedAction(
        "IA7",
        "Co-produce with parents and carers a single graduated response toolkit covering "
        "identification, assessment, provision mapping and review across every setting",
        "Summer term 2025",
        "Autumn term 2025",
        "Amber",
        date(2025, 6, 3),
    )
    actions: tuple[ChasedAction, ...] = (*ACTIONS, long_title)
    if step is Step.ESCALATION:
        actions = tuple(replace(a, lead=HESTER if i < 2 else KIT) for i, a in enumerate(actions))
    if step is Step.NUDGE:
        kinds = ("nudge_overdue", "nudge_due", "nudge_before", "nudge_before")
        actions = tuple(replace(a, nudge=k) for a, k in zip(actions, kinds, strict=True))
    to = {"to": SRO, "lead": SRO} if step is Step.ESCALATION else {}
    c = chase(step, actions=actions, **to)
    m = render_chase(c, link=LONG_LINK, reference=REF, sender=SENDER, templates=templates)
    page_file = tmp_path / "chase.html"
    page_file.write_text(m.html)
    shots = Path(os.environ.get("CHASER_SCREENSHOTS", tmp_path))
    with chromium_page() as page:
        for width in (320, 390, 600, 1024):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(page_file.as_uri())
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{scroll} px wide at a {width} px viewport"
            button = page.get_by_role("link", name=re.compile("Send (your update|the updates)"))
            assert button.is_visible() and button.get_attribute("href") == LONG_LINK
            box = button.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
            if width in (390, 1024):
                page.screenshot(path=str(shots / f"chase-{step}-{width}.png"), full_page=True)
        assert page.errors == []
