"""Benchmark: 10,000 fuzzed emails through the real ``ingest_email``; the slow cases timed.

Each email is a mutation of a real reply (``tests/fixtures/replies/*.eml``) or a generated one:
NULs and control bytes, huge lines, thousands of ``References``, repeated lines, nested
comments, encoded words, bogus charsets and transfer encodings, nested and broken MIME,
forged ``Authentication-Results``, truncation, splicing. Every one goes into a SQLite store with
the Plymouth plan (``ingest_email`` as the SMTP listener calls it), timed.

Prints how many raised (uncaught exceptions), how many took over 5 s, how many were quarantined
because something broke while reading them (a bug the quarantine hid), and the slowest five.
Then times the cases the probe found slow: a 50 KB "on track not on track ..." body and huge
headers, which must each be read in well under a second (under 1 s here). Exits non-zero if any
figure is non-zero or any case is over its limit. Run with ``bench/run`` or
``python bench/fuzz_replies.py [--count N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine  # noqa: E402

from chaser.importing import import_people, import_plan  # noqa: E402
from workflows.plan.mapping import load_mapping  # noqa: E402
from workflows.replies.authentication import Receiver  # noqa: E402
from workflows.replies.intake import ingest_email  # noqa: E402
from workflows.replies.parsing import MAX_HEADER_BYTES, parse_reply  # noqa: E402
from workflows.store.db import make_engine, upgrade  # noqa: E402

MAPPING = ROOT / "config" / "mappings" / "plymouth.yaml"
SAMPLES = ROOT / "chaser" / "samples" / "plymouth"
CORPUS = ROOT / "tests" / "fixtures" / "replies"
GATEWAY = "mx.council.example"
WHEN = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
SLOW = 5.0  # seconds: an input slower than this stalls the tick
READ_LIMIT = 1.0  # seconds: the adversarial cases must be read well within this

HEADERS = [
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"In-Reply-To", b"References",
    b"Reply-To", b"Authentication-Results", b"ARC-Authentication-Results", b"Received-SPF",
    b"Auto-Submitted", b"X-Auto-Response-Suppress", b"Content-Type",
    b"Content-Transfer-Encoding", b"Content-Disposition", b"X-Chaser-Reference",
]  # fmt: skip
NASTY = [
    b"\x00", b"\x01", b"\x7f", b"\xff", b"\xc3", b"\xe2\x80\xae", b"\r", b"\n", b"\r\n\r\n",
    b"=?", b"?=", b"=?utf-8?b?", b"(", b")", b'"', b"\\", b";", b"<", b">", b"--", b"=\r\n",
    b"on track not on track ", b"2.5: ", b"complete ", b"On 1 Jan 2025 x wrote:\n", b"From: x\n",
    b"Sent: y\n", b"Thanks\n", b"<p> </p>", b"<br>", b"\t",
]  # fmt: skip


def _corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]


class Fuzzer:
    """Mutations of real replies, chosen by a seeded random generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seeds = _corpus()

    def header(self) -> bytes:
        r = self.rng
        name = r.choice(HEADERS)
        kind = r.randrange(9)
        if kind == 0:
            value = b" ".join(b"<%d.x@example.org>" % n for n in range(r.randrange(5000)))
        elif kind == 1:
            value = b"(" * r.randrange(50_000)
        elif kind == 2:
            value = b"=?utf-8?q?a?= " * r.randrange(10_000)
        elif kind == 3:
            value = b"a=b; " * r.randrange(20_000)
        elif kind == 4:
            server = r.choice([GATEWAY.encode(), b"", b"evil.example", b'"a;b"'])
            result = r.choice([b"pass", b"fail", b"softfail", b"none"])
            value = server + b"; spf=" + result + b" smtp.mailfrom=example.org; dmarc=" + result
            value += b" header.from=" + r.choice([b"example.org", b"examp1e.org"])
        elif kind == 5:
            value = b'"' + b'\\"' * r.randrange(20_000)
        elif kind == 6:
            value = bytes(r.randrange(256) for _ in range(r.randrange(200)))
        elif kind == 7:
            value = b"x" * r.randrange(200_000)
        else:
            value = b"".join(r.choice(NASTY) for _ in range(r.randrange(60)))
        return name + b": " + value + b"\r\n"

    def mutate(self, raw: bytes) -> tuple[bytes, str]:
        r = self.rng
        how = r.choice(
            ["insert", "header", "repeat", "truncate", "splice", "wrap", "charset", "flip", "nest"]
        )
        if how == "insert":
            for _ in range(r.randrange(1, 20)):
                at = r.randrange(len(raw) + 1)
                raw = raw[:at] + r.choice(NASTY) * r.randrange(1, 200) + raw[at:]
        elif how == "header":
            raw = b"".join(self.header() for _ in range(r.randrange(1, 4))) + raw
        elif how == "repeat":
            lines = raw.split(b"\n")
            i = r.randrange(len(lines))
            lines[i:i] = [lines[i]] * r.randrange(1, 3000)
            raw = b"\n".join(lines)
        elif how == "truncate":
            raw = raw[: r.randrange(len(raw) + 1)]
        elif how == "splice":
            other = r.choice(self.seeds)
            raw = raw[: r.randrange(len(raw) + 1)] + other[r.randrange(len(other) + 1) :]
        elif how == "wrap":
            boundary = r.choice([b"b", b"", b"=_a", b"x" * 100])
            parts = b"".join(b"--b\r\n" + raw + b"\r\n" for _ in range(r.randrange(1, 30)))
            raw = (
                b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=" + boundary
                + b"\r\n\r\n" + parts + r.choice([b"--b--\r\n", b""])
            )  # fmt: skip
        elif how == "charset":
            charset = r.choice([b"utf-16", b"utf-7", b"idna", b"rot13", b"x-bogus", b"koi8-r"])
            cte = r.choice([b"base64", b"quoted-printable", b"8bit", b"x-uuencode", b"bogus"])
            raw = raw.replace(b"charset=", b"charset=" + charset + b";x=", 1)
            raw = b"Content-Transfer-Encoding: " + cte + b"\r\n" + raw
        elif how == "flip":
            data = bytearray(raw)
            for _ in range(r.randrange(1, 50)):
                if data:
                    data[r.randrange(len(data))] = r.randrange(256)
            raw = bytes(data)
        else:
            depth = r.randrange(1, 400)
            nest = b"".join(
                b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i)
                for i in range(depth)
            )
            raw = b"From: a@example.org\r\n" + nest + raw
        return raw, how

    def email(self) -> tuple[bytes, str]:
        raw = self.rng.choice(self.seeds)
        hows = []
        for _ in range(self.rng.randrange(1, 4)):
            raw, how = self.mutate(raw)
            hows.append(how)
        return raw, "+".join(hows)


def _store(folder: Path) -> Engine:
    engine = make_engine(f"sqlite:///{folder / 'fuzz.db'}")
    upgrade(engine)
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    import_people(engine, SAMPLES / "plymouth_people.csv", now=now)
    import_plan(
        engine, SAMPLES / "plymouth_send_plan_2023.xlsx", mapping=load_mapping(MAPPING), now=now
    )
    return engine


def _timed(read: Callable[[], object]) -> float:
    started = time.perf_counter()
    read()
    return time.perf_counter() - started


def adversarial_cases() -> dict[str, bytes]:
    head = b"From: a@example.org\r\nSubject: Re: x\r\nDate: Tue, 16 Sep 2025 09:30:00 +0100\r\n"
    pad = b"X-Pad: " + b"p" * 120 + b"\r\n"
    return {
        "50 KB 'on track not on track' body": head + b"\r\n" + b"on track not on track " * 2300,
        "200 KB of 'on track not on track'": head + b"\r\n" + b"on track not on track " * 9100,
        "250 KB of headers (2,000 lines)": head + pad * 2000 + b"\r\nhi",
        "a 200 KB From with 20,000 nested comments": head.replace(
            b"From: a@example.org", b"From: " + b"(" * 200_000
        )
        + b"\r\n\r\nhi",
        "a 100 KB Content-Type of parameters": head
        + b"Content-Type: text/plain; "
        + b"a=b; " * 20_000
        + b"\r\n\r\n2.5: complete",
        "9,000 References": head
        + b"References: "
        + b" ".join(b"<%d.x@example.org>" % i for i in range(9000))
        + b"\r\n\r\n2.5: complete",
        "a 100 KB Subject of encoded words": head.replace(
            b"Subject: Re: x", b"Subject: " + b"=?utf-8?q?a?= " * 7000
        )
        + b"\r\nhi",
        "HTML of 30,000 empty paragraphs": head
        + b"Content-Type: text/html\r\n\r\nx"
        + b"<p> </p>" * 30_000,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    fuzzer = Fuzzer(args.seed)
    receiver = Receiver.smtp([GATEWAY])
    raised = 0
    slow = 0
    broke_reading = 0
    timings: list[tuple[float, int, str, int]] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = _store(Path(folder))
        started = time.perf_counter()
        for n in range(args.count):
            raw, how = fuzzer.email()
            t0 = time.perf_counter()
            try:
                outcome = ingest_email(engine, raw, now=WHEN, receiver=receiver)
            except Exception as exc:  # what the listener would answer 451 to, forever
                raised += 1
                print(f"  #{n} ({how}) raised {type(exc).__name__}: {str(exc)[:120]}")
                continue
            finally:
                elapsed = time.perf_counter() - t0
                timings.append((elapsed, n, how, len(raw)))
            if "could not take this message in" in outcome.reason:
                broke_reading += 1
                print(f"  #{n} ({how}) quarantined: {outcome.reason[:120]}")
            if elapsed > SLOW:
                slow += 1
        total = time.perf_counter() - started
        engine.dispose()
    timings.sort(reverse=True)
    print(f"fuzz_replies: {args.count:,} fuzzed emails (seed {args.seed}) in {total:.1f} s")
    print(f"  uncaught exceptions: {raised}")
    print(f"  over {SLOW:.0f} s: {slow}")
    print(f"  quarantined because reading broke: {broke_reading}")
    print("  slowest:")
    for elapsed, n, how, size in timings[:5]:
        print(f"    #{n}: {elapsed * 1000:.0f} ms ({size:,} bytes; {how})")
    over = 0
    print(f"adversarial cases (each must be read in under {READ_LIMIT:.0f} s):")
    for name, raw in adversarial_cases().items():
        assert len(raw) < MAX_HEADER_BYTES * 4
        # Fresh copies: parse_reply remembers the last message it read, by identity.
        copies = [bytes(bytearray(raw)) for _ in range(3)]
        elapsed = min(_timed(partial(parse_reply, copy)) for copy in copies)
        mark = "" if elapsed < READ_LIMIT else "  OVER"
        over += elapsed >= READ_LIMIT
        print(f"  {name}: {elapsed * 1000:.0f} ms{mark}")
    return 1 if raised or slow or broke_reading or over else 0


if __name__ == "__main__":
    sys.exit(main())
