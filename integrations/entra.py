"""Signing staff in with Microsoft Entra ID: OpenID Connect's authorisation-code flow with PKCE.

msal's ``ConfidentialClientApplication`` runs the flow: :meth:`EntraSignIn.begin` makes the
state, the nonce and the PKCE verifier and the address to send the browser to;
:meth:`EntraSignIn.finish` checks the state that comes back and redeems the code (with the
verifier and the client secret) for the ID token. msal no longer validates ID tokens (since
1.38), so :meth:`finish` does, as OpenID Connect Core §3.1.3.7 says: the RS256 signature
against the provider's published keys (JWKS, found through its discovery document), the issuer,
the audience (our client id), the expiry, not-before and issue time, and the nonce.

Single-tenant (``tenant`` is the council's tenant id) or multi-tenant (``organizations``, with
``allowed_tenants`` naming the partners' tenants): the token's ``tid`` must be one of them and
its issuer the discovery document's, with ``{tenantid}`` filled in.

Every refusal raises :class:`SignInRefused` with a reason for the audit log and words for the
page; no token or secret is ever in either.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
import structlog

from integrations.http import DEFAULT_TIMEOUT, TimeoutSession

log = structlog.get_logger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
MULTI_TENANT = ("organizations", "common")
#: Clock differences tolerated between us and Entra ID.
LEEWAY = 120


@dataclass(frozen=True)
class Identity:
    """Who Entra ID says signed in."""

    oid: str  # the user's object id in their tenant
    tid: str  # their tenant
    email: str  # preferred_username or email, lower-case
    name: str


class SignInRefused(Exception):
    """The sign-in cannot be accepted. ``reason`` is for the audit log, ``words`` for people."""

    def __init__(self, reason: str, words: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.words = words or "Microsoft did not confirm who you are, so you are not signed in."


class EntraSignIn:
    """One app registration's sign-in. Construction makes no network call."""

    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        client_secret: str,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        allowed_tenants: Sequence[str] = (),
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        for label, value in (
            ("tenant", tenant),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ):
            if not value:
                raise ValueError(f"EntraSignIn needs {label}")
        self.tenant = tenant
        self.client_id = client_id
        self.authority = f"{authority_host.rstrip('/')}/{tenant}"
        self.multi_tenant = tenant.lower() in MULTI_TENANT
        self.allowed_tenants = {t.lower() for t in allowed_tenants}
        self._secret = client_secret
        self._http = TimeoutSession(timeout)
        self._overridden = authority_host.rstrip("/") != DEFAULT_AUTHORITY_HOST
        self._app: Any = None
        self._config: dict[str, Any] | None = None
        self._keys: dict[str, Any] = {}
        self._keys_fetched = 0.0

    def __repr__(self) -> str:
        return f"EntraSignIn(authority={self.authority!r}, client_id={self.client_id!r})"

    # -- the two halves of the flow -----------------------------------------------------------

    def begin(self, redirect_uri: str, *, login_hint: str = "") -> dict[str, Any]:
        """msal's flow: ``auth_uri`` is where to send the browser; keep the whole dict (it holds
        the state, the nonce and the PKCE verifier) on the server until the browser is back.

        The code comes back in the query string, not by ``form_post`` as msal suggests: a
        cross-site POST would not carry the ``SameSite=Lax`` cookie that ties the sign-in to
        the browser that started it. A code seen in the address is useless without the PKCE
        verifier, which never leaves the server, and the callback redirects at once.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
            flow: dict[str, Any] = self._msal().initiate_auth_code_flow(
                scopes=[],
                redirect_uri=redirect_uri,
                prompt="select_account",
                login_hint=login_hint or None,
                response_mode="query",
            )
        return flow

    def finish(self, flow: Mapping[str, Any], query: Mapping[str, str]) -> Identity:
        """The signed-in identity, from the query the browser came back with; or
        :class:`SignInRefused`."""
        if "error" in query:
            raise SignInRefused(
                f"entra:{query.get('error', '')[:60]}",
                "Microsoft sign-in did not complete"
                + (": you cancelled it." if query.get("error") == "access_denied" else "."),
            )
        try:
            result = self._msal().acquire_token_by_auth_code_flow(dict(flow), dict(query))
        except ValueError:  # state missing or not the one we sent: forged, replayed or stale
            raise SignInRefused("state", "This sign-in did not start here, or was used.") from None
        except RuntimeError:  # msal's own check of the nonce in the ID token
            raise SignInRefused("nonce") from None
        except requests.RequestException as exc:
            raise SignInRefused(f"unreachable:{type(exc).__name__}", _TRY_AGAIN) from None
        if "error" in result:
            error = str(result.get("error") or "")[:60]
            raise SignInRefused(f"token:{error}")
        id_token = result.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("no_id_token")
        claims = self.verify(id_token, nonce=str(flow.get("nonce") or ""))
        email = str(claims.get("preferred_username") or claims.get("email") or "").lower()
        if not email:
            raise SignInRefused("no_email", "Microsoft did not say which account you used.")
        return Identity(
            oid=str(claims.get("oid") or claims["sub"]),
            tid=str(claims.get("tid") or ""),
            email=email,
            name=str(claims.get("name") or ""),
        )

    def verify(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, times and nonce hold."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise SignInRefused("malformed") from None
        if header.get("alg") != "RS256":
            raise SignInRefused("algorithm")
        key = self._key(str(header.get("kid") or ""))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=["RS256"],
                audience=self.client_id,
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise SignInRefused("expired", "The sign-in took too long. Please try again.") from None
        except jwt.InvalidAudienceError:
            raise SignInRefused("audience") from None
        except jwt.ImmatureSignatureError:
            raise SignInRefused("not_yet_valid") from None
        except jwt.InvalidSignatureError:
            raise SignInRefused("signature") from None
        except jwt.PyJWTError as exc:
            raise SignInRefused(f"invalid:{type(exc).__name__}") from None
        tid = str(claims.get("tid") or "").lower()
        issuer = str(self.configuration().get("issuer") or "").replace("{tenantid}", tid)
        if not issuer or claims.get("iss") != issuer:
            raise SignInRefused("issuer")
        if self.multi_tenant:
            if self.allowed_tenants and tid not in self.allowed_tenants:
                raise SignInRefused(
                    "tenant", "Your organisation's accounts cannot sign in to this Chaser."
                )
        elif tid and tid != self.tenant.lower():
            raise SignInRefused("tenant", "Your organisation's accounts cannot sign in here.")
        expected = hashlib.sha256(nonce.encode("ascii")).hexdigest() if nonce else ""
        if not expected or claims.get("nonce") != expected:
            raise SignInRefused("nonce")
        return claims

    def logout_url(self, return_to: str) -> str | None:
        """Where to send the browser to end the Microsoft session too (None if unknown)."""
        try:
            end = self.configuration().get("end_session_endpoint")
        except SignInRefused:
            return None
        if not end:
            return None
        return f"{end}?{urlencode({'post_logout_redirect_uri': return_to})}"

    def close(self) -> None:
        self._http.close()

    # -- the provider's published configuration -------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self._get_json(
                f"{self.authority}/v2.0/.well-known/openid-configuration", "discovery"
            )
        return self._config

    def _key(self, kid: str) -> Any:
        """The signing key ``kid`` from the provider's JWKS (fetched again, at most once a
        minute, when a token names a key we do not have: keys roll over)."""
        if kid not in self._keys and time.monotonic() - self._keys_fetched > 60:
            uri = str(self.configuration().get("jwks_uri") or "")
            if not uri:
                raise SignInRefused("no_jwks")
            jwks = self._get_json(uri, "jwks")
            self._keys_fetched = time.monotonic()
            try:
                found = jwt.PyJWKSet.from_dict(jwks)
            except jwt.PyJWTError:
                raise SignInRefused("bad_jwks") from None
            self._keys = {k.key_id: k.key for k in found.keys if k.key_id}
        if kid not in self._keys:
            raise SignInRefused("unknown_key")
        return self._keys[kid]

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError):
            raise SignInRefused(f"unreachable:{what}", _TRY_AGAIN) from None
        if not isinstance(data, dict):
            raise SignInRefused(f"unreachable:{what}", _TRY_AGAIN)
        return data

    def _msal(self) -> Any:
        if self._app is None:
            from msal import ConfidentialClientApplication  # heavy: only when signing in

            self._app = ConfidentialClientApplication(
                client_id=self.client_id,
                client_credential=self._secret,
                authority=self.authority,
                http_client=self._http,
                instance_discovery=False if self._overridden else None,
            )
        return self._app


_TRY_AGAIN = "Chaser could not reach Microsoft to sign you in. Please try again in a minute."
