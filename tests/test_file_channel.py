"""The development channel: integrations.channels.files."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from integrations.channels.files import FileChannel, file_stem
from integrations.channels.smtp import message_id
from notifications.channel import Address, Mention, OutgoingMessage

SENDER = "chaser@council.example"


def message(key: str = "request:HP:SIB-2025-07-08", **changes: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "key": key,
        "channel": "email",
        "sender": SENDER,
        "to": (Address("Hester Pengelly", "hester@council.example"),),
        "subject": "Update needed by Tue 1 Jul [ref CHS-abc123]",
        "text": "Hello Hester,\n\nPlease send an update.\n",
        "html": "<p>Hello Hester,</p>",
        "link": "https://chaser.council.example/u/tok",
    }
    fields.update(changes)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


def test_it_writes_an_eml_and_a_json_file(tmp_path: Path) -> None:
    channel = FileChannel(tmp_path / "outbox")
    m = message()
    receipt = channel.send(m)
    stem = file_stem(m.key)
    eml = tmp_path / "outbox" / f"{stem}.eml"
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == m.subject
    assert parsed["Message-ID"] == receipt.provider_id == message_id(m.key, "council.example")
    record = json.loads((tmp_path / "outbox" / f"{stem}.json").read_text("utf-8"))
    assert OutgoingMessage.from_json(record["message"]) == m
    assert record["message_id"] == receipt.provider_id
    assert receipt.detail == str(eml)


def test_it_is_idempotent_by_key(tmp_path: Path) -> None:
    channel = FileChannel(tmp_path)
    first = channel.send(message())
    second = channel.send(message())
    channel.send(message(key="reminder:HP:SIB-2025-07-08:1"))
    assert first == second
    assert len(list(tmp_path.glob("*.eml"))) == 2 and len(list(tmp_path.glob("*.json"))) == 2
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_it_finds_what_it_already_wrote(tmp_path: Path) -> None:
    channel = FileChannel(tmp_path)
    assert channel.find_sent(message()) is None
    receipt = channel.send(message())
    assert channel.find_sent(message()) == receipt
    assert channel.find_sent(message(key="other")) is None


def test_it_keeps_keys_apart_in_file_names() -> None:
    assert file_stem("a/b") != file_stem("a:b")
    assert "/" not in file_stem("../../etc/passwd") and not file_stem("../x").startswith(".")
    assert file_stem("request:HP:SIB-2025-07-08").startswith("request_HP_SIB-2025-07-08-")


def test_it_stores_the_teams_card_for_teams_messages(tmp_path: Path) -> None:
    m = message(
        channel="teams",
        sender="",
        html="",
        text="<at>Hester Pengelly</at>: please update.",
        mentions=(Mention("Hester Pengelly", "hester@council.example"),),
        webhook="SIB",
    )
    receipt = FileChannel(tmp_path).send(m)
    record = json.loads((tmp_path / f"{file_stem(m.key)}.json").read_text("utf-8"))
    card = record["teams_card"]["attachments"][0]["content"]
    assert card["msteams"]["entities"][0]["mentioned"]["id"] == "hester@council.example"
    assert receipt.provider_id.endswith("@chaser.invalid>")


def test_it_prints_a_summary_without_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    channel = FileChannel(None)
    receipt = channel.send(message(cc=(Address("Board Secretary", "sec@council.example"),)))
    out = capsys.readouterr().out
    assert "To: Hester Pengelly <hester@council.example>" in out
    assert "Cc: Board Secretary <sec@council.example>" in out
    assert "Subject: Update needed by Tue 1 Jul [ref CHS-abc123]" in out
    assert "Please send an update." in out
    assert "Link: https://chaser.council.example/u/tok" in out
    assert receipt.detail == "printed"
    assert channel.find_sent(message()) is None
