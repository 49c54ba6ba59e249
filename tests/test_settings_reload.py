"""The running service picks up a saved chasing.yaml or digest.yaml at its next tick: a good file
applies at once (but for the keys its connections were made with), a bad one is refused and the
last good one keeps running."""

from __future__ import annotations

import shutil
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from structlog.testing import capture_logs

from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.files import FileChannel
from notifications.channel import Channel
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from workflows.plan.mapping import load_mapping
from workflows.store.models import Plan
from workflows.views.flag_model import stored_flags

PLAN = "plymouth-send-2023"
#: A Tuesday in the plan's second year: most of its actions are overdue by then.
AT = datetime(2025, 9, 16, 8, 0, tzinfo=UTC)


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> tuple[Runtime, Path]:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    settings = Settings.from_env(
        {"CHASER_SECRET_KEY": "s" * 40, "CHASER_DATA_DIR": str(tmp_path / "data")},
        config_dir=config,
    )
    channels: dict[str, Channel] = {"email": FileChannel(tmp_path / "mail")}
    return build_runtime(settings, engine, channels=channels, clock=Clock(AT)), config


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def test_it_applies_a_saved_ladder_and_pace_at_the_next_tick(service: tuple[Runtime, Path]) -> None:
    runtime, config = service
    tick(runtime, AT, dispatch=False)
    plan = runtime.plans[PLAN]
    dispatcher = runtime.get_dispatcher()
    assert (plan.chasing.ladder.request, dispatcher.rates) == (
        -5,
        {"send.improvement@example.org": 30},
    )
    _edit(config / "chasing.yaml", "  request: -5 ", "  request: -7 ")
    _edit(config / "chasing.yaml", "rate_per_minute: 30", "rate_per_minute: 10")
    with capture_logs() as logs:
        tick(runtime, AT + timedelta(minutes=1), dispatch=False)
    assert plan.chasing.ladder.request == -7
    assert runtime.get_dispatcher() is dispatcher  # the same one: it keeps its place in the pace
    assert dispatcher.rates == {"send.improvement@example.org": 10}
    assert len(_events(logs, "chasing_config_loaded")) == 1
    with capture_logs() as logs:  # unchanged since: not read again
        tick(runtime, AT + timedelta(minutes=2), dispatch=False)
    assert _events(logs, "chasing_config_loaded") == []


def test_it_keeps_running_on_the_last_good_file_when_a_saved_one_is_bad(
    service: tuple[Runtime, Path],
) -> None:
    runtime, config = service
    plan = runtime.plans[PLAN]
    _edit(config / "chasing.yaml", "  request: -5 ", "  request: 3 ")  # must be ≤ 0
    with capture_logs() as logs:
        tick(runtime, AT, dispatch=False)
    assert plan.chasing.ladder.request == -5
    (refused,) = _events(logs, "chasing_config_rejected")
    # where the problem is (line and key), not what the file says: values can be addresses
    assert (refused["problems"], refused["where"]) == (1, ["14:ladder.request"])
    _edit(config / "chasing.yaml", "  request: 3 ", "  request: -6 ")  # the admin fixes it
    tick(runtime, AT + timedelta(minutes=1), dispatch=False)
    assert plan.chasing.ladder.request == -6


def test_it_keeps_the_mailbox_it_sends_from_until_a_restart_and_applies_the_rest(
    service: tuple[Runtime, Path],
) -> None:
    runtime, config = service
    plan = runtime.plans[PLAN]
    mailbox = plan.chasing.sender.mailbox
    _edit(config / "chasing.yaml", f"mailbox: {mailbox}", "mailbox: send.board@example.org")
    _edit(config / "chasing.yaml", "  reminder: -2 ", "  reminder: -3 ")
    with capture_logs() as logs:
        tick(runtime, AT, dispatch=False)
    assert (plan.chasing.sender.mailbox, plan.chasing.ladder.reminder) == (mailbox, -3)
    (warned,) = _events(logs, "chasing_config_restart_needed")
    assert warned["keys"] == ["sender.mailbox"]


def test_it_flags_every_action_again_when_the_slippage_rules_change(
    service: tuple[Runtime, Path], engine: Engine
) -> None:
    runtime, config = service
    tick(runtime, AT, dispatch=False)
    with Session(engine) as session:
        plan_id = session.exec(select(Plan.id).where(Plan.code == PLAN)).one()
        assert plan_id is not None
        before = stored_flags(session, plan_id)
    overdue = {ref for ref, flags in before.items() if any(f.rule == "overdue" for f in flags)}
    assert len(overdue) > 10
    _edit(config / "digest.yaml", "slippage: {}", "slippage:\n  overdue: {enabled: false}")
    tick(runtime, AT + timedelta(minutes=1), dispatch=False)  # the same day: only a change
    with Session(engine) as session:
        after = stored_flags(session, plan_id)
    assert not any(f.rule == "overdue" for flags in after.values() for f in flags)
    digests = runtime.plans[PLAN].digests
    assert digests is not None and digests.slippage == {"overdue": {"enabled": False}}
