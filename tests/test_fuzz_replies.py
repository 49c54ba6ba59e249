"""Fuzzing replies: random emails through the real ``ingest_email`` into a SQLite store.

Random headers (the ones Chaser reads and others, with encoded words, comments, quotes, control
characters and NULs), charsets (real, legacy, bogus), transfer encodings (some corrupted), MIME
structures (nested multiparts, attached messages, missing or wrong boundaries), huge lines and
headers, thousands of ``References``, ``Authentication-Results`` of every kind, LF and CRLF.
Whatever arrives: no uncaught exception, the message is kept exactly (``Reply.raw`` gives its
bytes back), nothing stored holds a NUL, and nothing is quarantined for breaking the reader (a
message is quarantined only for a limit it names).

A fixed seed and a small budget for CI (``derandomize=True``, 200 examples);
``bench/fuzz_replies.py`` runs 10,000 and times them.
"""

from __future__ import annotations

import base64
import itertools
import json
import quopri
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session

from chaser.importing import import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX
from workflows.plan.mapping import load_mapping
from workflows.replies.authentication import Receiver
from workflows.replies.intake import ingest_email
from workflows.replies.parsing import MAX_HEADER_BYTES, MAX_MESSAGE_BYTES
from workflows.replies.review import raw_bytes
from workflows.store.db import make_engine, upgrade
from workflows.store.models import Reply

GATEWAY = "mx.council.example"
RECEIVER = Receiver.smtp([GATEWAY])
WHEN = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
VERDICTS = {"applied", "review", "auto_reply", "duplicate", "quarantined"}
DOMAINS = ["example.org", "example.nhs.uk"]
#: What a lead might really write: some fuzzed replies are read, trusted and applied.
GOOD_BODIES = [
    "2.5: complete",
    "2.5: Amber - recruitment under way",
    "6.6: red, now expected end of next month",
    "All on track.",
    "2.5 and 2.6: done",
]

#: People in the directory, so some fuzzed replies get as far as being applied.
SENDERS = [
    "Aisha Pendleford <aisha.pendleford@example.org>",
    "freya.odgers@example.nhs.uk",
    '"Odgers, Freya" <FREYA.ODGERS@example.nhs.uk>',
    "someone@elsewhere.example",
]
CHARSETS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "utf-16",
    "iso-2022-jp",
    "koi8-r",
    "utf-7",
    "idna",
    "rot13",
    "x-unknown",
    "",
]
ENCODINGS = ["7bit", "8bit", "quoted-printable", "base64", "binary", "x-uuencode", "bogus"]
NAMES = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "Authentication-Results",
    "ARC-Authentication-Results",
    "Received-SPF",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "Precedence",
    "X-Autoreply",
    "X-Chaser-Key",
    "X-Chaser-Reference",
    "MIME-Version",
    "Received",
    "X-Anything",
    "Content-Type",
    "Content-Disposition",
]
WORDS = [
    "2.5:",
    "6.6",
    "P7-01",
    "complete",
    "on track",
    "not on track",
    "amber",
    "red",
    "green",
    "delayed",
    "now expected",
    "end of next month",
    "w/c 14 April",
    "Q1 2026/27",
    "by",
    "On Tue, 16 Sep 2025 John wrote:",
    "From:",
    "Sent:",
    "-- ",
    "> quoted",
    "Kind regards",
    "Thanks",
    "CHS-ABCDEFGH23",
    "[ref CHS-NLEZIVUSXR]",
    "out of the office",
    "returning",
    "\x00",
    "\x01",
    "\x7f",
    "\u202e",
    "\ud800",
    "é",
    "€",
    "\u00a0",
    "\u200b",
    "<br>",
    "<p>",
    "<blockquote type=cite>",
    "<div class=gmail_quote>",
    "(",
    ")",
    '"',
    "\\",
    ";",
    "=?",
    "?=",
]

text = st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=40).map(" ".join)
repeat = st.integers(min_value=0, max_value=3).flatmap(
    lambda k: st.integers(min_value=0, max_value=(0, 50, 2_000, 60_000)[k])
)


@st.composite
def header_value(draw: st.DrawFn, name: str) -> str:
    kind = draw(st.sampled_from(["text", "address", "ids", "encoded", "auth", "huge", "comment"]))
    if kind == "address" or (name in ("From", "Reply-To") and draw(st.booleans())):
        people = draw(st.lists(st.sampled_from(SENDERS) | text, min_size=0, max_size=3))
        return ", ".join(people)
    if kind == "ids" or name in ("References", "In-Reply-To", "Message-ID"):
        count = draw(repeat)
        return " ".join(f"<{n}.{draw(st.integers(0, 9))}@example.org>" for n in range(count)) + (
            draw(text)
        )
    if kind == "encoded":
        charset = draw(st.sampled_from(CHARSETS))
        how = draw(st.sampled_from("QqBbX"))
        return f"=?{charset}?{how}?{draw(text)}?= {draw(text)}"
    if kind == "auth" or name == "Authentication-Results":
        server = draw(st.sampled_from([GATEWAY, "", "untrusted.example", '"q;x"', GATEWAY + " 1"]))
        result = draw(st.sampled_from(["pass", "fail", "softfail", "none", "neutral", "="]))
        domain = draw(st.sampled_from(["example.org", "example.nhs.uk", "attacker.example", ""]))
        parts = [
            f"{m}={result} {p}={domain}"
            for m, p in (
                ("spf", "smtp.mailfrom"),
                ("dkim", "header.d"),
                ("dmarc", "header.from"),
                ("compauth", "reason"),
            )
        ]
        picked = draw(st.lists(st.sampled_from(parts), max_size=5))
        return (f"{server}; " if server else "") + "; ".join(picked) + draw(text)
    if kind == "huge":
        return draw(st.sampled_from(["a", "(", '"', "=?utf-8?q?a?= ", "a=b; ", "<x@y> "])) * draw(
            repeat
        )
    if kind == "comment":
        return "(" * draw(repeat) + draw(text) + ")" * draw(st.integers(0, 5))
    return draw(text)


header_name = st.sampled_from(NAMES) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=8
)
#: Now and then a name that is not one (it ends the header section where it stands).
broken_name = st.sampled_from(["", " ", "From :", "\n", "X\x00", "Ü"])
#: A few Message-IDs, so some replies arrive twice; the others get one of their own.
MESSAGE_IDS = [f"<fuzz-{n}@example.org>" for n in range(8)]
_fresh = itertools.count()


# (Hypothesis draws the simplest values most: 0, False, a list's first element. So those are
# the common case here, and the rare branches sit on the other values.)
@st.composite
def headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    chosen = draw(st.lists(header_name, max_size=10))
    if draw(st.integers(0, 9)) == 9:
        chosen.insert(draw(st.integers(0, len(chosen))), draw(broken_name))
    pairs = [(name, draw(header_value(name))) for name in chosen]
    if draw(st.integers(0, 3)) != 3:
        pairs.insert(0, ("From", draw(st.sampled_from(SENDERS))))
    if draw(st.integers(0, 3)) == 3:
        pairs.insert(0, ("Message-ID", draw(st.sampled_from(MESSAGE_IDS))))
    else:
        pairs.insert(0, ("Message-ID", f"<fresh-{next(_fresh)}@example.org>"))
    if not draw(st.booleans()):
        stamp = f"{GATEWAY}; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from="
        pairs.insert(0, ("Authentication-Results", stamp + draw(st.sampled_from(DOMAINS))))
    if draw(st.integers(0, 19)) == 19:  # a header section over the limit
        pairs.append(
            ("X-Pad", "p" * draw(st.integers(MAX_HEADER_BYTES + 1, MAX_HEADER_BYTES + 40_000)))
        )
    return pairs


def _encode(body: str, charset: str, encoding: str, corrupt: bool) -> bytes:
    try:
        data = body.encode(charset or "utf-8", "replace")
    except (LookupError, UnicodeError, TypeError):
        data = body.encode("utf-8", "surrogatepass")
    if encoding == "quoted-printable":
        data = quopri.encodestring(data)
    elif encoding == "base64":
        data = base64.encodebytes(data)
    if corrupt and data:
        data = data[: len(data) // 2] + b"=\x00\xff%" + data[len(data) // 2 :]
    return data


@st.composite
def part(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MIME part: its headers and body, bytes (a multipart of more parts, up to depth 3)."""
    nl = b"\r\n"
    kind = draw(
        st.sampled_from(["plain", "html", "octet", "multipart", "message"][: 5 if depth < 3 else 3])
    )
    if kind == "multipart":
        boundary = draw(st.sampled_from(["b1", "=_x", "", "a" * 80, "b1"])) + str(depth)
        subtype = draw(st.sampled_from(["alternative", "mixed", "report", "related", "digest"]))
        children = draw(st.lists(part(depth + 1), max_size=4))
        declared = draw(st.sampled_from([boundary, boundary, "other", ""]))
        head = f'Content-Type: multipart/{subtype}; boundary="{declared}"'.encode() + nl
        body = b"".join(b"--" + boundary.encode() + nl + c + nl for c in children)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--" + nl
        return head + nl + b"preamble" + nl + body
    if kind == "message":
        inner = draw(message(depth + 1))
        return b"Content-Type: message/rfc822" + nl + nl + inner
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    ctype = {"plain": "text/plain", "html": "text/html", "octet": "application/octet-stream"}[kind]
    words = draw(text) if draw(st.booleans()) else draw(st.sampled_from(GOOD_BODIES))
    if kind == "html":
        words = f"<html><body><p>{words}</p>{'<p> </p>' * draw(repeat)}</body></html>"
    if draw(st.booleans()):
        words += "\n" + "x" * draw(repeat) + " on track not on track" * draw(st.integers(0, 50))
    disposition = draw(st.sampled_from(["", "attachment", "inline"]))
    head = f'Content-Type: {ctype}; charset="{charset}"'.encode() + nl
    head += f"Content-Transfer-Encoding: {encoding}".encode() + nl
    if disposition:
        head += f'Content-Disposition: {disposition}; filename="a.txt"'.encode() + nl
    return head + nl + _encode(words, charset, encoding, draw(st.booleans()))


@st.composite
def message(draw: st.DrawFn, depth: int = 0) -> bytes:
    pairs = draw(headers())
    lines = []
    for name, value in pairs:
        raw = f"{name}: {value}".encode("utf-8", "surrogatepass")
        if draw(st.booleans()) and len(raw) > 70:  # fold it
            raw = raw[:70] + b"\r\n\t" + raw[70:]
        lines.append(raw)
    body = draw(part(depth))
    message_bytes = b"\r\n".join(lines) + b"\r\n" + (b"MIME-Version: 1.0\r\n" + body)
    if draw(st.booleans()):
        message_bytes = message_bytes.replace(b"\r\n", b"\n")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(message_bytes)))
        message_bytes = message_bytes[:at] + draw(st.binary(max_size=40)) + message_bytes[at:]
    return message_bytes


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One SQLite store with the Plymouth plan and its people, for every fuzzed reply."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    engine = make_engine(f"sqlite:///{folder / 'chaser.db'}")
    upgrade(engine)
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    yield engine
    engine.dispose()


@settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=message())
def test_it_takes_in_any_email_without_an_uncaught_exception(store: Engine, raw: bytes) -> None:
    outcome = ingest_email(store, raw, now=WHEN, receiver=RECEIVER)
    assert outcome.verdict in VERDICTS
    assert "could not take this message in" not in outcome.reason, outcome.reason
    with Session(store) as session:
        reply = session.get(Reply, outcome.reply_id)
        assert reply is not None
        if outcome.verdict != "duplicate":
            assert raw_bytes(reply.raw) == raw[:MAX_MESSAGE_BYTES]
        stored = json.dumps(reply.parsed) + reply.reason + reply.sender + reply.message_id
    assert "\\u0000" not in stored and "\x00" not in stored
