"""Benchmark: dispatch 5,000 messages through the outbox to a local SMTP sink.

Measures Chaser's cost per message (claim, compose the MIME with the standard library's
``EmailMessage``, send over SMTP, record the outcome durably through SQLAlchemy) and compares it
with what a user could notice: sending is paced at 30 messages a minute per mailbox, one every
2 seconds, so the target is that a message costs at most 1% of that interval (20 ms). For scale
it also prints the throughput as a ratio to plain ``smtplib`` in the same run -- ``send_message``
of the same messages built beforehand, over one reused connection -- and to ``sendmail`` of
pre-built bytes (the SMTP conversation alone). Rounds alternate, so drift on a busy machine hits
all three. Run with ``bench/run`` or ``python bench/dispatch.py --messages N``.
"""

from __future__ import annotations

import argparse
import contextlib
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaser.logging import configure_logging  # noqa: E402
from integrations.channels.smtp import SmtpChannel, build_mime, mime_bytes  # noqa: E402
from notifications.channel import Address, OutgoingMessage  # noqa: E402
from notifications.outbox import Dispatcher, NewDelivery, enqueue  # noqa: E402
from tests.mail_servers import free_port  # noqa: E402
from workflows.replies.links import reference_for  # noqa: E402
from workflows.store.db import make_engine, upgrade  # noqa: E402

SENDER = "send.improvement@example.org"
NOW = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)


def message(i: int) -> OutgoingMessage:
    body = "Please send an update on these actions before Tuesday.\n" + "\n".join(
        f"{i}.{n}: Leaders across the Local Area will agree the framework" for n in range(8)
    )
    return OutgoingMessage(
        key=f"request:P{i:05d}:SIB:2025-09-30",
        channel="email",
        sender=SENDER,
        to=(Address(f"Lead {i}", f"lead{i}@example.org"),),
        subject=f"Update needed by Tue 23 Sep for the SEND Improvement Board [ref {i}]",
        text=body,
        html=f"<html><body><pre>{body}</pre></body></html>",
        headers={"X-Chaser-Key": f"request:P{i:05d}:SIB:2025-09-30"},
    )


class Sink:
    """aiosmtpd in its own process, discarding mail: like a real relay, it does not share
    this process's interpreter (an in-process sink would compete for the GIL)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port


@contextlib.contextmanager
def smtp_sink() -> Iterator[Sink]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the SMTP sink did not start") from None
                time.sleep(0.1)
        yield Sink("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=10)


def plain_smtplib(sink: Sink, messages: list[OutgoingMessage]) -> float:
    """Plain smtplib: ``send_message`` over one reused connection. The messages are the same
    MIME Chaser sends, built beforehand as EmailMessage objects, so only smtplib's own work
    (flattening and the SMTP conversation) is timed."""
    prepared = [build_mime(m, domain="example.org") for m in messages]
    start = time.perf_counter()
    with smtplib.SMTP(sink.host, sink.port) as smtp:
        for mime in prepared:
            smtp.send_message(mime)
    return time.perf_counter() - start


def bare_smtplib(sink: Sink, messages: list[OutgoingMessage]) -> float:
    # Pre-built bytes: the baseline pays for nothing but the SMTP conversation.
    prepared = [
        (m.sender, [a.email for a in m.to], mime_bytes(m, domain="example.org")) for m in messages
    ]
    start = time.perf_counter()
    with smtplib.SMTP(sink.host, sink.port) as smtp:
        for sender, recipients, data in prepared:
            smtp.sendmail(sender, recipients, data)
    return time.perf_counter() - start


def chaser_dispatch(sink: Sink, messages: list[OutgoingMessage], folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        enqueue(
            conn,
            [NewDelivery(m, reference_for(b"bench", m.key), "request", NOW) for m in messages],
            now=NOW,
        )
    channel = SmtpChannel(sink.host, sink.port, sender_address=SENDER, starttls=False)
    dispatcher = Dispatcher(engine, {"email": channel}, rate_per_minute={SENDER: None})
    start = time.perf_counter()
    report = dispatcher.dispatch()
    elapsed = time.perf_counter() - start
    channel.close()
    if report.sent != len(messages):
        raise SystemExit(f"only {report.sent} of {len(messages)} sent: {report}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--pace", type=float, default=30.0, help="messages a minute per mailbox (chasing.yaml)"
    )
    parser.add_argument(
        "--target", type=float, default=0.01, help="largest share of the pacing interval"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    messages = [message(i) for i in range(args.messages)]
    configure_logging(fmt="json")  # as in production
    rounds: dict[str, list[float]] = {"smtplib": [], "bytes": [], "chaser": []}
    with tempfile.TemporaryDirectory(prefix="chaser-bench-") as tmp, smtp_sink() as sink:
        bare_smtplib(sink, messages[:200])  # warm up the sink and the interpreter
        for i in range(args.rounds):  # alternate, so drift on a busy machine hits all three
            rounds["smtplib"].append(plain_smtplib(sink, messages))
            rounds["bytes"].append(bare_smtplib(sink, messages))
            rounds["chaser"].append(chaser_dispatch(sink, messages, Path(tmp) / str(i)))
    rate = {name: args.messages / statistics.median(times) for name, times in rounds.items()}
    ratio = rate["chaser"] / rate["smtplib"]
    floor = rate["chaser"] / rate["bytes"]
    print(f"{args.messages} messages, median of {args.rounds} alternating rounds")
    print(f"smtplib send_message, one connection: {rate['smtplib']:7.0f} msg/s (baseline, 1.00x)")
    bytes_ratio = rate["bytes"] / rate["smtplib"]
    print(f"smtplib sendmail, pre-built bytes   : {rate['bytes']:7.0f} msg/s ({bytes_ratio:.2f}x)")
    print(f"chaser outbox dispatch, SQLite      : {rate['chaser']:7.0f} msg/s ({ratio:.2f}x)")
    per_message = 1 / rate["chaser"]
    interval = 60.0 / args.pace
    share = per_message / interval
    verdict = "met" if share <= args.target else "NOT met"
    print(
        f"cost per message {per_message * 1000:.1f} ms: {share:.2%} of the {interval:g} s between "
        f"sends at {args.pace:g} a minute (target <= {args.target:.0%}: {verdict}); "
        f"{floor:.2f} of the pre-built-bytes floor"
    )


if __name__ == "__main__":
    main()
