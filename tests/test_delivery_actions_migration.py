"""Migration 0015: every message's actions get a row of ``delivery_action``, from the refs the
outbox already kept, so an action's page finds the messages sent before the upgrade too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from tests.stores import store_at
from tests.test_store import _insert, command_downgrade
from workflows.store.db import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at_0014(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with store_at(request.param, tmp_path, "0014") as engine:
        yield engine


def _message(
    conn: object, n: int, plan_id: int | None, refs: list[str], kind: str = "request"
) -> None:
    _insert(
        conn,
        "delivery",
        key=f"k{n}",
        reference=f"CHS-{n}",
        kind=kind,
        plan_id=plan_id,
        person_code="AP",
        action_refs=json.dumps(refs),
        payload="{}",
    )


def test_it_links_every_message_sent_before_the_upgrade_to_its_actions(
    store_at_0014: Engine,
) -> None:
    engine = store_at_0014
    with engine.begin() as conn:
        _insert(conn, "plan", code="p", title="P")
        _insert(conn, "plan", code="q", title="Q")
        _message(conn, 1, 1, ["2.2", "2.5"])  # a request to Aisha about two actions
        _message(conn, 2, 1, ["2.2", "2.2"])  # a ref written twice is linked once
        _message(conn, 3, 2, ["2.2"])  # another plan's 2.2
        _message(conn, 4, None, [])  # a sign-in link: about no plan
        _message(conn, 5, 1, ["2.2", "3.1"], kind="escalation")  # about several leads' actions
    upgrade(engine)
    with engine.connect() as conn:
        links = conn.execute(
            text("select delivery_id, plan_id, ref, lead_code from delivery_action order by 1, 3")
        ).all()
    assert [tuple(r) for r in links] == [
        (1, 1, "2.2", "AP"),
        (1, 1, "2.5", "AP"),
        (2, 1, "2.2", "AP"),
        (3, 2, "2.2", "AP"),
        # which of them was whose, an escalation did not keep: the page says the lead's now
        (5, 1, "2.2", ""),
        (5, 1, "3.1", ""),
    ]
    indexes = {i["name"] for i in inspect(engine).get_indexes("delivery_action")}
    assert "ix_delivery_action_plan_ref" in indexes

    command_downgrade(engine, "0014")
    assert "delivery_action" not in inspect(engine).get_table_names()
