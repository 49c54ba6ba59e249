"""The secretary's scorecard and risk register pages: the scorecard, one measure's history with
its chart against the trajectory, the register with filters, one risk's history, and an XLSX
export of them all. Plain GETs behind the same access as the other secretary pages; the read
models are in :mod:`workflows.measures.history` and :mod:`workflows.measures.store`."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session

from integrations.web.pages import ErrorPage, NavItem, Pages, with_plan
from integrations.web.secretary import HELPERS, PlanSite
from integrations.web.signin import Access
from notifications.digest_scorecard import measure_chart_png
from workflows.calendar.cycles import LONDON
from workflows.measures.history import measure_page, plan_id_of, risk_page
from workflows.measures.scoring import show_period, show_value
from workflows.measures.store import scorecard_lines
from workflows.risks.store import RiskLine, register_lines, risk_history

SCORECARD_NAVIGATION = [NavItem("/scorecard", "Scorecard"), NavItem("/risks", "Risks")]
LISTS = {
    "new": "New since the last meeting",
    "escalated": "Escalated",
    "overdue_for_review": "Overdue for review",
    "closed": "Closed since the last meeting",
}
RAG_TAGS = {"green": "govuk-tag--green", "amber": "govuk-tag--yellow", "red": "govuk-tag--red"}
BAND_TAGS = {
    "D4351C": "govuk-tag--red",
    "F47738": "govuk-tag--orange",
    "FFDD00": "govuk-tag--yellow",
    "00703C": "govuk-tag--green",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def measure_href(code: str) -> str:
    return "/scorecard/" + quote(code, safe="")


def risk_href(code: str) -> str:
    return "/risks/" + quote(code, safe="")


def band_tag(colour: str) -> str:
    return BAND_TAGS.get(colour.upper(), "govuk-tag--grey")


@dataclass(frozen=True)
class RiskFilters:
    list: str = ""
    band: str = ""
    owner: str = ""
    status: str = "open"  # open | closed | all

    def keep(self, r: RiskLine) -> bool:
        return (
            (not self.list or self.list in r.labels)
            and (not self.band or r.band == self.band)
            and (not self.owner or r.owner_code == self.owner)
            and (self.status == "all" or r.status == self.status)
        )


def scorecard_router(
    *,
    pages: Pages,
    engine: Engine,
    clock: Callable[[], datetime],
    plans: Sequence[PlanSite],
    access: Access,
) -> APIRouter:
    router = APIRouter(dependencies=[Depends(access.page)])
    sites = {site.code: site for site in plans}

    def today() -> date:
        return clock().astimezone(LONDON).date()

    def since(request: Request) -> datetime:
        """The day after the last chased meeting before today (else six weeks ago)."""
        site = sites.get(request.state.plan)
        past = [
            m.date
            for m in (site.meetings(clock()) if site and site.meetings else ())
            if m.date < today()
        ]
        start = max(past) + timedelta(days=1) if past else today() - timedelta(days=42)
        return datetime.combine(start, time(0), tzinfo=LONDON).astimezone(UTC)

    def render(request: Request, template: str, current: str, **context: Any) -> HTMLResponse:
        code = request.state.plan
        several = bool(getattr(request.state, "plans", []))

        def in_plan(url: str) -> str:
            return with_plan(url, code) if several else url

        return pages.render(
            f"secretary/{template}",
            current=current,
            request=request,
            **{
                **HELPERS,
                "in_plan": in_plan,
                "measure_href": lambda c: in_plan(measure_href(c)),
                "risk_href": lambda c: in_plan(risk_href(c)),
                "band_tag": band_tag,
                "rag_tags": RAG_TAGS,
                "show_value": show_value,
                "show_period": show_period,
            },
            **context,
        )

    def plan_id(request: Request, session: Session) -> int:
        found = plan_id_of(session, request.state.plan)
        if found is None:
            raise ErrorPage(
                404,
                "There is no plan to show yet",
                f"The store has no plan called {request.state.plan}. Import it with "
                "`chaser plan import`.",
            )
        return found

    @router.get("/scorecard", response_class=HTMLResponse)
    def scorecard_page(request: Request) -> HTMLResponse:
        with Session(engine) as session:
            lines = scorecard_lines(session, plan_id(request, session), today())
        return render(request, "scorecard.html", "/scorecard", measures=lines, today=today())

    @router.get("/scorecard/export.xlsx")
    def export(request: Request) -> Response:
        with Session(engine) as session:
            pid = plan_id(request, session)
            body = _workbook(session, pid, today(), since(request))
        name = f"{request.state.plan}-scorecard-and-risks-{today().isoformat()}.xlsx"
        return Response(
            body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @router.get("/scorecard/{code}/chart.png")
    def chart(request: Request, code: str) -> Response:
        with Session(engine) as session:
            page = measure_page(session, request.state.plan, code, today())
        if page is None:
            raise ErrorPage(404, "Measure not found", f"There is no measure {code[:40]}.")
        png = measure_chart_png(
            page.line.name,
            page.line.series,
            page.line.trajectory,
            unit=page.line.unit,
            targets=page.targets,
            width=7,
            height=3.4,
        )
        return Response(png, media_type="image/png")

    @router.get("/scorecard/{code}", response_class=HTMLResponse)
    def measure(request: Request, code: str) -> HTMLResponse:
        with Session(engine) as session:
            page = measure_page(session, request.state.plan, code, today())
        if page is None:
            raise ErrorPage(
                404,
                "Measure not found",
                f"There is no measure {code[:40]} in the plan's scorecard. Check the "
                "reference, or find the measure on the scorecard page.",
            )
        return render(request, "scorecard_measure.html", "/scorecard", page=page)

    @router.get("/risks", response_class=HTMLResponse)
    def risks_page(request: Request) -> HTMLResponse:
        q = request.query_params
        filters = RiskFilters(
            list=q.get("list", "") if q.get("list", "") in LISTS else "",
            band=q.get("band", "")[:40],
            owner=q.get("owner", "")[:16],
            status=q.get("status", "open")
            if q.get("status") in ("open", "closed", "all")
            else "open",
        )
        with Session(engine) as session:
            every = register_lines(
                session, plan_id(request, session), since=since(request), today=today()
            )
        shown = [r for r in every if filters.keep(r)]
        owners = sorted(
            {(r.owner_code, r.owner) for r in every if r.owner_code}, key=lambda o: o[1]
        )
        bands = sorted({(r.band, r.colour) for r in every if r.band})
        counts = {key: sum(1 for r in every if key in r.labels) for key in LISTS}
        return render(
            request,
            "risks.html",
            "/risks",
            risks=shown,
            total=len(every),
            filters=filters,
            lists=LISTS,
            owners=owners,
            bands=[b for b, _ in bands],
            counts=counts,
            since=since(request),
            filtered=filters != RiskFilters(),
        )

    @router.get("/risks/{code}", response_class=HTMLResponse)
    def risk(request: Request, code: str) -> HTMLResponse:
        with Session(engine) as session:
            page = risk_page(session, request.state.plan, code, since=since(request), today=today())
        if page is None:
            raise ErrorPage(
                404,
                "Risk not found",
                f"There is no risk {code[:40]} in the plan's register. Check the "
                "reference, or find the risk on the risk register page.",
            )
        return render(request, "risk.html", "/risks", page=page, lists=LISTS)

    return router


def _workbook(session: Session, plan_id: int, today: date, since: datetime) -> bytes:
    """The scorecard, every figure, the register and every change to it, a sheet each."""
    from openpyxl import Workbook  # (and numpy) only when a spreadsheet is asked for
    from openpyxl.styles import Font

    wb = Workbook()
    bold = Font(bold=True)

    def sheet(
        title: str, header: Sequence[str], rows: Sequence[Sequence[object]], first: bool = False
    ) -> None:
        ws = wb.active if first else wb.create_sheet(title)
        assert ws is not None
        ws.title = title
        ws.append(list(header))
        for cell in ws[1]:
            cell.font = bold
        for row in rows:
            ws.append([_cell(v) for v in row])
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions

    lines = scorecard_lines(session, plan_id, today)
    sheet(
        "Scorecard",
        [
            "Ref",
            "Measure",
            "Unit",
            "Owner",
            "Latest",
            "Period",
            "Expected",
            "Target",
            "RAG",
            "Direction",
            "Flags",
        ],
        [
            (
                m.code,
                m.name,
                m.unit,
                m.owner,
                m.status.latest.value if m.status.latest else None,
                m.status.latest.day if m.status.latest else None,
                round(m.status.expected, 2) if m.status.expected is not None else None,
                m.status.target.value if m.status.target else None,
                m.status.rag,
                m.status.direction,
                "; ".join(f.message for f in m.status.flags),
            )
            for m in lines
        ],
        first=True,
    )
    readings = [(m.code, p.day, p.value) for m in lines for p in m.series]
    sheet("Figures", ["Measure", "Period end", "Figure (latest given)"], readings)
    risks = register_lines(session, plan_id, since=since, today=today)
    sheet(
        "Risks",
        [
            "Ref",
            "Risk",
            "Owner",
            "Likelihood",
            "Impact",
            "Score",
            "Band",
            "Score at last meeting",
            "Target score",
            "Mitigation",
            "Review date",
            "Status",
            "Lists",
        ],
        [
            (
                r.code,
                r.title,
                r.owner,
                r.likelihood,
                r.impact,
                r.score,
                r.band,
                r.score_at_since,
                r.target_score,
                r.mitigation,
                r.review_date,
                r.status,
                ", ".join(r.labels),
            )
            for r in risks
        ],
    )
    history = []
    for r in risks:
        for ch in risk_history(session, r.id):
            history.append(
                (
                    r.code,
                    ch.recorded_at.astimezone(LONDON).replace(tzinfo=None),
                    ch.kind,
                    ch.given_by,
                    ch.channel,
                    ch.score_before,
                    ch.score_after,
                    "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in ch.changes.items()),
                )
            )
    sheet(
        "Risk history",
        ["Risk", "When", "Kind", "Given by", "Channel", "Score before", "Score after", "Changes"],
        history,
    )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        return "'" + value  # text, never a formula
    return value
