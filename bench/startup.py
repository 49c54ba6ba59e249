"""Benchmark: how long ``chaser --help`` takes, against ``python -c "import click"``.

Both run as fresh processes, alternately, in this run on this machine; the median of each is
compared. Target: at most 5x.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 5.0
ROUNDS = 21


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    baseline_cmd = [sys.executable, "-c", "import click"]
    chaser_cmd = [sys.executable, "-m", "chaser", "--help"]
    wall(baseline_cmd), wall(chaser_cmd)  # warm the file cache
    baseline, chaser = [], []
    for _ in range(ROUNDS):
        baseline.append(wall(baseline_cmd))
        chaser.append(wall(chaser_cmd))
    b, c = statistics.median(baseline), statistics.median(chaser)
    ratio = c / b
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(
        f"startup: chaser --help {c * 1000:.0f} ms, python -c 'import click' {b * 1000:.0f} ms: "
        f"{ratio:.2f}x (target <= {TARGET:g}x: {verdict})"
    )


if __name__ == "__main__":
    main()
