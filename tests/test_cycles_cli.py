"""``chaser cycles validate|preview|ics`` and the config reloader the service's tick calls."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from icalendar import Calendar
from structlog.testing import capture_logs

from chaser.cli import cli
from chaser.config_reload import CyclesReloader, default_status_path, read_status
from workflows.calendar.cycles import CyclesConfigError

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "cycles.yaml"
NOW = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)

GOOD = textwrap.dedent(
    """\
    groups:
      - code: SIB
        name: Board
        cadence: Six weekly
        first_meeting: 2025-07-08
        secretary:
          name: Sam Secretary
          email: sam@example.org
    """
)
BAD = GOOD.replace("Six weekly", "six weakly")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHASER_DATA_DIR", str(tmp_path / "data"))
    directory = tmp_path / "config"
    directory.mkdir()
    shutil.copy(SHIPPED, directory / "cycles.yaml")
    return directory


def run(config_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config_dir), "cycles", *args])
    return result.exit_code, result.output


# -- validate -----------------------------------------------------------------------------


def test_it_validates_the_shipped_config_and_says_how_each_wording_was_read(
    config_dir: Path,
) -> None:
    code, out = run(config_dir, "validate")
    assert code == 0, out
    assert "cycles.yaml: valid (15 groups)." in out
    assert "groups[1].cadence: 'Six weekly' read as every 6 weeks on Tuesday" in out
    assert "'Three weekly' read as every 3 weeks on Wednesday" in out
    assert "'Moving to Quarterly' read as quarterly (every 3 months)" in out


def test_it_refuses_a_bad_file_with_file_line_key_and_fix(config_dir: Path) -> None:
    (config_dir / "cycles.yaml").write_text(BAD, encoding="utf-8")
    code, out = run(config_dir, "validate")
    assert code == 1
    expected = (
        f"{config_dir / 'cycles.yaml'}:4: groups[0].cadence: cadence 'six weakly' is not "
        "understood; write 'every 6 weeks'"
    )
    assert expected in out.splitlines()
    assert "1 problem." in out


def test_it_validates_a_file_given_on_the_command_line(config_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "draft.yaml"
    other.write_text(GOOD.replace("first_meeting: 2025-07-08", "first_meeting: 8/7/2025"))
    code, out = run(config_dir, "validate", str(other))
    assert code == 1
    assert f"{other}:5: groups[0].first_meeting: '8/7/2025' is not a date" in out
    assert "write 2025-07-08" in out


def test_it_says_when_the_file_is_missing(tmp_path: Path) -> None:
    code, out = run(tmp_path, "validate")
    assert code == 1
    assert "file not found" in out


# -- preview ------------------------------------------------------------------------------


def test_it_previews_the_board_dates_with_papers_deadlines(config_dir: Path) -> None:
    code, out = run(
        config_dir, "preview", "--from", "2025-07-01", "--weeks", "14", "--group", "SIB"
    )
    assert code == 0, out
    lines = [line.strip() for line in out.splitlines()[1:]]
    assert lines == [
        "Tue 08 Jul 2025 10:00  SIB  papers due Tue 01 Jul 2025",
        "Tue 19 Aug 2025 10:00  SIB  papers due Tue 12 Aug 2025",
        "Tue 30 Sep 2025 10:00  SIB  papers due Tue 23 Sep 2025",
    ]


def test_it_shows_recess_meetings_as_cancelled_in_the_preview(config_dir: Path) -> None:
    code, out = run(config_dir, "preview", "--from", "2025-08-01", "--weeks", "4", "--group", "HWL")
    assert code == 0, out
    assert "Mon 04 Aug 2025 14:00  HWL  CANCELLED  (August recess)" in out


def test_it_previews_as_documented_json(config_dir: Path) -> None:
    code, out = run(config_dir, "preview", "--from", "2025-07-07", "--weeks", "26", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["schema"] == "chaser.cycles.preview/1"
    assert (doc["from"], doc["to"]) == ("2025-07-07", "2026-01-04")
    board = [m for m in doc["meetings"] if m["group"] == "SIB"]
    assert [m["date"] for m in board] == [
        "2025-07-08",
        "2025-08-19",
        "2025-09-30",
        "2025-11-11",
        "2025-12-16",
    ]
    first = board[0]
    assert first == {
        "key": "SIB:2025-07-08",
        "group": "SIB",
        "group_name": "Local Area SEND Improvement Board",
        "slot": "2025-07-08",
        "date": "2025-07-08",
        "starts_at": "2025-07-08T10:00:00+01:00",
        "ends_at": "2025-07-08T12:00:00+01:00",
        "starts_at_utc": "2025-07-08T09:00:00Z",
        "timezone": "Europe/London",
        "papers_deadline": "2025-07-01",
        "papers_deadline_working_days": 5,
        "status": "scheduled",
        "note": "",
        "mandatory_invitees": first["mandatory_invitees"],
    }
    assert len(first["mandatory_invitees"]) == 3
    assert board[-1]["status"] == "moved" and board[-1]["slot"] == "2025-12-23"
    nov = next(m for m in board if m["date"] == "2025-11-11")
    assert nov["starts_at_utc"] == "2025-11-11T10:00:00Z"  # GMT after the October change
    assert any(m["status"] == "cancelled" for m in doc["meetings"])


def test_it_refuses_an_unknown_group_or_a_bad_date(config_dir: Path) -> None:
    code, out = run(config_dir, "preview", "--group", "NOPE")
    assert code == 2
    assert "no group NOPE" in out
    code, out = run(config_dir, "preview", "--from", "8 July 2025")
    assert code == 2
    assert "--from" in out


def test_it_will_not_preview_an_invalid_config(config_dir: Path) -> None:
    (config_dir / "cycles.yaml").write_text(BAD, encoding="utf-8")
    code, out = run(config_dir, "preview", "--from", "2025-07-01")
    assert code == 1
    assert "cadence 'six weakly' is not understood" in out


def test_it_previews_from_today_by_default(config_dir: Path) -> None:
    code, out = run(config_dir, "preview")
    assert code == 0, out
    assert out.startswith("Meetings ")


# -- ics ----------------------------------------------------------------------------------


def test_it_writes_a_calendar_feed_with_the_board_invitees(
    config_dir: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "sib.ics"
    code, out = run(
        config_dir,
        "ics",
        "--group",
        "SIB",
        "--from",
        "2025-07-01",
        "--weeks",
        "8",
        "--out",
        str(out_file),
    )
    assert code == 0, out
    cal = Calendar.from_ical(out_file.read_bytes())
    uids = sorted(str(e["UID"]) for e in cal.events)
    assert uids == [
        "SIB:2025-07-08@chaser",
        "SIB:2025-08-19@chaser",
        "papers-SIB:2025-07-08@chaser",
        "papers-SIB:2025-08-19@chaser",
    ]
    board = next(e for e in cal.events if str(e["UID"]) == "SIB:2025-07-08@chaser")
    assert "mailto:rhodri.penhallow@example.nhs.uk" in {str(a) for a in board.attendees}


def test_it_prints_the_feed_to_standard_output(config_dir: Path) -> None:
    code, out = run(config_dir, "ics", "--from", "2025-07-01", "--weeks", "2")
    assert code == 0
    cal = Calendar.from_ical(out.encode())
    assert {str(e["UID"]).split(":")[0] for e in cal.events} >= {"SIB", "PCIB", "HWL"}


@pytest.mark.parametrize("verb", ["validate", "preview", "ics"])
def test_every_verb_has_help(config_dir: Path, verb: str) -> None:
    code, out = run(config_dir, verb, "--help")
    assert code == 0
    assert "Usage:" in out


# -- reloading while the service runs -----------------------------------------------------


def edit(path: Path, text: str, tick: int) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = 1_750_000_000 + tick
    os.utime(path, (stamp, stamp))


def test_it_reloads_a_valid_edit_and_keeps_the_last_good_config_on_a_bad_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cycles.yaml"
    status_path = default_status_path(tmp_path / "data")
    edit(path, GOOD, 0)
    reloader = CyclesReloader(path, status_path=status_path)
    first = reloader.poll(NOW)
    assert first.group("SIB").cadence.interval == 6
    assert reloader.poll(NOW) is first  # unchanged file: no re-read

    with capture_logs() as logs:
        edit(path, BAD, 1)
        still = reloader.poll(NOW)
    assert still is first
    assert [p.key for p in reloader.problems] == ["groups[0].cadence"]
    (rejected,) = [e for e in logs if e["event"] == "cycles_config_rejected"]
    assert rejected["log_level"] == "warning"
    assert rejected["where"] == ["4:groups[0].cadence"]
    assert "sam@example.org" not in json.dumps(logs, default=str)  # no personal data
    status = read_status(status_path)
    assert status is not None and status.state == "rejected"
    assert status.loaded_at == NOW.isoformat()
    assert "write 'every 6 weeks'" in status.problems[0]

    edit(path, GOOD.replace("Six weekly", "Three weekly"), 2)
    newer = reloader.poll(NOW)
    assert newer.group("SIB").cadence.interval == 3
    assert reloader.problems == []
    status = read_status(status_path)
    assert status is not None and status.state == "loaded" and status.problems == []


def test_it_ignores_a_touch_that_does_not_change_the_content(tmp_path: Path) -> None:
    path = tmp_path / "cycles.yaml"
    edit(path, GOOD, 0)
    reloader = CyclesReloader(path)
    first = reloader.poll(NOW)
    with capture_logs() as logs:
        edit(path, GOOD, 5)
        assert reloader.poll(NOW) is first
    assert logs == []


def test_it_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "cycles.yaml"
    edit(path, BAD, 0)
    with pytest.raises(CyclesConfigError, match="six weakly"):
        CyclesReloader(path).poll(NOW)


def test_it_keeps_running_when_the_file_disappears(tmp_path: Path) -> None:
    path = tmp_path / "cycles.yaml"
    edit(path, GOOD, 0)
    reloader = CyclesReloader(path)
    first = reloader.poll(NOW)
    path.unlink()
    assert reloader.poll(NOW) is first
    assert "cannot read the file" in reloader.problems[0].message


def test_validate_says_the_running_service_refused_the_edit(config_dir: Path) -> None:
    path = config_dir / "cycles.yaml"
    data_dir = Path(os.environ["CHASER_DATA_DIR"])
    reloader = CyclesReloader(path, status_path=default_status_path(data_dir))
    reloader.poll(NOW)
    edit(path, BAD, 1)
    reloader.poll(NOW)
    code, out = run(config_dir, "validate")
    assert code == 1
    assert "The running service refused this version and keeps the one it loaded at" in out
    edit(path, GOOD, 2)
    code, out = run(config_dir, "validate")
    assert code == 0
    assert "it will load this version at its next tick" in out


def test_the_meeting_dates_do_not_depend_on_the_clock(config_dir: Path) -> None:
    # The same window gives the same answer whatever day the test runs.
    a = run(config_dir, "preview", "--from", "2025-07-01", "--weeks", "2", "--json")[1]
    b = run(config_dir, "preview", "--from", "2025-07-01", "--weeks", "2", "--json")[1]
    assert a == b
    assert json.loads(a)["meetings"][0]["date"] == date(2025, 7, 8).isoformat()
