"""Signing in to the secretary's pages, and the guard every one of them stands behind.

Two ways in: Microsoft Entra ID (:mod:`integrations.entra`), and a one-time link sent by email
through the outbox (:mod:`workflows.access.links`). Either starts a new server-side session
(:mod:`workflows.access.sessions`) whose token is the ``HttpOnly``, ``SameSite=Lax`` cookie
(``Secure``, and ``__Host-`` prefixed, when served over HTTPS).

:class:`Access` guards the pages: a GET needs a signed-in user with a role on the plan (a viewer
will do), a POST a secretary (or an admin, for the admin pages) and the session's CSRF token
in the form, from this site. Without sign-in configured (no Microsoft sign-in, no real email)
the pages are also served only to a browser on the computer running Chaser.

Opening a link changes nothing (mail scanners open every link): it shows a button, and the POST
signs in, unless the link was printed on the terminal for the person at it (the demo). Every
sign-in, refusal and sign-out is in the audit log, and the log's counts limit how often sign-in
may be tried from one address, or links asked for one account.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from integrations.entra import EntraSignIn, SignInRefused
from integrations.web.access import LocalOnly
from integrations.web.pages import ErrorPage, Pages
from integrations.web.security import CSRF_FIELD, origin_of, same_origin
from workflows.access import audit
from workflows.access.links import (
    LinkRefused,
    check_link,
    create_link,
    new_browser_value,
    redeem_link,
)
from workflows.access.sessions import end_session, find_session, start_session
from workflows.access.users import SignedIn, find_user, normalise_email
from workflows.store.models import Plan, Role, SigninFlow, UserAccount

log = structlog.get_logger(__name__)

BROWSER_COOKIE = "chaser_browser"
#: Which plan's pages a browser is looking at (``?plan=CODE`` chooses it, the cookie keeps it).
PLAN_COOKIE = "chaser_plan"
#: Sign-in with Microsoft must come back within this long.
FLOW_LIFETIME = timedelta(minutes=10)

SendLink = Callable[[UserAccount, str], None]


class SignInNeeded(Exception):
    """Not signed in (or the session ended): go to the sign-in page, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


REFUSED = ErrorPage(
    403,
    "Your change could not be saved",
    "This can happen if the form was sent from another website, or the page was open for a "
    "long time or in another browser. Nothing was changed.",
    "Open the page again and make your change from there.",
)
VIEWER_ONLY = ErrorPage(
    403,
    "You can read this plan but not change it",
    "Your account can see the plan's pages but not change anything in them. Nothing was "
    "changed. If you should be able to, ask an admin of Chaser to give you the secretary role.",
)
TOO_MANY = ErrorPage(
    429,
    "Too many sign-in attempts",
    "For the safety of everyone's accounts, sign-in is paused for a while after too many "
    "attempts. Wait 15 minutes and try again.",
)


@dataclass(frozen=True)
class SignInOptions:
    """How people may sign in, as the composition root configured it."""

    #: Microsoft Entra ID, when configured.
    entra: EntraSignIn | None = None
    #: Sends a sign-in link (through the outbox); None turns email sign-in off.
    send_link: SendLink | None = None
    #: Whether sign-in is configured, so that the pages may be served on any address.
    network: bool = False
    idle: timedelta = timedelta(hours=1)
    lifetime: timedelta = timedelta(hours=12)


def safe_next(value: str | None, default: str = "/plan") -> str:
    """A path on this site to return to after sign-in (never another site's address)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("/signin"):
        return default
    return value[:500]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def address_of(request: Request) -> str:
    """The browser's address (after a trusted proxy's ``X-Forwarded-For``, if any)."""
    return request.client.host if request.client else ""


class Access:
    """The guard of the secretary's pages, and the maker of their sessions' cookies."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Callable[[], datetime],
        secret: bytes,
        plans: Sequence[str],
        bind_host: str,
        options: SignInOptions,
        secure: bool,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.secret = secret
        self.plans = list(plans)
        self.options = options
        self.local_only = None if options.network else LocalOnly(bind_host)
        self.secure = secure
        self.cookie = "__Host-chaser_session" if secure else "chaser_session"

    # -- the guard -----------------------------------------------------------------------------

    def _load(self, request: Request, need: Role) -> SignedIn:
        if self.local_only is not None:
            self.local_only(request)
        token = request.cookies.get(self.cookie, "")
        with Session(self.engine) as session:
            found = find_session(session, token, now=self.clock(), idle=self.options.idle)
            csrf, method = (found[0].csrf_secret, found[0].method) if found else ("", "")
            session.commit()
        if found is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(path if request.method == "GET" else "/plan")
        user = found[1]
        plan_code = self._plan_for(request, user)
        if not user.may(need, plan_code):
            log.info("post_refused", reason="role", need=str(need))
            raise (
                VIEWER_ONLY
                if need is Role.SECRETARY
                else ErrorPage(
                    403,
                    "Only an admin can do this",
                    "Your account cannot change Chaser's settings. Nothing was changed.",
                )
            )
        request.state.plan = plan_code
        theirs = [p for p in self.plans if user.role_on(p) is not None]
        request.state.plans = self._titles(theirs) if len(theirs) > 1 else []
        request.state.user = user
        request.state.csrf = csrf
        request.state.session_method = method
        return user

    def _titles(self, codes: Sequence[str]) -> list[tuple[str, str]]:
        """(code, title) of each plan, for the plan switcher."""
        with Session(self.engine) as session:
            titles = {
                p.code: p.title
                for p in session.exec(select(Plan).where(col(Plan.code).in_(list(codes))))
            }
        return [(code, titles.get(code) or code) for code in codes]

    def _plan_for(self, request: Request, user: SignedIn) -> str:
        """The plan this request is about: the one asked for (``?plan=``, else the browser's
        last choice), else the first the user has a role on."""
        if not self.plans:  # pages about no plan (the demo's outbox): a role on every plan
            if user.role_on("") is None:
                raise ErrorPage(403, "You do not have access to this page")
            return ""
        asked = request.query_params.get("plan") or request.cookies.get(PLAN_COOKIE, "")
        if request.query_params.get("plan") and asked not in self.plans:
            raise ErrorPage(404, "Plan not found", f"There is no plan {asked[:64]!r} here.")
        if asked in self.plans and user.role_on(asked) is not None:
            return asked
        theirs = [p for p in self.plans if user.role_on(p) is not None]
        if request.query_params.get("plan") or not theirs:
            log.info("page_refused", reason="no role on this plan")
            raise ErrorPage(
                403,
                "You do not have access to this plan",
                f"Your account ({user.email}) has no role on "
                + ("this plan" if theirs or not self.plans else "any plan here")
                + ", so Chaser cannot show it. If you should see it, ask an admin of Chaser to "
                "add you to it.",
            )
        return theirs[0]

    def require(self, request: Request, need: Role) -> SignedIn:
        """The signed-in user if their role on the request's plan includes ``need`` (a GET of
        an admin page asks for ``Role.ADMIN``); else sign-in or a 403 page. Blocking: call it
        in a thread from async code."""
        return self._load(request, need)

    async def page(self, request: Request) -> SignedIn:
        """A FastAPI dependency for a page (GET): a signed-in user with a role on the plan."""
        return await run_in_threadpool(self._load, request, Role.VIEWER)

    def change(self, need: Role = Role.SECRETARY) -> Callable[[Request], Any]:
        """A dependency for a POST: a user whose role includes ``need``, and the form carrying
        the session's CSRF token, sent from this site."""

        async def guard(request: Request) -> SignedIn:
            user = await run_in_threadpool(self._load, request, need)
            form = await request.form()
            field = form.get(CSRF_FIELD)
            if not same_origin(request, [origin_of(str(request.base_url))]) or not (
                isinstance(field, str) and hmac.compare_digest(field, request.state.csrf)
            ):
                log.info("post_refused", reason="csrf or cross-site")
                raise REFUSED
            return user

        return guard

    # -- sessions' cookies -------------------------------------------------------------------

    def begin_session(self, response: Response, user: UserAccount, method: str) -> None:
        """A new session (never one the browser brought): its cookie on ``response``."""
        with Session(self.engine) as session:
            token = start_session(
                session, user, method=method, now=self.clock(), lifetime=self.options.lifetime
            )
            session.commit()
        response.set_cookie(
            self.cookie,
            token,
            max_age=int(self.options.lifetime.total_seconds()),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def end(self, request: Request, response: Response) -> int | None:
        with Session(self.engine) as session:
            user_id = end_session(session, request.cookies.get(self.cookie, ""), now=self.clock())
            session.commit()
        response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True)
        return user_id

    def live_session(self, request: Request) -> SignedIn | None:
        token = request.cookies.get(self.cookie, "")
        if not token:
            return None
        with Session(self.engine) as session:
            found = find_session(session, token, now=self.clock(), idle=self.options.idle)
        return found[1] if found else None


# -- the sign-in pages --------------------------------------------------------------------------


def signin_router(*, pages: Pages, access: Access, public_url: str) -> APIRouter:
    router = APIRouter()
    options = access.options
    engine, clock, secret = access.engine, access.clock, access.secret
    callback_url = f"{public_url.rstrip('/')}/signin/entra/callback"

    def csrf_for(browser: str) -> str:
        return hmac.new(secret, b"signin:" + browser.encode(), hashlib.sha256).hexdigest()

    def with_browser(request: Request, response: Response) -> str:
        """This browser's sign-in value (a cookie), set now if it had none."""
        browser = request.cookies.get(BROWSER_COOKIE, "")
        if not (20 <= len(browser) <= 64 and browser.isascii()):
            browser = new_browser_value()
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            max_age=1800,
            path="/signin",
            secure=access.secure,
            httponly=True,
            samesite="lax",
        )
        return browser

    def audit_event(kind: str, request: Request, **fields: Any) -> None:
        with Session(engine) as session:
            audit.record(session, kind, now=clock(), address=address_of(request), **fields)
            session.commit()
        log.info(kind, method=fields.get("method", ""), reason=fields.get("reason", ""))

    def limited(request: Request, *, email: str = "", kind: str = "") -> None:
        with Session(engine) as session:
            why = audit.too_many(
                session, now=clock(), address=address_of(request), email=email, kind=kind
            )
        if why is not None:
            audit_event(audit.REFUSED, request, email=email, reason=why, method="limit")
            raise TOO_MANY

    def signin_page(
        request: Request,
        *,
        status: int = 200,
        next_path: str = "/plan",
        email: str = "",
        error: str = "",
        notice: str = "",
    ) -> HTMLResponse:
        response = HTMLResponse("")
        browser = with_browser(request, response)
        page = pages.render(
            "signin/signin.html",
            status,
            entra=options.entra is not None,
            email_links=options.send_link is not None,
            next_path=next_path,
            email=email,
            error=error,
            notice=notice,
            csrf=csrf_for(browser),
            csrf_field=CSRF_FIELD,
        )
        page.raw_headers.extend(
            (k, v) for k, v in response.raw_headers if k.lower() == b"set-cookie"
        )
        return page

    @router.get("/signin", response_class=HTMLResponse)
    def show_signin(request: Request, next: str = "", signed_out: str = "") -> Response:
        if access.live_session(request) is not None and not signed_out:
            return RedirectResponse(safe_next(next), status_code=303)
        notice = "You have signed out." if signed_out else ""
        return signin_page(request, next_path=safe_next(next), notice=notice)

    # -- by email ------------------------------------------------------------------------------

    def post_email(request: Request, fields: Mapping[str, str]) -> Response:
        next_path = safe_next(fields.get("next"))
        if options.send_link is None:
            raise ErrorPage(404, "Page not found")
        browser = request.cookies.get(BROWSER_COOKIE, "")
        if not same_origin(request, [public_url]) or not (
            browser and hmac.compare_digest(fields.get(CSRF_FIELD, ""), csrf_for(browser))
        ):
            raise ErrorPage(
                403,
                "Your sign-in could not be started",
                "The form was open too long, or was sent from another website. Nothing was sent.",
                "Open the sign-in page again and enter your email address there.",
            )
        typed = fields.get("email", "").strip()
        email = normalise_email(typed)
        if "@" not in email or len(email) > 320:
            return signin_page(
                request,
                status=400,
                next_path=next_path,
                email=typed[:320],
                error="Enter an email address in the correct format, like name@example.org",
            )
        limited(request, email=email, kind="link_sent")
        with Session(engine) as session:
            user = find_user(session, email)
            token = ""
            if user is not None and user.active:
                token = create_link(session, user, now=clock(), browser=browser)
                session.commit()
                session.refresh(user)
        if user is None or not user.active:
            # Said the same way as for a known account: the page must not tell who has one.
            audit_event(audit.REFUSED, request, email=email, reason="no account", method="email")
        else:
            query = f"?next={quote(next_path)}" if next_path != "/plan" else ""
            options.send_link(user, f"{public_url.rstrip('/')}/signin/link/{token}{query}")
            audit_event("link_sent", request, email=email, user_id=user.id, method="email")
        return pages.render("signin/check_email.html", email=email)

    @router.post("/signin/email")
    async def signin_by_email(request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return await run_in_threadpool(post_email, request, fields)

    def link_refused(request: Request, refused: LinkRefused) -> ErrorPage:
        audit_event(audit.REFUSED, request, reason=f"link {refused.reason}", method="email")
        return ErrorPage(
            400 if refused.reason == "unknown" else 410,
            "This sign-in link cannot be used",
            refused.words,
            "You can ask for a new sign-in link on the sign-in page.",
        )

    def open_link(request: Request, token: str, next: str) -> Response:
        limited(request)
        browser = request.cookies.get(BROWSER_COOKIE, "")
        with Session(engine) as session:
            try:
                info = check_link(session, token, browser=browser, now=clock())
            except LinkRefused as refused:
                raise link_refused(request, refused) from None
        if info.on_open:
            return redeem(request, token, next)
        return pages.render(
            "signin/link.html",
            email=info.user.email,
            token=token,
            next_path=safe_next(next),
            csrf=csrf_for("link:" + token),
            csrf_field=CSRF_FIELD,
        )

    def redeem(request: Request, token: str, next: str) -> Response:
        browser = request.cookies.get(BROWSER_COOKIE, "")
        with Session(engine) as session:
            try:
                user = redeem_link(session, token, browser=browser, now=clock())
            except LinkRefused as refused:
                raise link_refused(request, refused) from None
            session.commit()
            session.refresh(user)
        response = RedirectResponse(safe_next(next), status_code=303)
        access.begin_session(response, user, "email")
        audit_event("signin", request, email=user.email, user_id=user.id, method="email")
        return response

    @router.get("/signin/link/{token}", response_class=HTMLResponse)
    def show_link(request: Request, token: str, next: str = "") -> Response:
        return open_link(request, token, next)

    @router.post("/signin/link/{token}")
    async def use_link(request: Request, token: str) -> Response:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        if not same_origin(request, [public_url]) or not (
            isinstance(field, str) and hmac.compare_digest(field, csrf_for("link:" + token))
        ):
            raise REFUSED
        next_path = form.get("next")
        return await run_in_threadpool(
            redeem, request, token, next_path if isinstance(next_path, str) else ""
        )

    # -- with Microsoft -------------------------------------------------------------------------

    def start_entra(request: Request, next: str) -> Response:
        entra = options.entra
        if entra is None:
            raise ErrorPage(404, "Page not found")
        limited(request)
        response = RedirectResponse("/", status_code=303)
        browser = with_browser(request, response)
        try:
            flow = entra.begin(callback_url)
        except SignInRefused as refused:
            audit_event(audit.REFUSED, request, reason=refused.reason, method="entra")
            raise ErrorPage(503, "Microsoft sign-in is not available", refused.words) from None
        now = clock()
        with Session(engine) as session:
            session.execute(delete(SigninFlow).where(col(SigninFlow.expires_at) < now))
            session.add(
                SigninFlow(
                    state_hash=_digest(str(flow["state"])),
                    browser_hash=_digest(browser),
                    flow=flow,
                    next_path=safe_next(next),
                    created_at=now,
                    expires_at=now + FLOW_LIFETIME,
                )
            )
            session.commit()
        response.headers["location"] = str(flow["auth_uri"])
        return response

    @router.get("/signin/entra")
    def signin_with_entra(request: Request, next: str = "") -> Response:
        return start_entra(request, next)

    def finish_entra(request: Request, query: Mapping[str, str]) -> Response:
        entra = options.entra
        if entra is None:
            raise ErrorPage(404, "Page not found")
        limited(request)
        browser = request.cookies.get(BROWSER_COOKIE, "")
        state = query.get("state", "")
        with Session(engine) as session:
            flow = session.get(SigninFlow, _digest(state)) if state else None
            if flow is not None:
                session.delete(flow)  # one use, whatever comes next
                session.commit()

        def refuse(reason: str, words: str) -> ErrorPage:
            audit_event(audit.REFUSED, request, reason=reason, method="entra")
            return ErrorPage(
                403,
                "You are not signed in",
                words,
                "You can try again from the sign-in page.",
            )

        if flow is None or not browser or _digest(browser) != flow.browser_hash:
            raise refuse("flow", "This sign-in did not start in this browser, or was already used.")
        if clock() >= flow.expires_at:
            raise refuse("flow expired", "The sign-in took too long. Please try again.")
        try:
            identity = entra.finish(flow.flow, query)
        except SignInRefused as refused:
            raise refuse(refused.reason, refused.words) from None
        with Session(engine) as session:
            user = find_user(session, identity.email)
            if (
                user is not None
                and user.entra_oid
                and ((user.entra_oid, user.entra_tid) != (identity.oid, identity.tid))
            ):
                user = None  # that address belongs to another Microsoft account now
            if user is None or not user.active:
                raise refuse(
                    "no account",
                    f"Your Microsoft account ({identity.email}) is not set up in Chaser. Ask "
                    "an admin of Chaser to add you.",
                )
            if not user.entra_oid:
                user.entra_oid, user.entra_tid = identity.oid, identity.tid
            if identity.name and not user.name:
                user.name = identity.name
            session.add(user)
            session.commit()
            session.refresh(user)
        response = RedirectResponse(flow.next_path, status_code=303)
        access.begin_session(response, user, "entra")
        audit_event("signin", request, email=user.email, user_id=user.id, method="entra")
        return response

    @router.get("/signin/entra/callback")
    def entra_callback(request: Request) -> Response:
        return finish_entra(request, dict(request.query_params))

    # -- signing out ------------------------------------------------------------------------------

    def sign_out(request: Request, user: SignedIn) -> Response:
        method = getattr(request.state, "session_method", "")
        response: Response = RedirectResponse("/signin?signed_out=1", status_code=303)
        if method == "entra" and options.entra is not None:
            url = options.entra.logout_url(f"{public_url.rstrip('/')}/signin?signed_out=1")
            if url:
                response = RedirectResponse(url, status_code=303)
        access.end(request, response)
        audit_event("signout", request, email=user.email, user_id=user.user_id, method=method)
        return response

    async def signout_guard(request: Request) -> SignedIn:
        user: SignedIn = await access.change(Role.VIEWER)(request)
        return user

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        user = await signout_guard(request)
        return await run_in_threadpool(sign_out, request, user)

    return router
