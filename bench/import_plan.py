"""Benchmark: import a generated 20,000-action workbook, against openpyxl's bare read.

Prints the import time as a ratio to openpyxl's read-only pass over the same file
(``iter_rows(values_only=True)``), both measured in this run on this machine.
Target: at most 3x. Run with ``bench/run`` (or ``python bench/import_plan.py --actions N``).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaser.importing import import_people, import_plan  # noqa: E402
from workflows.plan.mapping import load_mapping  # noqa: E402
from workflows.store.db import make_engine, upgrade  # noqa: E402

MAPPING = ROOT / "config" / "mappings" / "plymouth.yaml"
PEOPLE = ROOT / "chaser" / "samples" / "plymouth" / "plymouth_people.csv"
HEADERS = [
    "Area",
    "Area title",
    "Senior Responsible Officer",
    "Task and Finish Group",
    "Ref",
    "Actions to deliver",
    "Lead",
    "Start Date",
    "Completion date",
    "Outcome statements from children, young people, parents & carers",
    "Evidence of impact against desired outcomes",
    "Progress Monitoring (Including RAG)",
]
LEADS = [
    "Head of SEND (AP)",
    "DCS PCC (DH) Head of Women and Children’s Commissioning – Devon ICB (HP)",
    "Head of Education (JB), Head of SEND (AP) and Head of Post 16 (TB)",
    "PBWG as leads for schools and colleges (MM)\nDirector EPS (AG)",
    "LSW Assistant Director CYPFS (TC)",
    "DCS PCC (DH) with Head of Service (CDT)\nand Head of SEND (AP),",
]
DUES = [
    "December 2023",
    "Feb 2024",
    "April 2024 (Reviewed annually)",
    "1) April 2024\n2) December 2023\n3) December 2023",
    "Developed by February 2024 Disseminated and training has occurred by June 2024",
    "Publication November 2023; Implementation Jan 2024-Sept 2026.",
    "TBC",
]
WORDS = [
    "leaders",
    "across",
    "the",
    "local",
    "area",
    "will",
    "agree",
    "establish",
    "and",
    "publish",
    "a",
    "framework",
    "for",
    "ensuring",
    "children",
    "and",
    "young",
    "people",
    "with",
    "SEND",
    "are",
    "a",
    "priority",
    "and",
    "at",
    "the",
    "heart",
    "of",
    "improvement",
    "work",
]


def generate(path: Path, actions: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Action Plan")
    ws.append(["Generated Local Area SEND Improvement Plan – Action Plan"])
    ws.append(HEADERS)
    per_area = max(1, actions // 40)
    for i in range(actions):
        area = i // per_area + 1
        n = i % per_area + 1
        text = " ".join(rnd.choice(WORDS) for _ in range(40))
        ws.append(
            [
                f"PRIORITY ACTION AREA {area}",
                "Leaders must put children and young people with SEND at the heart of all plans.",
                "Director of Children’s Services (DH)",
                "Governance, oversight, culture and workforce",
                f"{area}.{n}",
                text,
                rnd.choice(LEADS),
                rnd.choice(["August 2023", "October 2023", "January 2024"]),
                rnd.choice(DUES),
                " ".join(rnd.choice(WORDS) for _ in range(25)),
                "– " + " ".join(rnd.choice(WORDS) for _ in range(20)),
                rnd.choice(["", "", "Work is well under way with the governance structure."]),
            ]
        )
    wb.save(path)


def openpyxl_pass(path: Path) -> float:
    start = time.perf_counter()
    wb = load_workbook(path, read_only=True)
    count = 0
    for row in wb["Action Plan"].iter_rows(values_only=True):
        count += len(row)
    wb.close()
    return time.perf_counter() - start


def chaser_import(path: Path, folder: Path) -> tuple[float, int]:
    db = folder / "bench.db"
    db.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    import_people(engine, PEOPLE, now=now)
    mapping = load_mapping(MAPPING)
    start = time.perf_counter()
    outcome = import_plan(engine, path, mapping=mapping, now=now)
    elapsed = time.perf_counter() - start
    engine.dispose()
    if not outcome.ok:
        raise SystemExit(f"import failed: {outcome.errors}")
    return elapsed, outcome.actions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--actions", type=int, default=20_000)
    parser.add_argument("--target", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chaser-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "plan.xlsx"
        t0 = time.perf_counter()
        generate(path, args.actions)
        print(f"generated {args.actions} actions in {time.perf_counter() - t0:.1f}s")
        baseline = openpyxl_pass(path)
        ours, n = chaser_import(path, folder)
        ratio = ours / baseline
        print(f"openpyxl read-only pass : {baseline:7.2f}s  (baseline, 1.00x)")
        print(f"chaser plan import      : {ours:7.2f}s  ({ratio:.2f}x, {n} actions)")
        verdict = "within" if ratio <= args.target else "OVER"
        print(f"ratio {ratio:.2f}x: {verdict} the {args.target:.0f}x target")


if __name__ == "__main__":
    main()
