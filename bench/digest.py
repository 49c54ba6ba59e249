"""Benchmark: render the digest of a generated 5,000-action plan.

Prints the time to render the digest email (exceptions, the action and impact log, counts) as a
ratio to rendering the same rows as a bare Jinja2 table, both in this run; the XLSX log and the
DOCX board paper are timed too, for information. Run with ``bench/run`` or
``python bench/digest.py --actions N``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from jinja2 import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from notifications.channel import Address  # noqa: E402
from notifications.digest_render import (  # noqa: E402
    digest_docx,
    digest_xlsx,
    render_digest_email,
)
from notifications.render import load_templates  # noqa: E402
from workflows.digest.contents import (  # noqa: E402
    AreaCount,
    Digest,
    Flag,
    LogRow,
    PersonLine,
    Severity,
    Trend,
)

SCALE = (
    ("Blue", "Complete and embedded", "0070C0"),
    ("Green", "Complete", "00B050"),
    ("Amber", "Progressing to timescale", "FFC000"),
    ("Red", "Little or no progress/delayed", "FF0000"),
)
WORDS = [
    "leaders",
    "across",
    "the",
    "local",
    "area",
    "will",
    "agree",
    "and",
    "publish",
    "a",
    "framework",
    "for",
    "children",
]


def generate(actions: int, seed: int = 3) -> Digest:
    rnd = random.Random(seed)
    rows = []
    for i in range(actions):
        area = i // 125 + 1
        value, _, colour = rnd.choice(SCALE)
        flags: tuple[Flag, ...] = ()
        if rnd.random() < 0.3:
            flags = (Flag("overdue", Severity.HIGH, "Overdue: due Dec 2023, not complete"),)
        rows.append(
            LogRow(
                ref=f"{area}.{i % 125 + 1}",
                title=" ".join(rnd.choice(WORDS) for _ in range(30)),
                area=area,
                area_title=f"Priority action area {area}",
                lead_code="AP",
                lead_name="Aisha Pendleford",
                status="on_track",
                status_label=value,
                status_colour=colour,
                previous_status_label=rnd.choice(SCALE)[0],
                change=rnd.choice(["better", "worse", "same"]),
                due="Dec 2023",
                forecast="Mar 2024",
                slip_days=91,
                narrative=" ".join(rnd.choice(WORDS) for _ in range(40)),
                narrative_on=date(2025, 9, 17),
                evidence="https://example.org/evidence",
                updated_this_cycle=True,
                late=False,
                flags=flags,
            )
        )
    areas = tuple(
        AreaCount(
            a, f"Priority action area {a}", {"Amber": 60, "Red": 65}, {"Amber": 70, "Red": 55}
        )
        for a in range(1, actions // 125 + 2)
    )
    return Digest(
        plan_code="bench",
        plan_title="Generated plan",
        group_code="SIB",
        group_name="Local Area SEND Improvement Board",
        meeting_date=date(2025, 9, 30),
        papers_deadline=date(2025, 9, 23),
        previous_meeting=date(2025, 9, 9),
        generated_at=datetime(2025, 9, 26, 9, tzinfo=UTC),
        scale=SCALE,
        exceptions=tuple(r for r in rows if r.flags),
        log=tuple(rows),
        areas=areas,
        not_replied=(PersonLine("JF", "Juno Fairweather", 1, False, True),),
        escalated=(PersonLine("JF", "Juno Fairweather", 1, False, True),),
        risks=(),
        dead_letters=(),
        invitees=(),
        trend=(Trend(date(2025, 9, 30), {"Priority action area 1": {"Amber": 60}}),),
    )


BARE = """<table>{% for r in rows %}<tr><td>{{ r.ref }}</td><td>{{ r.title }}</td>
<td>{{ r.lead_name }}</td><td>{{ r.status_label }}</td><td>{{ r.due }}</td>
<td>{{ r.forecast }}</td><td>{{ r.narrative }}</td></tr>{% endfor %}</table>"""


def timed(work: object) -> float:
    start = time.perf_counter()
    work()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--actions", type=int, default=5000)
    args = parser.parse_args()
    digest = generate(args.actions)
    templates = load_templates()
    bare = Environment(autoescape=True).from_string(BARE)
    to = (Address("Board secretary", "secretary@example.org"),)

    def email() -> None:
        render_digest_email(digest, templates=templates, sender="s@example.org", to=to, key="k")

    email()  # warm the template cache, as a running service would have
    base = min(timed(lambda: bare.render(rows=digest.log)) for _ in range(3))
    ours = min(timed(email) for _ in range(3))
    print(f"{args.actions} actions ({len(digest.exceptions)} flagged)")
    print(f"bare Jinja2 table        : {base:7.3f}s  (baseline, 1.00x)")
    print(f"digest email (HTML+text) : {ours:7.3f}s  ({ours / base:.1f}x)")
    print(f"XLSX action and impact log: {timed(lambda: digest_xlsx(digest)):6.3f}s")
    print(f"DOCX board paper          : {timed(lambda: digest_docx(digest)):6.3f}s")


if __name__ == "__main__":
    main()
