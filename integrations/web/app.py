"""The reply form: one page per signed link, listing the request's actions, each saved on its own.

Opening a link changes nothing (mail scanners open every link): only a form post does, and a
post must carry the link's CSRF token in its body and its cookie and come from this site.
A tampered, expired or unknown link gets a GOV.UK error page and changes nothing. Posts after
the papers deadline are accepted and marked late.

``create_app(engine=..., secret=..., clock=..., form_url=...)`` builds the app; serve it with
uvicorn with its access log off (the access log would write each link's token).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from integrations.web.access import LocalOnly, is_loopback
from integrations.web.admin_cycles import PlanConfigFiles, cycles_router
from integrations.web.admin_people import people_router
from integrations.web.admin_plan import plan_router
from integrations.web.admin_settings import settings_router
from integrations.web.board import BOARD_NAVIGATION, board_router
from integrations.web.outbox_pages import CapturedMail, delivery_router, outbox_router
from integrations.web.pages import ErrorPage, NavItem, Pages, long_date
from integrations.web.scorecard import SCORECARD_NAVIGATION, scorecard_router
from integrations.web.secretary import (
    SECRETARY_NAVIGATION,
    MeetingsNear,
    PlanSite,
    secretary_router,
)
from integrations.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    content_security_policy,
    csrf_ok,
    csrf_token,
    origin_of,
    same_origin,
    security_middleware,
)
from integrations.web.signin import Access, SignInNeeded, SignInOptions, signin_router
from workflows.replies.form import TEXT_FIELDS, read_action_form
from workflows.replies.intake import take_in_form_post
from workflows.replies.links import LinkClaims, TokenError, verify_link
from workflows.replies.requests import RequestView, load_request
from workflows.views.flag_model import FlagRules
from workflows.views.outbox_status import outbox_counts

log = structlog.get_logger(__name__)
HERE = Path(__file__).resolve().parent


NOT_FOUND = ErrorPage(
    404,
    "Page not found",
    "If you typed the web address, check it is correct.",
    "If you used the link in an email, use it exactly as it was sent, or reply to the email "
    "with your update instead.",
)
NOT_IN_REQUEST = ErrorPage(
    404,
    "This action is not part of your request",
    "You can only update the actions listed on the page your link opens. Nothing was saved.",
)
REFUSED = ErrorPage(
    403,
    "Your update could not be saved",
    "This can happen if the form was sent from another website, or the page was open for a "
    "long time or opened from a different link. Nothing was saved.",
    "Open the link in your email again and send your update from that page.",
)
LINK_PAGES = {
    "expired": ErrorPage(
        410,
        "This link has expired",
        "Links to the update form stop working two weeks after the meeting they were sent for.",
        "To send an update now, reply to the email with your update, or contact the programme "
        "secretary.",
    ),
    "tampered": ErrorPage(
        400,
        "This link is not valid",
        "The link may have been changed or copied wrongly. Nothing was saved.",
        "Open the link from your email again. If that does not work, reply to the email with "
        "your update instead, or contact the programme secretary.",
    ),
}
LINK_PAGES["malformed"] = LINK_PAGES["tampered"]


#: How long a browser may use an asset (the GOV.UK styles, fonts) without asking again; after
#: that it revalidates with the ETag and Last-Modified Starlette's StaticFiles sends (a 304).
#: Asset names carry no version, so an upgrade's new styles show within the hour.
ASSET_CACHE = "public, max-age=3600"


class CachedAssets(StaticFiles):
    """The static assets, each with a ``Cache-Control`` beside StaticFiles' own ETag and
    Last-Modified (and its 304 for ``If-None-Match``/``If-Modified-Since``)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = ASSET_CACHE
        return response


def create_app(
    *,
    engine: Engine,
    secret: bytes,
    clock: Callable[[], datetime],
    form_url: str,
    contact_email: str = "",
    plan_code: str | None = None,
    bind_host: str = "127.0.0.1",
    mailbox: CapturedMail | None = None,
    flags: FlagRules | None = None,
    meetings: MeetingsNear | None = None,
    liveness: Callable[[], str | None] | None = None,
    signin: SignInOptions | None = None,
    trusted_proxies: Sequence[str] = (),
    plans: Sequence[PlanSite] = (),
    metrics: Callable[[], tuple[bytes, str]] | None = None,
    metrics_token: str = "",
    config_files: Mapping[str, PlanConfigFiles] | None = None,
    data_dir: Path | None = None,
) -> FastAPI:
    """The reply form, and with ``plan_code`` the secretary's pages for that plan.

    ``form_url`` is the form's public address (as in chasing.yaml's ``form_url``);
    ``contact_email`` (the programme mailbox) is offered on error pages. ``bind_host`` is the
    address the server listens on: the secretary's pages are served only on loopback (see
    :mod:`integrations.web.access`). ``flags`` and ``meetings`` feed those pages (see
    :mod:`integrations.web.secretary`); ``mailbox`` (the demo's captured mail) adds ``/outbox``.
    ``liveness`` says what is wrong with the service's loop, if anything, for ``/health``.
    ``signin`` says how people sign in to the secretary's pages (see
    :mod:`integrations.web.signin`); ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed
    only from ``trusted_proxies`` (addresses or networks). ``plans`` serves several plans' pages
    (``plan_code``, ``flags`` and ``meetings`` are the one plan's, when there is one).
    ``metrics`` gives what ``/metrics`` serves (Prometheus's text format): to this computer, or
    to anyone presenting ``metrics_token`` as a bearer token. ``config_files`` (each plan's
    ``cycles.yaml`` and the files its preview reads) adds the admin's ``/cycles`` page, and with
    ``data_dir`` (where uploads wait for confirmation) the plan upload, ``/upload``.
    """
    if plan_code is not None:
        plans = [PlanSite(plan_code, flags=flags, meetings=meetings), *plans]
    signin = signin or SignInOptions()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    form_targets = [origin_of(signin.entra.authority)] if signin.entra is not None else []
    app.middleware("http")(security_middleware(content_security_policy(form_targets)))
    # Added last, so it runs first: every later step sees the browser's own address and scheme.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies))
    app.mount("/assets", CachedAssets(directory=HERE / "static" / "govuk"), name="assets")
    local_only = LocalOnly(bind_host)
    navigation: list[NavItem] = []
    # The store's outbox: /outbox, but the demo's /outbox is its mail sink.
    deliveries = "/outbox" if mailbox is None else "/deliveries"
    if plans:
        navigation += SECRETARY_NAVIGATION
        navigation += SCORECARD_NAVIGATION
        navigation += BOARD_NAVIGATION
        navigation.append(NavItem(deliveries, "Outbox" if mailbox is None else "Delivery"))
        navigation.append(NavItem("/people", "People", need="admin"))
        if config_files:
            navigation.append(NavItem("/cycles", "Meeting cycles", need="admin"))
            navigation.append(NavItem("/settings/chasing", "Chasing settings", need="admin"))
            navigation.append(NavItem("/settings/digest", "Digest settings", need="admin"))
        if config_files and data_dir is not None:
            navigation.append(NavItem("/upload", "Upload plan", need="admin"))
    if mailbox is not None:
        navigation.append(NavItem("/outbox", "Outbox"))
    pages = Pages(contact_email=contact_email, navigation=navigation)
    secure_cookie = form_url.lower().startswith("https://")
    origins = [origin_of(form_url)]

    render = pages.render
    error_page = pages.error

    access = Access(
        engine=engine,
        clock=clock,
        secret=secret,
        plans=[p.code for p in plans],
        bind_host=bind_host,
        options=signin,
        secure=secure_cookie,
    )

    @app.exception_handler(ErrorPage)
    async def _error_page(request: Request, exc: ErrorPage) -> Response:
        return error_page(exc)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(f"/signin?next={quote(exc.next_path)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return error_page(
                ErrorPage(405, "Page not found", "Open the link in your email to update.")
            )
        return error_page(NOT_FOUND)

    def claims_of(token: str) -> LinkClaims:
        try:
            return verify_link(secret, token, now=clock())
        except TokenError as exc:
            log.info("form_link_refused", reason=exc.reason)
            raise LINK_PAGES[exc.reason] from None

    def request_for(claims: LinkClaims) -> RequestView:
        found = load_request(engine, claims)
        if found is None:
            log.info("form_request_unknown")
            raise NOT_FOUND
        return found

    def form_page(
        token: str,
        claims: LinkClaims,
        found: RequestView,
        *,
        edits: Mapping[str, Mapping[str, Any]] | None = None,
        error_list: list[dict[str, str]] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        now = clock()
        scale = found.scale
        response = render(
            "form.html",
            status,
            token=token,
            csrf=csrf_token(secret, token),
            actions=found.actions,
            scale=scale,
            scale_items=[
                {"value": v.value, "text": v.value, "hint": {"text": v.label} if v.label else None}
                for v in (scale.values if scale else ())
            ],
            meeting=found.meeting,
            plan_title=found.plan_title,
            deadline=long_date(found.due_by),
            late=found.late(now),
            expires=long_date(claims.expires_at),
            edits=edits or {},
            error_list=error_list or [],
        )
        response.set_cookie(
            CSRF_COOKIE,
            csrf_token(secret, token),
            max_age=max(0, int((claims.expires_at - now).total_seconds())),
            path=f"/r/{token}",
            secure=secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    def check_post(request: Request, token: str, fields: Mapping[str, str]) -> LinkClaims:
        if not same_origin(request, origins):
            log.info("form_post_refused", reason="cross-site")
            raise REFUSED
        claims = claims_of(token)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not csrf_ok(secret, token, fields.get(CSRF_FIELD, ""), cookie):
            log.info("form_post_refused", reason="csrf")
            raise REFUSED
        return claims

    def saved_url(token: str, ref: str | None) -> str:
        return f"/r/{token}/saved" + (f"?action={quote(ref, safe='')}" if ref else "")

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        if navigation and (signin.network or local_only.allowed(request)):
            return RedirectResponse(navigation[0].href, status_code=303)
        return render("home.html")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)  # no icon: GOV.UK's are for GOV.UK services only

    @app.get("/health")
    def health() -> JSONResponse:
        """200 when the store answers and (in ``chaser run``) the ticks keep coming; else 503
        saying what is wrong, for a container's health check or a load balancer."""
        problems: dict[str, str] = {}
        detail: dict[str, Any] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            with Session(engine) as session:
                counts = outbox_counts(session)
            # Counts only: never a key, an address or a name.
            detail["outbox"] = {
                "dead": counts.dead,
                "pending": counts.pending,
                "oldest_pending_seconds": counts.oldest_pending_seconds(clock()),
            }
        except SQLAlchemyError:
            log.warning("health_database_unreachable")
            problems["database"] = "unreachable"
        trouble = liveness() if liveness is not None else None
        if trouble:
            problems["scheduler"] = trouble
        if problems:
            return JSONResponse({"status": "unavailable", **problems, **detail}, status_code=503)
        return JSONResponse({"status": "ok", **detail})

    @app.get("/metrics")
    def metrics_page(request: Request) -> Response:
        """Prometheus's scrape: counts and the outbox's state, never a name or an address."""
        if metrics is None:
            raise NOT_FOUND
        client = request.client.host if request.client else ""
        given = request.headers.get("authorization", "")
        token_ok = bool(metrics_token) and hmac.compare_digest(
            given.encode(), f"Bearer {metrics_token}".encode()
        )
        if not (token_ok or (is_loopback(client) and not given)):
            log.info("metrics_refused")
            return Response(
                "Metrics are served to this computer, or with the bearer token set in "
                "CHASER_METRICS_TOKEN.\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="chaser-metrics"'},
            )
        body, content_type = metrics()
        return Response(body, media_type=content_type)

    @app.get("/r/{token}", response_class=HTMLResponse)
    def show_form(token: str) -> HTMLResponse:
        claims = claims_of(token)
        return form_page(token, claims, request_for(claims))

    def post_action(request: Request, token: str, ref: str, fields: dict[str, str]) -> Response:
        claims = check_post(request, token, fields)
        found = request_for(claims)
        action = found.action(ref)
        if action is None:
            log.info("form_post_refused", reason="action not in request")
            raise NOT_IN_REQUEST
        reading = read_action_form(
            ref,
            fields,
            scale=found.scale,
            measures=action.measures,
            risks_to_review=action.register_risks,
        )
        if not reading.ok:
            prefix = f"a{action.index}"
            errors = {e.field: e.message for e in reading.errors}
            return form_page(
                token,
                claims,
                found,
                edits={ref: {"values": fields, "errors": errors}},
                error_list=[
                    {"text": e.message, "href": f"#{prefix}-{e.field}"} for e in reading.errors
                ],
                status=400,
            )
        now = clock()
        raw = {k: v for k, v in fields.items() if k != CSRF_FIELD} | {"action": ref}
        take_in_form_post(engine, found, [reading], raw=raw, now=now)
        log.info("form_update_saved", request=found.delivery_id, late=found.late(now))
        return RedirectResponse(saved_url(token, ref), status_code=303)

    def post_no_change(request: Request, token: str, fields: dict[str, str]) -> Response:
        claims = check_post(request, token, fields)
        found = request_for(claims)
        now = clock()
        pending = [a for a in found.actions if not a.updated]  # not those updated already
        if not pending:
            return RedirectResponse(f"/r/{token}", status_code=303)
        readings = [
            read_action_form(a.ref, {"intent": "no_change"}, scale=found.scale) for a in pending
        ]
        raw = {"intent": "no_change", "actions": [a.ref for a in pending]}
        take_in_form_post(engine, found, readings, raw=raw, now=now)
        log.info("form_no_change_saved", request=found.delivery_id, late=found.late(now))
        return RedirectResponse(saved_url(token, None), status_code=303)

    @app.post("/r/{token}/actions/{ref}")
    async def save_action(request: Request, token: str, ref: str) -> Response:
        fields = await _fields(request)
        return await run_in_threadpool(post_action, request, token, ref, fields)

    @app.post("/r/{token}/no-change")
    async def save_no_change(request: Request, token: str) -> Response:
        fields = await _fields(request)
        return await run_in_threadpool(post_no_change, request, token, fields)

    @app.get("/r/{token}/saved", response_class=HTMLResponse)
    def saved(token: str, action: str | None = None) -> HTMLResponse:
        claims = claims_of(token)
        found = request_for(claims)
        one = found.action(action) if action else None
        if action and one is None:
            raise NOT_FOUND
        shown = [one] if one else list(found.actions)
        return render(
            "done.html",
            heading="Update saved" if one else "No change recorded",
            summary=f"Action {one.ref}" if one else f"{len(shown)} actions unchanged",
            saved=shown,
            late=found.late(clock()),
            meeting=found.meeting,
            plan_title=found.plan_title,
            expires=long_date(claims.expires_at),
            token=token,
            next_action=found.next_after(one.ref) if one else None,
        )

    if plans:
        # Without sign-in configured, signing in too is for a browser on this computer only.
        app.include_router(
            signin_router(pages=pages, access=access, public_url=form_url),
            dependencies=[] if signin.network else [Depends(local_only)],
        )
        app.include_router(
            secretary_router(
                pages=pages,
                engine=engine,
                clock=clock,
                plans=plans,
                access=access,
                outbox_href=deliveries,
            )
        )
        app.include_router(
            scorecard_router(pages=pages, engine=engine, clock=clock, plans=plans, access=access)
        )
        app.include_router(
            board_router(
                pages=pages,
                engine=engine,
                clock=clock,
                access=access,
                sites=plans,
            )
        )
        app.include_router(
            delivery_router(
                pages=pages, engine=engine, clock=clock, access=access, prefix=deliveries
            )
        )
        app.include_router(people_router(pages=pages, engine=engine, clock=clock, access=access))
        if config_files:
            app.include_router(
                cycles_router(
                    pages=pages, engine=engine, clock=clock, access=access, files=config_files
                )
            )
            app.include_router(
                settings_router(
                    pages=pages, engine=engine, clock=clock, access=access, files=config_files
                )
            )
        if config_files and data_dir is not None:
            app.include_router(
                plan_router(
                    pages=pages,
                    engine=engine,
                    clock=clock,
                    access=access,
                    files=config_files,
                    data_dir=data_dir,
                )
            )
    if mailbox is not None:
        app.include_router(
            outbox_router(pages=pages, mailbox=mailbox), dependencies=[Depends(access.page)]
        )
    if not signin.network and not is_loopback(bind_host) and plans:
        log.info("secretary_pages_local_only", hint="configure sign-in (docs/secretary-pages.md)")
    return app


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form()
    known = {*TEXT_FIELDS, CSRF_FIELD, "intent"}
    return {
        k: v
        for k, v in form.items()
        if isinstance(v, str)
        and (k in known or k.startswith(("measure-", "risk-", "milestone-done-")))
    }
