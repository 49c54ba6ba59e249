"""The scorecard and the risk register in the digest's board paper (DOCX) and log (XLSX), and
each measure's chart against its trajectory (also used by the secretary's pages).

The table and sheet helpers of :mod:`notifications.digest_render` are passed in, so the paper
keeps one look and this module imports nothing of it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from workflows.digest.contents import Digest
from workflows.digest.scorecard_contents import LABEL_WORDS, RAG_COLOURS, ScorecardSection
from workflows.measures.scoring import Point

SCORECARD_SHEET = "Scorecard"
RISKS_SHEET = "Risks"


def measure_chart_png(
    name: str,
    series: Sequence[Point],
    trajectory: Sequence[Point],
    *,
    unit: str = "",
    targets: Sequence[Point] = (),
    width: float = 4.2,
    height: float = 2.4,
) -> bytes:
    """The figures (a line with markers) against the trajectory (dashed) and targets (crosses).
    A bare Figure with the Agg canvas: no pyplot state, safe in a scheduler thread."""
    # matplotlib (and numpy) only when a chart is drawn: 60 MB the service need not hold
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if trajectory:
        ax.plot(
            [p.day.toordinal() for p in trajectory],
            [p.value for p in trajectory],
            linestyle="--",
            color="#505a5f",
            linewidth=1.2,
            label="Trajectory",
        )
    shown = [t for t in targets if t.day.year < 9999]
    if shown:
        ax.scatter(
            [t.day.toordinal() for t in shown],
            [t.value for t in shown],
            marker="x",
            color="#d4351c",
            zorder=3,
            label="Target",
        )
    if series:
        ax.plot(
            [p.day.toordinal() for p in series],
            [p.value for p in series],
            marker="o",
            markersize=3,
            color="#1d70b8",
            linewidth=1.6,
            label="Actual",
        )
    ax.set_title(name if len(name) <= 60 else name[:57] + "…", fontsize=8, loc="left")
    ax.tick_params(labelsize=6)
    days = sorted({p.day for p in (*series, *trajectory, *shown)})
    if days:  # five evenly spaced ticks (a tick per point crowds when the points bunch)
        first, last = days[0].toordinal(), days[-1].toordinal()
        count = 5 if last > first else 1
        ticks = [first + (last - first) * i // max(count - 1, 1) for i in range(count)]
        labels = [date.fromordinal(t).strftime("%b %y") for t in ticks]
        ax.set_xticks(ticks, labels)
    if unit:
        ax.set_ylabel(unit, fontsize=6)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=6, frameon=False, loc="best")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _rag(m: Any) -> tuple[str, str]:
    return (m.rag_word, RAG_COLOURS.get(m.rag, ""))


def add_scorecard_docx(
    doc: Any,
    digest: Digest,
    *,
    table: Callable[..., Any],
    para: Callable[..., None],
) -> None:
    """The scorecard (a table, then a small chart per measure) and the risk section."""
    section: ScorecardSection | None = digest.scorecard
    if section is None:
        return
    from docx.shared import Cm

    doc.add_heading("Scorecard: impact measures", level=1)
    if section.off_trajectory:
        para(doc, "Off trajectory: " + "; ".join(m.name for m in section.off_trajectory) + ".")
    if section.measures:
        table(
            doc,
            ("Ref", "Measure", "Latest", "Expected", "Target", "RAG", "Direction", "Flags"),
            (
                (
                    m.code,
                    m.name,
                    f"{m.latest} ({m.period})" if m.latest else "No figure",
                    m.expected or "–",
                    m.target or "–",
                    _rag(m),
                    f"{m.arrow} {m.direction}".strip(),
                    "; ".join(m.flags),
                )
                for m in section.measures
            ),
        )
        for m in section.measures:
            doc.add_picture(
                io.BytesIO(measure_chart_png(m.name, m.series, m.trajectory, unit=m.unit)),
                width=Cm(11),
            )
            pic = doc.inline_shapes[len(doc.inline_shapes) - 1]
            pic._inline.docPr.set("descr", f"Line chart: {m.name}, figures against the trajectory.")
    else:
        para(doc, "No impact measures in scope.")

    doc.add_heading("Risk register", level=1)
    para(
        doc,
        f"Top risks by score (likelihood × impact; escalated when a score rises to "
        f"{section.escalate_at} or more).",
    )
    if section.top_risks:
        table(
            doc,
            ("Ref", "Risk", "Score", "Was", "Owner", "Mitigation", "Review", "On the lists"),
            (
                (
                    r.code,
                    r.title,
                    (f"{r.score} {r.band}", r.colour),
                    str(r.score_at_since) if r.score_at_since is not None else "–",
                    r.owner,
                    r.mitigation,
                    r.review_date.strftime("%d %b %Y") if r.review_date else "–",
                    ", ".join(LABEL_WORDS[label] for label in r.labels),
                )
                for r in section.top_risks
            ),
        )
    for words, items in (
        ("New", section.new),
        ("Escalated", section.escalated),
        ("Overdue for review", section.overdue),
        ("Closed", section.closed),
    ):
        para(doc, f"{words}: " + (", ".join(f"{r.code} {r.title}" for r in items) or "none") + ".")
    if section.changes:
        doc.add_heading("Changes to risks since the previous meeting", level=2)
        table(
            doc,
            ("When", "Risk", "Who", "What changed"),
            ((c.at.strftime("%d %b %Y"), c.code, c.who, c.what) for c in section.changes),
        )


def add_scorecard_sheets(
    wb: Any,
    digest: Digest,
    *,
    sheet_table: Callable[
        [Any, str, Sequence[tuple[str, float]], Iterable[Sequence[tuple[object, str]]]], int
    ],
) -> None:
    """A Scorecard sheet (one row per measure) and a Risks sheet (one row per risk in scope).

    ``wb`` is the log's streaming workbook, whose rows cannot be revisited once written: so a
    date gets the "Log date" style as it is written, not a number format afterwards."""
    section = digest.scorecard
    if section is None:
        return
    sc = wb.create_sheet(SCORECARD_SHEET)
    sheet_table(
        sc,
        f"Scorecard: {len(section.measures)} measures, "
        f"{len(section.off_trajectory)} off trajectory",
        [
            ("Ref", 8),
            ("Measure", 44),
            ("Owner", 20),
            ("Latest", 12),
            ("Period", 10),
            ("Expected", 12),
            ("Target", 18),
            ("RAG", 10),
            ("Direction", 14),
            ("Flags", 60),
        ],
        (
            (
                (m.code, "Log ref"),
                (m.name, "Log text"),
                (m.owner, "Log text"),
                (m.series[-1].value if m.series else None, "Log text"),
                (m.period, "Log text"),
                (m.expected, "Log text"),
                (m.target, "Log text"),
                (m.rag_word, "Log text"),
                (f"{m.arrow} {m.direction}".strip(), "Log text"),
                ("; ".join(m.flags), "Log text"),
            )
            for m in section.measures
        ),
    )
    rk = wb.create_sheet(RISKS_SHEET)
    risks = {
        r.code: r
        for r in (
            *section.top_risks,
            *section.new,
            *section.escalated,
            *section.overdue,
            *section.closed,
        )
    }
    sheet_table(
        rk,
        f"Risk register: {len(section.escalated)} escalated, {len(section.new)} new",
        [
            ("Ref", 8),
            ("Risk", 44),
            ("Owner", 20),
            ("Likelihood", 10),
            ("Impact", 10),
            ("Score", 8),
            ("Band", 12),
            ("Score at last meeting", 12),
            ("Mitigation", 50),
            ("Review date", 12),
            ("Status", 10),
            ("Lists", 30),
        ],
        (
            (
                (r.code, "Log ref"),
                (r.title, "Log text"),
                (r.owner, "Log text"),
                (r.likelihood, "Log number"),
                (r.impact, "Log number"),
                (r.score, "Log number"),
                (r.band, "Log text"),
                (r.score_at_since, "Log number"),
                (r.mitigation, "Log text"),
                (r.review_date, "Log date"),
                (r.status, "Log text"),
                (", ".join(LABEL_WORDS[label] for label in r.labels), "Log text"),
            )
            for r in sorted(
                risks.values(), key=lambda r: (r.status == "closed", -(r.score or 0), r.code)
            )
        ),
    )
