"""``/outbox``: the demo's captured mail, browsable (being written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fastapi import APIRouter

from integrations.web.pages import Pages


@dataclass(frozen=True)
class CapturedMessage:
    number: int
    received_at: datetime
    raw: bytes


class CapturedMail(Protocol):
    def messages(self) -> Sequence[CapturedMessage]: ...


def outbox_router(*, pages: Pages, mailbox: CapturedMail) -> APIRouter:
    return APIRouter()
