"""`chaser demo`: the whole loop on the embedded defaults, run at full speed in a subprocess.

One demo run serves every test here: it simulates 20 Aug to 30 Sep 2025 (SSDG on 9 Sep, SIB
on 30 Sep) with the simulated leads of chaser/demo_leads.py, then keeps serving its pages.
"""

from __future__ import annotations

import email
import email.policy
import http.cookiejar
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.browser import axe_violations, chromium_page, click_and_wait, require_browser
from tests.mail_servers import free_port

#: The demo plan's code, which begins every outbox key.
PLAN = "plymouth-send-2023"

DEADLINE = 300  # seconds for the simulated six weeks (it takes about 25 on a laptop)
_DIGEST = re.compile(r"DIGEST for (\S+) (\S+) sent to (.+?): .*?(http://\S+/outbox/(\d+))$")


@dataclass
class DemoRun:
    process: subprocess.Popen[str]
    url: str
    folder: Path
    lines: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    #: Signed in by the link the demo printed (on first use): the secretary's pages need it.
    _opener: urllib.request.OpenerDirector | None = None

    @property
    def signin_link(self) -> str:
        for line in self.lines:
            if line.startswith("Open "):
                return line.removeprefix("Open ").split()[0]
        raise AssertionError("the demo printed no link to open:\n" + self.output())

    def digest_number(self, group: str) -> int:
        for line in self.lines:
            found = _DIGEST.search(line)
            if found and found.group(1) == group:
                return int(found.group(5))
        raise AssertionError(f"no digest for {group} in the demo's output:\n" + self.output())

    def output(self) -> str:
        return "\n".join(self.lines[-60:]) + "\n--- stderr ---\n" + "\n".join(self.stderr[-30:])

    def get(self, path: str) -> bytes:
        if self._opener is None:
            self._opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
            )
            with self._opener.open(self.signin_link, timeout=30) as signed_in:
                assert signed_in.url == self.url + "/plan"  # signed in, on the plan, no step
        with self._opener.open(self.url + path, timeout=30) as answer:
            body: bytes = answer.read()
            return body

    def message(self, number: int) -> EmailMessage:
        raw = self.get(f"/outbox/{number}/raw")
        return email.message_from_bytes(raw, policy=email.policy.default)


def _pump(stream: object, into: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line.rstrip("\n"))
    into.put(None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaser",
            "demo",
            "--speed",
            "0",
            "--port",
            str(port),
            "--keep",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CHASER_LOG_FORMAT": "console"},
    )
    run = DemoRun(process, f"http://127.0.0.1:{port}", folder)
    lines: queue.Queue[str | None] = queue.Queue()
    errors: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, errors), daemon=True).start()
    deadline = time.monotonic() + DEADLINE
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the demo did not finish in {DEADLINE} s:\n{run.output()}")
            if line is None:
                run.stderr += _drain(errors)
                pytest.fail(f"the demo stopped early ({process.wait()}):\n{run.output()}")
            run.lines.append(line)
            if line.startswith("Clock stopped"):
                break
        yield run
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    while (line := lines.get(timeout=5)) is not None:
        run.lines.append(line)
    run.stderr += _drain(errors)
    assert process.returncode == 0, run.output()
    assert run.lines[-1] == "Demo stopped."


def _drain(q: queue.Queue[str | None]) -> list[str]:
    out: list[str] = []
    while True:
        try:
            item = q.get(timeout=2)
        except queue.Empty:
            return out
        if item is None:
            return out
        out.append(item)


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")  # sections split on blank lines


def _exceptions(digest_text: str) -> dict[str, str]:
    """Ref -> its block in the digest's exception report."""
    section = digest_text.split("EXCEPTION REPORT", 1)[1].split("ACTION AND IMPACT LOG", 1)[0]
    blocks = re.split(r"\n(?=\S+  )", section.split("\n", 2)[2])
    return {b.split("  ", 1)[0]: b for b in blocks if b.strip()}


# -- the run ---------------------------------------------------------------------------------


def test_it_prints_the_address_and_one_progress_line_per_simulated_day(demo: DemoRun) -> None:
    head = "\n".join(demo.lines[:20])
    assert f"Open {demo.url}/signin/link/" in head
    assert "it signs you in as Morwenna Tregear, the board secretary, and opens the plan" in head
    assert "  TC  Tobias Carnsew: never answers" in head  # who does what, before it happens
    assert "  FO  Freya Odgers: answers by the form" in head and "slip before SIB" in head
    days = [line for line in demo.lines if re.match(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d ", line)]
    assert len(days) == 42  # Wed 20 Aug to Tue 30 Sep 2025
    assert days[0].startswith("Wed 20 Aug 2025") and days[-1].startswith("Tue 30 Sep 2025")
    by_day = {d[:15]: d for d in days}
    assert "13 request" in by_day["Tue 26 Aug 2025"]  # Mon 25 Aug is a bank holiday
    assert "papers due for SSDG 09 Sep" in by_day["Tue 02 Sep 2025"]
    assert "SIB meets" in by_day["Tue 30 Sep 2025"]


def test_the_secretarys_digest_arrives_once_two_working_days_before_each_meeting(
    demo: DemoRun,
) -> None:
    ssdg, sib = demo.digest_number("SSDG"), demo.digest_number("SIB")
    digest_lines = [line for line in demo.lines if "DIGEST for" in line]
    assert len(digest_lines) == 2
    message = demo.message(sib)
    assert message["To"] == "Morwenna Tregear <morwenna.tregear@example.org>"
    assert "Local Area SEND Improvement Board, Tue 30 Sep 2025" in message["Subject"]
    assert message["X-Chaser-Key"] == f"{PLAN}/digest:SIB:2025-09-30"
    names = [a.get_filename() for a in message.iter_attachments()]
    assert names == [
        "SIB-2025-09-30-action-and-impact-log.xlsx",
        "SIB-2025-09-30-board-paper.docx",
    ]
    assert demo.message(ssdg)["X-Chaser-Key"] == f"{PLAN}/digest:SSDG:2025-09-09"
    day_of = {n: line[:15] for line in demo.lines for n in (ssdg, sib)}
    sent_on = [
        line[:15] for line in demo.lines if re.match(r"\w{3} \d\d", line) and "1 digest" in line
    ]
    assert sent_on == ["Fri 05 Sep 2025", "Fri 26 Sep 2025"], day_of


def test_the_digest_flags_the_slip_the_silent_leads_and_the_late_replies(demo: DemoRun) -> None:
    text = _text(demo.message(demo.digest_number("SIB")))
    flagged = _exceptions(text)
    # Freya Odgers reported 7.9 slipping by four months, at Red, through the form.
    slip = flagged["7.9"]
    assert "Lead: Freya Odgers" in slip
    assert "Status: Red" in slip
    assert re.search(r"Forecast \w{3} 20\d\d is \d+ months? later", slip), slip
    assert "Recruitment has stalled" in slip
    # Tobias Carnsew and Nia Dunstable never answer: each of their open actions is flagged;
    # 7.5, which the plan records as complete (Green, due "Completed"), is not.
    silent = {ref: b for ref, b in flagged.items() if "Tobias Carnsew" in b or "Nia Dunstable" in b}
    assert sorted(silent) == sorted(
        ["5.5", "5.6", "6.1", "6.2", "6.3", "6.4", "6.5", "7.6", "7.10", "7.14", "7.15"]
    )
    assert all("No update since the 9 Sep meeting" in b for b in silent.values())
    # Aisha Pendleford answered the day after each request: none of hers is flagged as silent.
    assert not [b for b in flagged.values() if "Aisha Pendleford" in b and "No update" in b]
    not_replied = text.split("NOT REPLIED AND ESCALATED", 1)[1].split("\n\n\n", 1)[0]
    assert "Tobias Carnsew: 10 actions, escalated" in not_replied
    assert "Nia Dunstable: 2 actions, escalated" in not_replied
    assert "Aisha Pendleford" not in not_replied
    # Morwenna Maddock and Theo Lanyon answered after the 23 Sep papers deadline.
    summary = re.search(r"(\d+) updated this cycle \((\d+) after the papers deadline\)", text)
    assert summary is not None and int(summary.group(2)) == 8  # MM's 5 and TL's 3 actions
    assert "New: 7.9 Posts may stay vacant into the new year." in text


def test_replies_the_demo_could_not_trust_wait_for_review(demo: DemoRun) -> None:
    # Juno Fairweather writes from a personal address, once per meeting.
    day_lines = [line for line in demo.lines if re.match(r"\w{3} \d\d \w{3} 2025", line)]
    assert day_lines[-1].endswith("waiting for review 2")
    # The simulated gateway vouched for the personal domain as for every other: what keeps
    # those replies back is that the address is nobody's in the people directory.
    queue = demo.get("/review").decode()
    assert queue.count("Reply ") >= 2 and "2 replies waiting for review" in queue
    assert queue.count("juno.at.home@personal-mail.example is not in the people directory") == 2
    assert "could not be read" not in queue


# -- the browser -----------------------------------------------------------------------------


def test_the_secretary_follows_the_loop_in_a_browser(demo: DemoRun) -> None:
    require_browser()
    with chromium_page() as page:

        def check(path: str) -> None:
            page.goto(demo.url + path)
            assert axe_violations(page) == [], path
            assert page.errors == [], path

        # Signed out, the plan asks her to sign in; she asks for a link by email.
        check("/plan")
        assert page.url == demo.url + "/signin?next=/plan"
        page.get_by_label("Email address").fill("morwenna.tregear@example.org")
        click_and_wait(page, page.get_by_role("button", name="Email me a sign-in link"))
        assert page.get_by_role("heading", name="Check your email").is_visible()
        assert axe_violations(page) == []
        link = _signin_link_sent_to(demo, "morwenna.tregear")
        page.goto(link)
        assert page.get_by_text("You are signing in as morwenna.tregear@example.org").is_visible()
        assert axe_violations(page) == []
        click_and_wait(page, page.get_by_role("button", name="Continue"))
        assert page.url == demo.url + "/plan"
        assert page.get_by_text("Signed in as Morwenna Tregear").is_visible()

        check("/plan")
        assert page.locator("h1").first.inner_text()
        check("/actions/7.9")
        assert "Recruitment has stalled" in page.content()
        check("/outbox?to=nia")
        click_and_wait(
            page, page.get_by_role("link", name=re.compile(r"^Update needed by Tue 23 Sep"))
        )
        assert axe_violations(page) == []
        assert "Nia Dunstable" in page.content()
        reply_link = page.locator(".chaser-message__text a[href*='/r/']").first
        click_and_wait(page, reply_link)
        assert page.url.startswith(demo.url + "/r/")
        assert axe_violations(page) == []
        first = page.locator("form[action*='/actions/']").first
        ref = str(first.get_attribute("action")).rsplit("/actions/", 1)[1]
        first.get_by_label("Red").check()
        first.locator("textarea[name=narrative]").fill("Provider has withdrawn; re-tendering.")
        click_and_wait(page, first.get_by_role("button", name=re.compile("Save")))
        assert axe_violations(page) == []
        assert "Update saved" in page.content()
        check(f"/plan?q={ref}")
        row = page.locator("tr", has_text="Provider has withdrawn")
        assert row.count() == 1
        assert "Red" in row.inner_text()
        check(f"/actions/{ref}")
        assert "Provider has withdrawn; re-tendering." in page.content()
        check("/meetings")

        # She applies a reply from the review queue: the history names her, not a typed name.
        check("/review")
        section = page.locator("section[id^=reply-]").first
        number = str(section.get_attribute("id")).removeprefix("reply-")
        section.get_by_label("Apply it").check()
        click_and_wait(page, section.get_by_role("button", name=f"Save decision on reply {number}"))
        assert page.get_by_text(f"Reply {number} applied").is_visible()
        assert axe_violations(page) == []
        assert f'id="reply-{number}"' not in page.content()  # no longer waiting
        check(f"/actions/{_first_ref_of_reply(demo, number)}")
        assert page.get_by_text(
            "applied from the review queue by Morwenna Tregear"
        ).first.is_visible()


def _signin_link_sent_to(demo: DemoRun, who: str) -> str:
    """The link in the newest sign-in email the demo's mail sink holds for ``who``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listing = demo.get(f"/outbox?to={who}").decode()
        numbers = re.findall(r'href="/outbox/(\d+)"[^>]*>Sign in to Chaser<', listing)
        if numbers:
            text = _text(demo.message(max(int(n) for n in numbers)))
            found = re.search(r"(http://\S+/signin/link/\S+)", text)
            assert found is not None, text
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError("no sign-in email arrived")


def _first_ref_of_reply(demo: DemoRun, number: str) -> str:
    """An action the applied reply spoke about, from the store the demo keeps."""
    import sqlite3

    with sqlite3.connect(demo.folder / "demo.db") as db:
        (reply_id,) = db.execute("select id from reply where id = ?", (int(number),)).fetchone()
        (action_id,) = db.execute(
            "select action_id from status_change where reply_id = ? limit 1", (reply_id,)
        ).fetchone()
        (ref,) = db.execute("select ref from action where id = ?", (action_id,)).fetchone()
    return str(ref)


def test_the_digest_shows_the_figure_and_the_risk_the_leads_gave_on_the_form(
    demo: DemoRun,
) -> None:
    text = _text(demo.message(demo.digest_number("SIB")))
    scorecard = text.split("SCORECARD: IMPACT MEASURES", 1)[1].split("RISK REGISTER", 1)[0]
    # Aisha Pendleford gave August's EHCP timeliness on the form: 46%, off its trajectory.
    assert "\nM1  " in scorecard, scorecard
    m1 = scorecard.split("\nM1  ", 1)[1].split("\nM2  ", 1)[0]
    assert "Latest: 46% (Aug 2025) ↓ worsening" in m1
    assert "RAG: Red" in m1 and "more than 15% off" in m1
    # Freya Odgers raised R3's likelihood from 3 to 4 on the form: 12 to 16, escalated.
    register = text.split("RISK REGISTER\n=============", 1)[1].split("CHANGES TO THE RISK", 1)[0]
    assert "R3  16 Very high (was 12): Waiting lists for community paediatric" in register
    assert "Escalated: R3 (12 -> 16)" in register
    assert "Freya Odgers: likelihood 3 → 4; mitigation: Extra clinics booked" in register
    assert "AP answered" in demo.output() and "gave " in demo.output()
    assert "FO answered" in demo.output() and "reviewed risk R3" in demo.output()
