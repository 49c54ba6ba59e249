"""A local OpenID Connect provider in Entra ID's shapes, over real TLS, for signing staff in.

It speaks the protocol the real msal code drives: the discovery document
(``/{tenant}/v2.0/.well-known/openid-configuration``), the authorisation endpoint (which "signs
in" whichever user the test chose and redirects back with a code), the token endpoint (checking
the client's secret, the redirect URI and the PKCE verifier, and spending each code once), the
JWKS with the RSA key its RS256 ID tokens are signed with, and the logout endpoint. It also
answers ``organizations``, whose issuer carries ``{tenantid}`` as Entra's does.

:attr:`FakeEntra.next_token` makes the next ID token bad in one chosen way (signed with another
key, expired, for another audience, from another issuer, another tenant, a wrong nonce), so the
tests can show each is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fake_graph import _test_ca

TENANT = "2f7e6c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
PARTNER_TENANT = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
CLIENT_ID = "c0ffee00-1234-4abc-9def-00000000c0de"
CLIENT_SECRET = "signin~Secret.Value_NeverLogged_7"


@dataclass(frozen=True)
class Account:
    email: str
    name: str
    oid: str
    tid: str = TENANT


@dataclass
class _Code:
    account: Account
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str
    tenant: str


@dataclass
class FakeEntra:
    """State and scripting of the fake. ``url`` is ``https://127.0.0.1:PORT``."""

    ca_path: Path
    url: str = ""
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    tenant: str = TENANT
    #: Who the next sign-in is (the person at the browser, as it were).
    account: Account = field(
        default_factory=lambda: Account(
            "morwenna.tregear@example.org", "Morwenna Tregear", "oid-mt"
        )
    )
    #: Make the next ID token bad: "forged", "expired", "audience", "issuer", "tenant", "nonce".
    next_token: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens_issued: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _test_ca().issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FakeEntra:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what the endpoints hand out ---------------------------------------------------------

    def issuer(self, tenant: str) -> str:
        return f"{self.url}/{tenant}/v2.0"

    def discovery(self, tenant: str) -> dict[str, Any]:
        base = f"{self.url}/{tenant}"
        issuer = self.issuer("{tenantid}" if tenant in ("organizations", "common") else tenant)
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, code: _Code) -> str:
        bad, self.next_token = self.next_token, ""
        account = code.account
        tid = PARTNER_TENANT if bad == "tenant" else account.tid
        now = int(time.time())
        claims = {
            "iss": "https://login.example.net/other/v2.0" if bad == "issuer" else self.issuer(tid),
            "aud": "another-app" if bad == "audience" else code.client_id,
            "sub": f"sub-{account.oid}",
            "oid": account.oid,
            "tid": tid,
            "preferred_username": account.email,
            "name": account.name,
            "nonce": "not-the-nonce" if bad == "nonce" else code.nonce,
            "iat": now - (7200 if bad == "expired" else 0),
            "nbf": now - (7200 if bad == "expired" else 0),
            "exp": now + (-3600 if bad == "expired" else 3600),
            "ver": "2.0",
        }
        key = self._other_key if bad == "forged" else self._key
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
        self.tokens_issued.append(token)
        return token


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _handler(fake: FakeEntra) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.requests.append(("GET", parts.path))
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            tenant, _, rest = parts.path.strip("/").partition("/")
            if rest == "v2.0/.well-known/openid-configuration":
                return self._json(200, fake.discovery(tenant))
            if rest == "discovery/v2.0/keys":
                return self._json(200, fake.jwks())
            if rest == "oauth2/v2.0/authorize":
                return self._authorize(tenant, query)
            if rest == "oauth2/v2.0/logout":
                target = query.get("post_logout_redirect_uri", "")
                return self._redirect(target) if target else self._json(200, {})
            self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            fake.requests.append(("POST", parts.path))
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            tenant, _, rest = parts.path.strip("/").partition("/")
            if rest == "oauth2/v2.0/token":
                return self._token(tenant, form)
            self._json(404, {"error": "not_found"})

        def _authorize(self, tenant: str, query: dict[str, str]) -> None:
            if query.get("client_id") != fake.client_id:
                return self._json(400, {"error": "unauthorized_client"})
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                return self._json(400, {"error": "invalid_request", "error_description": "PKCE"})
            code = secrets.token_urlsafe(24)
            with fake._lock:
                fake._codes[code] = _Code(
                    account=fake.account,
                    client_id=query["client_id"],
                    redirect_uri=query.get("redirect_uri", ""),
                    nonce=query.get("nonce", ""),
                    challenge=query["code_challenge"],
                    tenant=tenant,
                )
            back = {"code": code, "state": query.get("state", ""), "session_state": "s"}
            self._redirect(f"{query.get('redirect_uri', '')}?{urlencode(back)}")

        def _token(self, tenant: str, form: dict[str, str]) -> None:
            if form.get("grant_type") != "authorization_code":
                return self._json(400, {"error": "unsupported_grant_type"})
            if (form.get("client_id"), form.get("client_secret")) != (
                fake.client_id,
                fake.client_secret,
            ):
                return self._json(401, {"error": "invalid_client", "error_codes": [7000215]})
            with fake._lock:
                code = fake._codes.pop(form.get("code", ""), None)  # spent, whatever comes next
            if code is None:
                return self._json(400, {"error": "invalid_grant", "error_codes": [54005]})
            verifier = form.get("code_verifier", "")
            challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
            if challenge != code.challenge or form.get("redirect_uri") != code.redirect_uri:
                return self._json(400, {"error": "invalid_grant", "error_codes": [501481]})
            client_info = _b64url(
                json.dumps({"uid": code.account.oid, "utid": code.account.tid}).encode()
            )
            self._json(
                200,
                {
                    "token_type": "Bearer",
                    "scope": "openid profile email",
                    "expires_in": 3600,
                    "access_token": secrets.token_urlsafe(32),
                    "id_token": fake.id_token(code),
                    "client_info": client_info,
                },
            )

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture(name="fake_entra")
def fake_entra_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEntra]:
    """A running fake Entra ID on 127.0.0.1 over TLS, trusted by requests (and so msal)."""
    ca_path = tmp_path / "fake-entra-ca.pem"
    _test_ca().cert_pem.write_to_path(str(ca_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeEntra(ca_path=ca_path).start()
    try:
        yield fake
    finally:
        fake.stop()
