"""The reply corpus: realistic emailed replies, each read and judged as a careful secretary would.

Every ``tests/fixtures/reply_corpus/NN_*.eml`` has its expected reading in the ``.json`` beside
it (written with the case, see ``make_corpus.py`` there), and the plans, people and requests they
answer are in ``context.json``. Each reply is read with its plan's scale, titles and request and
judged with the trust rules as the council's gateway stamped it; then each answer is compared
field by field: the action and how it was found, the verdict, the status on the common scale
and on the plan's own, the revised date with its precision, the evidence links and the
narrative, and the actions that must not change.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from workflows.plan.mapping import load_mapping
from workflows.replies.authentication import Receiver, vouch
from workflows.replies.intake import sent_time
from workflows.replies.parsing import parse_reply
from workflows.replies.trust import ActionPeople, RequestInfo, Sender, Verdict, judge_reply

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fixtures" / "reply_corpus"
CONTEXT: dict[str, Any] = json.loads((CORPUS / "context.json").read_text("utf-8"))
FILES = sorted(p.name for p in CORPUS.glob("*.eml"))


def _judge(name: str) -> tuple[dict[str, Any], Verdict, Any]:
    want = json.loads((CORPUS / name).with_suffix(".json").read_text("utf-8"))
    plan = CONTEXT["plans"][want["plan"]]
    request = plan["requests"][want["request"]]
    scale = load_mapping(ROOT / plan["mapping"]).status_scale
    raw = (CORPUS / name).read_bytes()
    now = datetime.fromisoformat(want["taken_in"])
    parsed = parse_reply(
        raw,
        scale=scale,
        known_refs=list(plan["actions"]),
        today=now.date(),
        titles=plan["titles"],
        asked=request["refs"],
    )
    people = {code: Sender(code, p.get("delegate", "")) for code, p in plan["people"].items()}
    by_email = {p["email"]: code for code, p in plan["people"].items()}
    code = by_email.get(parsed.sender_email)
    verdict = judge_reply(
        parsed,
        request=RequestInfo(
            delivery_id=1,
            lead=want["request"].split("-")[0],
            recipient=want["request"].split("-")[0],
            refs=tuple(request["refs"]),
            due_by=datetime.fromisoformat(request["due_by"]),
        ),
        sender=people[code] if code else None,
        people=people,
        actions={
            ref: ActionPeople(a["lead"], frozenset(a["contributors"]))
            for ref, a in plan["actions"].items()
        },
        scale=scale,
        now=now,
        vouching=vouch(
            Receiver.smtp([CONTEXT["gateway"]]),
            message_headers=parsed.authentication_results,
            sender_email=parsed.sender_email,
            from_count=parsed.from_count,
        ),
        sent_at=sent_time(parsed, now),
    )
    return want, verdict, parsed


def test_it_has_at_least_60_replies_each_with_its_expected_reading() -> None:
    assert len(FILES) >= 60
    for name in FILES:
        assert (CORPUS / name).with_suffix(".json").exists(), name


@pytest.mark.parametrize("name", FILES)
def test_it_reads_each_reply_as_a_careful_secretary_would(name: str) -> None:
    want, verdict, parsed = _judge(name)
    assert str(verdict.kind) == want["verdict"], f"{name}: {verdict.reason}"
    if "reason_contains" in want:
        assert want["reason_contains"] in verdict.reason, verdict.reason
    assert parsed.auto_reply == want["auto_reply"], name
    assert parsed.acknowledged == want["acknowledged"], name
    away = parsed.away_until.isoformat() if parsed.away_until else None
    assert away == want["away_until"], name
    assert verdict.late == want["late"], name
    got = [a.as_json() for a in verdict.answers]
    assert [(a["ref"], a["verdict"]) for a in got] == [
        (a["ref"], a["verdict"]) for a in want["answers"]
    ], f"{name}: {[(a['ref'], a['verdict'], a['reason']) for a in got]}"
    for have, expected in zip(got, want["answers"], strict=True):
        ref = expected["ref"]
        read = have["read"]
        assert have["match"] == expected["match"], f"{name} {ref}: match"
        if "min_score" in expected:
            assert (have["score"] or 0) >= expected["min_score"], f"{name} {ref}: score"
        if "reason_contains" in expected:
            assert expected["reason_contains"] in have["reason"], f"{name} {ref}: {have['reason']}"
        if have["verdict"] == "acknowledged":
            continue
        if have["verdict"] == "unchanged":
            assert read["status"] is None and read["revised_date"] is None, f"{name} {ref}"
            continue
        if expected["status"] is None and have["verdict"] == "review":
            continue  # what was read of a doubtful answer is for the secretary to judge
        assert read["status"] == expected["status"], f"{name} {ref}: status"
        update = have["update"] or {}
        assert update.get("status_label", "") == expected["label"], f"{name} {ref}: label"
        revised = read["revised_date"]
        assert (
            [revised["first"], revised["last"], revised["precision"]] if revised else None
        ) == expected["revised_date"], f"{name} {ref}: revised date"
        assert read["evidence"] == expected["evidence"], f"{name} {ref}: evidence"
        assert read["narrative"] == expected["narrative"], f"{name} {ref}: narrative"
    # Actions that must not change: nothing applied changes their status, date or narrative.
    applied = {u.ref: u for u in verdict.updates}
    for ref in want["must_not_change"]:
        update = applied.get(ref)
        assert update is None or (
            update.no_change and not update.status and not update.forecast and not update.narrative
        ), f"{name}: {ref} must not change"


@pytest.mark.parametrize("name", [n for n in FILES if "spoof" in n])
def test_it_never_applies_a_spoof(name: str) -> None:
    _, verdict, _ = _judge(name)
    assert verdict.updates == ()
    assert all(a.verdict == "review" for a in verdict.answers)
