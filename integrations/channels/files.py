"""A channel for development: messages go to files (or the terminal) instead of people.

With a folder, each message becomes ``<name>.eml`` (the exact MIME the SMTP channel would send;
open it in a mail client) and ``<name>.json`` (the stored message, its Message-ID and the Teams
card for Teams messages). The name comes from the key, so sending the same key again rewrites the
same two files, and :meth:`FileChannel.find_sent` finds them. Without a folder, a short readable
summary is printed to standard output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import structlog

from integrations.channels.smtp import message_id, mime_bytes
from integrations.channels.teams import build_card
from integrations.graph.client import GraphClient
from notifications.channel import OutgoingMessage, Receipt
from workflows.chasing.config import Sender

log = structlog.get_logger(__name__)

DEFAULT_DOMAIN = "chaser.invalid"


def file_stem(key: str) -> str:
    """A safe file name for ``key``: readable prefix plus a hash, so distinct keys never collide."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80] or "message"
    return f"{readable}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"


class FileChannel:
    """Writes messages into ``folder`` (``.eml`` + ``.json``), or prints them when it is None."""

    name = "file"
    kind: ClassVar[str] = "file"
    delivers: ClassVar[str] = "email"

    @classmethod
    def configured(cls, settings: Any) -> bool:
        return True  # the fallback: email goes to files when nothing else is configured

    @classmethod
    def from_settings(
        cls, settings: Any, *, sender: Sender, graph: GraphClient | None
    ) -> FileChannel:
        folder = settings.data_dir / "outbox"
        log.warning(
            "email_to_files", folder=str(folder), hint="set CHASER_SMTP_HOST or CHASER_GRAPH_*"
        )
        return cls(folder)

    def __init__(self, folder: Path | None, *, domain: str = "") -> None:
        self.folder = folder
        self.domain = domain

    def send(self, message: OutgoingMessage) -> Receipt:
        domain = self._domain(message)
        msgid = message_id(message.key, domain, message.message_id_token)
        if self.folder is None:
            print(_summary(message, msgid), file=sys.stdout, flush=True)
            return Receipt(provider_id=msgid, detail="printed")
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = file_stem(message.key)
        record: dict[str, Any] = {"message_id": msgid, "message": message.to_json()}
        if message.channel == "teams":
            record["teams_card"] = build_card(message)
        _write_atomically(self.folder / f"{stem}.eml", mime_bytes(message, domain=domain))
        data = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
        _write_atomically(self.folder / f"{stem}.json", data.encode("utf-8"))
        return Receipt(provider_id=msgid, detail=str(self.folder / f"{stem}.eml"))

    def find_sent(self, message: OutgoingMessage) -> Receipt | None:
        """The receipt if this key's files were already written (printing leaves no trace)."""
        if self.folder is None:
            return None
        stem = file_stem(message.key)
        record = self.folder / f"{stem}.json"
        if not (record.exists() and (self.folder / f"{stem}.eml").exists()):
            return None
        try:
            msgid = str(json.loads(record.read_text("utf-8"))["message_id"])
        except (ValueError, KeyError, OSError):
            return None
        return Receipt(provider_id=msgid, detail=str(self.folder / f"{stem}.eml"))

    def close(self) -> None:
        pass

    def _domain(self, message: OutgoingMessage) -> str:
        return self.domain or message.sender.rpartition("@")[2] or DEFAULT_DOMAIN


def _summary(message: OutgoingMessage, msgid: str) -> str:
    people = ", ".join(f"{a.name} <{a.email}>" for a in message.to)
    lines = [
        "─" * 72,
        f"{message.channel.upper()} {msgid}  key={message.key}",
        f"To: {people}",
    ]
    if message.cc:
        lines.append("Cc: " + ", ".join(f"{a.name} <{a.email}>" for a in message.cc))
    if message.webhook:
        lines.append(f"Teams webhook: {message.webhook}")
    if message.mentions:
        lines.append("Mentions: " + ", ".join(f"{m.name} ({m.upn})" for m in message.mentions))
    lines += [f"Subject: {message.subject}", "", message.text.rstrip()]
    if message.link:
        lines += ["", f"Link: {message.link}"]
    return "\n".join(lines)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
