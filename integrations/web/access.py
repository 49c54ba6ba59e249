"""Until sign-in is configured, the secretary's pages are for a browser on this computer only.

The reply form is public (leads reach it from their email); the secretary's pages show the whole
plan, names and the review queue, so Chaser serves them only when all of these hold:

* the server is bound to a loopback address (``127.0.0.1``, ``::1``, ``localhost``);
* the request names a loopback host (``Host: 127.0.0.1:8080``), which defeats DNS rebinding;
* the request did not come through a proxy (no ``Forwarded``/``X-Forwarded-*`` header), since a
  proxy on the same machine would otherwise publish them.

Anything else gets a 403 page that says why. Once sign-in is configured (Microsoft, or links
that really are emailed) the pages are served on any address, to signed-in users
(:mod:`integrations.web.signin`).
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from integrations.web.pages import ErrorPage

PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")

LOCAL_ONLY = ErrorPage(
    403,
    "This page is only available on the computer running Chaser",
    "The secretary's pages show the whole plan and the people in it, so Chaser shows them only "
    "to a browser on the same computer, at http://127.0.0.1, until sign-in is configured.",
    "Leads' reply links work from anywhere.",
)


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1`` (with or without brackets)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_of(header: str) -> str:
    """The host of a ``Host`` header value, without its port (IPv6 in brackets kept whole)."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class LocalOnly:
    """A FastAPI dependency that refuses the secretary's pages unless the request is local."""

    def __init__(self, bind_host: str) -> None:
        self.bind_host = bind_host

    def allowed(self, request: Request) -> bool:
        if not is_loopback(self.bind_host):
            return False
        if any(name in request.headers for name in PROXY_HEADERS):
            return False
        return is_loopback(_host_of(request.headers.get("host", "")))

    def __call__(self, request: Request) -> None:
        if not self.allowed(request):
            raise LOCAL_ONLY
