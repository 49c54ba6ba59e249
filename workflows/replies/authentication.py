"""Who vouches for a reply's sender: the receiving mail server's authentication results (pure).

The ``From`` address of an email is whatever its sender typed, so it proves nothing by itself.
What does is the word of the mail server that received the message from the internet: it
checked SPF, DKIM and DMARC and recorded the results in an ``Authentication-Results`` header
(RFC 8601) at the top of the message. Chaser believes such a header only when it comes from a
server it trusts, for the way the message reached it (a :class:`Receiver`):

- **Over SMTP, or a saved file**: a header whose *authserv-id* (its first word, naming the
  server: ``mx.council.gov.uk; spf=pass ...``) is one of ``CHASER_INBOUND_AUTHSERV_IDS``, the
  council's inbound gateway. The SMTP listener takes mail only from the council's relays, so the
  gateway's header is above anything a sender wrote.
- **From Microsoft Graph**: the header Exchange Online stamps on every message it receives. It
  writes it without an authserv-id (``spf=pass (sender IP is ...) smtp.mailfrom=...;
  dkim=pass ...; dmarc=pass action=none header.from=...; compauth=pass reason=100``) and above
  every header the sender wrote; Chaser reads it from the message's ``internetMessageHeaders``.

Only the **topmost** trusted header counts: each server prepends its own (RFC 8601 section 5),
so anything below it, or from another authserv-id, is the sender's own words however it reads.
That header must then say the sender's domain is authenticated *and* aligned with the ``From``
address: ``dmarc=pass`` (or Exchange's ``compauth=pass``) for the From domain, or ``spf=pass``
for a ``smtp.mailfrom`` in it, or ``dkim=pass`` with a ``header.d`` in it. A ``dmarc=fail`` or
``compauth=fail`` from it is a fail whatever else it says. Anything else leaves the reply for
review with the reason (:func:`vouch`). Whether the sender is someone in the people directory,
and may answer for the actions, is :mod:`workflows.replies.trust`'s question.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from workflows.replies.parsing import clean_text

__all__ = [
    "AuthenticationResults",
    "MethodResult",
    "Receiver",
    "Vouching",
    "parse_authentication_results",
    "vouch",
]

#: How the topmost headers are read: at most this many, each cut to this length.
_MAX_HEADERS = 64
_MAX_FIELD = 4_096
EXCHANGE_ONLINE = "Exchange Online"


@dataclass(frozen=True)
class MethodResult:
    """One ``method=result`` of an Authentication-Results header, with its properties
    (``smtp.mailfrom``, ``header.from``, ``header.d``...; Exchange's ``action``, ``reason``)."""

    method: str  # "spf", "dkim", "dmarc", "compauth"... (lower case)
    result: str  # "pass", "fail", "softfail", "none"...
    props: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthenticationResults:
    """One Authentication-Results header, read (RFC 8601 section 2.2)."""

    authserv_id: str  # lower case; "" when the header has none (Exchange Online's)
    results: tuple[MethodResult, ...] = ()
    none: bool = False  # "authserv-id; none": no checks were made


@dataclass(frozen=True)
class Receiver:
    """The way a message reached Chaser, and so whose Authentication-Results count.

    ``authserv_ids``: the servers whose header Chaser believes (lower case). ``exchange_online``:
    the message came from Microsoft Graph, where Exchange Online's own header (it has no
    authserv-id) is believed. ``headers``: the headers as the receiving side holds them (Graph's
    ``internetMessageHeaders``, topmost first), read instead of the message's own.
    """

    authserv_ids: frozenset[str] = frozenset()
    exchange_online: bool = False
    headers: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def smtp(cls, authserv_ids: Iterable[str]) -> Receiver:
        """Mail handed over by the council's relays (or saved to a file): its gateway's header."""
        return cls(authserv_ids=frozenset(i.strip().lower() for i in authserv_ids if i.strip()))

    @classmethod
    def graph(cls, headers: Iterable[tuple[str, str]]) -> Receiver:
        """Mail read from Exchange Online through Graph: Exchange's header, from the headers
        Graph gives for the message."""
        return cls(exchange_online=True, headers=tuple(headers))

    def trusts(self, header: AuthenticationResults) -> bool:
        if not header.authserv_id:
            return self.exchange_online
        return header.authserv_id in self.authserv_ids


@dataclass(frozen=True)
class Vouching:
    """Whether the receiving server authenticated the sender's domain, and why (or why not)."""

    authenticated: bool
    reason: str
    by: str = ""  # the trusted server: an authserv-id, or "Exchange Online"
    domain: str = ""  # the domain it authenticated


def _strip_comments(text: str) -> str:
    """``text`` without its (nested) comments; quoted strings and escapes kept. One pass."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
            if not depth:
                out.append(ch)
        elif ch == "\\":
            escaped = True
            if not depth:
                out.append(ch)
        elif quoted:
            out.append(ch)
            quoted = ch != '"'
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if not depth:
                out.append(" ")
        elif not depth:
            out.append(ch)
            quoted = ch == '"'
    return "".join(out)


def _split(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _tokens(part: str) -> list[str]:
    """``method = result ptype . prop = value`` as ``["method=result", "ptype.prop=value"]``."""
    squeezed: list[str] = []
    for ch in " ".join(part.split()):
        if ch in "=./" and squeezed and squeezed[-1] == " ":
            squeezed.pop()
        if ch == " " and squeezed and squeezed[-1] in "=./":
            continue
        squeezed.append(ch)
    return "".join(squeezed).split()


def parse_authentication_results(value: str) -> AuthenticationResults:
    """Read one Authentication-Results header value (RFC 8601 section 2.2), leniently: comments
    dropped, an authserv-id only when the first part is not already a ``method=result``
    (Exchange Online writes none), bare words between semicolons skipped. Linear; never
    raises."""
    text = _strip_comments(clean_text(value[:_MAX_FIELD]))
    parts = _split(text, ";")
    head = parts[0].strip()
    authserv_id = ""
    if "=" in head:
        rest = parts  # no authserv-id: the header starts with a result
    else:
        words = head.split()
        authserv_id = words[0].strip('"').lower() if words else ""
        rest = parts[1:]
    results: list[MethodResult] = []
    none = False
    for part in rest:
        tokens = _tokens(part)
        if not tokens:
            continue
        if len(tokens) == 1 and tokens[0].lower() == "none":
            none = True
            continue
        method, sep, result = tokens[0].partition("=")
        if not sep or not method:
            continue  # a bare word (Exchange sometimes puts a domain between results)
        props: dict[str, str] = {}
        for token in tokens[1:]:
            name, sep, prop = token.partition("=")
            if sep and name:
                props.setdefault(name.lower(), prop.strip('"'))
        results.append(MethodResult(method.split("/")[0].lower(), result.strip('"').lower(), props))
    return AuthenticationResults(authserv_id, tuple(results), none)


def _domain(value: str) -> str:
    """The domain of ``user@domain``, ``@domain`` or ``domain`` (lower case)."""
    return value.rsplit("@", 1)[-1].strip().strip(".").lower()


def aligned(from_domain: str, authenticated: str) -> bool:
    """The authenticated domain is the From address's domain or one of its subdomains."""
    if not from_domain or not authenticated:
        return False
    return authenticated == from_domain or authenticated.endswith("." + from_domain)


def _summary(results: Sequence[MethodResult]) -> str:
    listed = dict.fromkeys(f"{r.method}={r.result}" for r in results)
    return ", ".join(listed) or "no results"


def vouch(
    receiver: Receiver,
    *,
    message_headers: Sequence[str],
    sender_email: str,
    from_count: int = 1,
) -> Vouching:
    """Whether the receiving server Chaser trusts authenticated the sender of a message.

    ``message_headers`` are the message's own Authentication-Results values, topmost first
    (read unless ``receiver`` holds the headers itself); ``sender_email`` its From address,
    ``from_count`` how many addresses its From header(s) give. See the module docstring.
    """
    if receiver.headers is not None:
        values = [v for n, v in receiver.headers if n.strip().lower() == "authentication-results"]
    else:
        values = list(message_headers)
    chosen: AuthenticationResults | None = None
    others: list[str] = []
    for value in values[:_MAX_HEADERS]:
        header = parse_authentication_results(value)
        if receiver.trusts(header):
            chosen = header
            break
        others.append(header.authserv_id)
    if chosen is None:
        return Vouching(False, _no_trusted_header(receiver, others))
    by = chosen.authserv_id or EXCHANGE_ONLINE
    if from_count > 1:
        return Vouching(False, "the From header gives more than one address", by)
    from_domain = _domain(sender_email) if "@" in sender_email else ""
    if not from_domain:
        return Vouching(False, "the message has no From address to authenticate", by)
    if chosen.none or not chosen.results:
        return Vouching(False, f"the receiving server ({by}) made no authentication checks", by)
    for r in chosen.results:
        if r.method in ("dmarc", "compauth") and r.result == "fail":
            return Vouching(
                False,
                f"the receiving server ({by}) found the sender's domain failing authentication "
                f"({r.method}=fail): it may not be from who it says",
                by,
            )
    header_from = next(
        (_domain(r.props["header.from"]) for r in chosen.results if "header.from" in r.props), ""
    )
    passed: list[tuple[str, str]] = []  # (method, domain) that passed
    for r in chosen.results:
        if r.result != "pass":
            continue
        if r.method in ("dmarc", "compauth"):
            passed.append((r.method, header_from or from_domain))
        elif r.method == "spf":
            mailfrom = r.props.get("smtp.mailfrom") or r.props.get("smtp.helo", "")
            passed.append(("spf", _domain(mailfrom)))
        elif r.method == "dkim":
            passed.append(("dkim", _domain(r.props.get("header.d") or r.props.get("header.i", ""))))
    for method, domain in passed:
        if aligned(from_domain, domain):
            return Vouching(
                True,
                f"the receiving server ({by}) authenticated {domain} ({method}=pass)",
                by,
                domain,
            )
    others_passed = [d for _, d in passed if d]
    if others_passed:
        return Vouching(
            False,
            f"the receiving server ({by}) authenticated {others_passed[0]}, not {from_domain}, "
            "the From address's domain",
            by,
        )
    return Vouching(
        False,
        f"the sender's domain was not authenticated by the receiving server "
        f"({_summary(chosen.results)})",
        by,
    )


def _no_trusted_header(receiver: Receiver, others: Sequence[str]) -> str:
    if not receiver.exchange_online and not receiver.authserv_ids:
        return (
            "no mail server Chaser trusts vouched for the sender: none is configured "
            "(CHASER_INBOUND_AUTHSERV_IDS), and the From address alone proves nothing"
        )
    if others:
        who = others[0]
        if not who:
            return (
                "Authentication-Results with no authserv-id, not from a trusted server (the "
                "sender's own words)"
            )
        return f"Authentication-Results from {who}, not a trusted server"
    trusted = sorted(receiver.authserv_ids) + (
        [EXCHANGE_ONLINE] if receiver.exchange_online else []
    )
    return (
        f"no Authentication-Results from {' or '.join(trusted)}: the receiving server did not "
        "vouch for the sender"
    )
