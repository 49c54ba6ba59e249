"""Rendering GOV.UK pages: one Jinja2 environment (autoescaped) shared by every page of the app.

The reply form, the secretary's pages and the demo's mailbox all render through :class:`Pages`,
so they share the page shell (``base.html``), the error page and the navigation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader

from notifications.template_cache import shared_bytecode
from workflows.calendar.cycles import LONDON
from workflows.store.models import Role

HERE = Path(__file__).resolve().parent
SERVICE_NAME = "Improvement plan updates"


#: A page behind sign-in that carries an ETag: kept only by the browser of the person signed in
#: (never a shared cache), and asked again every time, so the sign-in check always runs first.
PRIVATE_REVALIDATE = "private, no-cache"


def etag_of(body: bytes) -> str:
    """A strong ETag for a page: a hash of the body as sent (so it changes whenever anything the
    page shows does, the signed-in person's own sign-out token included)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def with_etag(request: Request, response: Response) -> Response:
    """``response`` with its ETag, or a bodiless 304 when the browser already holds this very
    page (``If-None-Match``). Call it only after the request passed its access check (the
    secretary's pages check in a dependency, before the page is built), so a 304 never tells
    someone not signed in anything; only 200 responses are tagged."""
    if response.status_code != 200:
        return response
    tag = etag_of(bytes(response.body))
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = PRIVATE_REVALIDATE
    wanted = request.headers.get("if-none-match", "")
    held = {t.strip().removeprefix("W/") for t in wanted.split(",") if t.strip()}
    if tag in held or "*" in held:
        unchanged = Response(status_code=304)
        for name, value in response.headers.items():
            if name.lower() in ("etag", "cache-control", "set-cookie", "vary"):
                unchanged.headers.append(name, value)
        return unchanged
    return response


class ErrorPage(Exception):
    """Stop and show a GOV.UK error page with this status; nothing has been changed."""

    def __init__(self, status: int, heading: str, *paragraphs: str) -> None:
        super().__init__(heading)
        self.status, self.heading, self.paragraphs = status, heading, paragraphs


@dataclass(frozen=True)
class NavItem:
    href: str
    text: str
    #: Shown only to a user with this role on the page's plan (``"admin"`` for admin pages).
    need: str = ""


def _may(user: Any, need: str, plan_code: str) -> bool:
    """Whether the signed-in ``user`` (a :class:`~workflows.access.users.SignedIn`) has a role
    including ``need`` on the plan; False when nobody is signed in."""
    may = getattr(user, "may", None)
    return bool(may is not None and may(Role(need), plan_code))


def long_date(moment: datetime | None) -> str:
    """``Tuesday 30 September 2025`` in London time; empty for None."""
    if moment is None:
        return ""
    local = moment.astimezone(LONDON)
    return f"{local:%A} {local.day} {local:%B %Y}"


def london_time(moment: datetime | None) -> str:
    """``Tue 26 Aug 2025, 09:30`` in London time; empty for None."""
    if moment is None:
        return ""
    return f"{moment.astimezone(LONDON):%a %d %b %Y, %H:%M}"


def environment() -> Environment:
    loader = ChoiceLoader(
        [
            FileSystemLoader(HERE / "templates"),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    )
    env = Environment(
        loader=loader,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=shared_bytecode(("page", True, True, True)),
    )
    env.filters["long_date"] = long_date
    env.filters["london_time"] = london_time
    return env


def with_plan(url: str, plan_code: str) -> str:
    """``url`` for plan ``plan_code``: ``/plan?status=x`` -> ``/plan?status=x&plan=CODE``.

    With several plans every link and form says which plan it is about, so a page opened in
    another tab (where the secretary switched plan) still acts on the plan it shows."""
    path, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in path else "?"
    return f"{path}{joiner}{urlencode({'plan': plan_code})}{hash_}{fragment}"


@dataclass
class Pages:
    """Renders a template into an HTML response with the context every page needs."""

    contact_email: str = ""
    service_name: str = SERVICE_NAME
    #: The service navigation (the secretary's pages); empty for the leads' form.
    navigation: Sequence[NavItem] = ()
    env: Environment = field(default_factory=environment)

    def render(
        self,
        template: str,
        status: int = 200,
        *,
        current: str = "",
        request: Request | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """``current`` is the path of the navigation item to mark as the page being shown;
        with the ``request`` of a signed-in user, the page says who, with a sign-out button."""
        if request is not None:
            context.setdefault("signed_in", getattr(request.state, "user", None))
            context.setdefault("csrf", getattr(request.state, "csrf", ""))
            context.setdefault("plan_choices", getattr(request.state, "plans", []))
            context.setdefault("current_plan", getattr(request.state, "plan", ""))
        context.setdefault("signed_in", None)
        context.setdefault("plan_choices", [])
        context.setdefault("current_plan", "")
        context.setdefault("service_name", self.service_name)
        context.setdefault("contact_email", self.contact_email)
        context.setdefault(
            "navigation",
            [
                {
                    "href": with_plan(item.href, context["current_plan"])
                    if context["plan_choices"]
                    else item.href,
                    "text": item.text,
                    "active": item.href == current,
                }
                for item in self.navigation
                if not item.need or _may(context["signed_in"], item.need, context["current_plan"])
            ]
            if current
            else [],
        )
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status)

    def error(self, page: ErrorPage) -> HTMLResponse:
        return self.render(
            "error.html", page.status, heading=page.heading, paragraphs=page.paragraphs
        )
