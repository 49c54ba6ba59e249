"""Long-run fuzzing of `chaser plan import`: 10,000 generated inputs, none may crash or stall.

The inputs are tests/test_fuzz_workbooks.py's (workbooks with every kind of cell, CSV files in
every encoding and state of damage, random and damaged bytes), mixed, from a fixed seed (pass
``--seed N`` for another run). Each goes through the real ``import_plan`` into a SQLite store,
with the same checks as the tests. Prints how many inputs crashed (an exception escaped, or a
check failed) and how many took longer than ``--slow`` seconds, then the slowest inputs.
Exits 1 if either count is not zero. ``--keep DIR`` saves those inputs for reproduction.

Run with ``python bench/fuzz_workbooks.py [--inputs 10000] [--slow 5] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests.test_fuzz_workbooks import Sample, import_sample, make_store, samples  # noqa: E402


class Stalled(BaseException):
    """An input still importing after ``--stall`` seconds (a BaseException, so no ``except
    Exception`` in the code under test swallows it)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stalled

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Result:
    number: int
    shown: str  # the sample's repr: its name, size and how it was made
    seconds: float
    outcome: str  # "ok", an error kind, "crash" or "stalled"
    detail: str = ""
    #: The input itself, kept only when it crashed or was slow (10,000 of them would not fit).
    sample: Sample | None = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--slow", type=float, default=5.0, help="seconds that count as slow")
    parser.add_argument("--stall", type=float, default=120.0, help="seconds before giving up")
    parser.add_argument("--seed", type=int, default=None, help="another run than the fixed one")
    parser.add_argument("--keep", type=Path, default=None, help="save crashing and slow inputs")
    parser.add_argument("--show", type=int, default=10, help="how many slowest inputs to print")
    args = parser.parse_args()

    results: list[Result] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chaser-fuzz-") as tmp:
        store = make_store(Path(tmp))

        @settings(
            max_examples=args.inputs,
            derandomize=args.seed is None,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(samples())
        def run(sample: Sample) -> None:
            number = len(results) + 1
            start = time.perf_counter()
            try:
                with _time_limit(args.stall):
                    outcome = import_sample(store, sample)
                kind, detail = ("ok", "") if outcome.ok else (outcome.errors[0].kind, "")
            except Stalled:
                kind, detail = "stalled", f"still importing after {args.stall:.0f}s"
            except Exception as exc:  # what the fuzzing looks for: count it, keep going
                kind = "crash"
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                detail += "\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
            seconds = time.perf_counter() - start
            bad = kind in ("crash", "stalled") or seconds > args.slow
            results.append(
                Result(number, repr(sample), seconds, kind, detail, sample if bad else None)
            )
            if number % 1000 == 0:
                print(f"  {number:,} inputs, {time.perf_counter() - started:.0f}s", flush=True)

        if args.seed is not None:
            run = seed(args.seed)(run)
        run()
        store.engine.dispose()

    crashes = [r for r in results if r.outcome in ("crash", "stalled")]
    slow = [r for r in results if r.seconds > args.slow]
    outcomes = collections.Counter(r.outcome for r in results)
    total = time.perf_counter() - started
    print(f"inputs                 : {len(results):,} in {total:.0f}s")
    print(f"outcomes               : {dict(outcomes.most_common())}")
    print(f"uncaught exceptions    : {len(crashes)}")
    print(f"slower than {args.slow:g}s        : {len(slow)}")
    print(f"slowest {args.show}:")
    for r in sorted(results, key=lambda r: r.seconds, reverse=True)[: args.show]:
        print(f"  {r.seconds:6.2f}s  #{r.number} {r.outcome:<22} {r.shown:.200}")
    for r in crashes[:20]:
        print(f"\ncrash #{r.number}: {r.shown:.300}\n{r.detail}")
    if args.keep is not None and (crashes or slow):
        args.keep.mkdir(parents=True, exist_ok=True)
        for r in [*crashes, *slow]:
            if r.sample is not None:
                name = f"{r.number:05d}-{r.outcome}-{r.sample.name}"
                (args.keep / name).write_bytes(r.sample.data)
        print(f"\nkept {len(crashes) + len(slow)} inputs in {args.keep}")
    return 1 if crashes or slow else 0


if __name__ == "__main__":
    sys.exit(main())
