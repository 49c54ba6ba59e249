"""How often a kill -9 mid-dispatch leaves a second SMTP copy, measured (docs/outbox.md quotes it).

A dispatcher sending to a local aiosmtpd server is killed at a random moment, restarted, and
killed again, ``--kills`` times, then left to finish. Reported: the kills, those that came while
a message was handed to the server (its fate unknown), the second copies that followed, and
whether each second copy was byte for byte the first. Exits 1 if anything was lost or a copy
differed. The tests run the same loop for 50 kills per database (tests/test_outbox_crashes.py).

    .venv/bin/python bench/outbox_crashes.py [--kills 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaser.logging import configure_logging
from tests.mail_servers import SmtpSink
from tests.outbox_worker import Store, copies_by_key, fill, kill_loop
from workflows.store.db import make_engine, upgrade


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=500)
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    configure_logging(fmt="console", level="WARNING")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'outbox.db'}"
        engine = make_engine(url)
        upgrade(engine)
        keys = fill(engine, args.messages)
        with SmtpSink() as sink:
            figures = kill_loop(
                Store(url, "", engine),
                {"smtp": f"{sink.host}:{sink.port}"},
                kills=args.kills,
                seed=1,
            )
            copies = copies_by_key(sink)
        engine.dispose()
    lost = len(set(keys) - set(copies))
    second = sum(len(c) - 1 for c in copies.values())
    differing = sum(1 for c in copies.values() if len(set(c)) > 1)
    mid = len(figures.mid_send)
    print(f"outbox_crashes: {figures.kills} kills, {mid} mid-send ({mid / figures.kills:.0%})")
    print(
        f"outbox_crashes: {second} second copies: {second / figures.kills:.1%} of kills, "
        f"{second / max(mid, 1):.0%} of kills mid-send; {differing} differing; {lost} lost"
    )
    return 1 if lost or differing else 0


if __name__ == "__main__":
    sys.exit(main())
