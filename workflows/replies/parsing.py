"""Reading a lead's emailed reply to a chase: who sent it, what it answers and what it says.

:func:`parse_reply` takes the raw message (RFC 5322 bytes, as fetched from the mailbox) and returns
a :class:`ParsedReply`. It is pure: no files, network, database or clock. Deciding whether to trust
a reply, and storing it, is done elsewhere (``chaser replies ingest``); this module only reads.

What a reply can look like
==========================

**Matching a reply to its request.** The reference ``CHS-`` + 10 letters/digits (as in the subject
"Re: Update needed ... [ref CHS-4K7QX2M9PA]") is looked for in the subject, then the
``X-Chaser-Reference`` header, then the new text, then the quoted text. ``In-Reply-To`` and
``References`` are returned as written (message ids in angle brackets, like Chaser's own
``<32 hex digits@domain>``). A reply with neither a reference nor those headers gets a problem.

**The new text only.** Text/plain is preferred; an HTML-only message is turned into text (line
breaks kept for ``<br>``, ``<p>``, ``<div>``, ``<li>`` and table rows; ``<style>``/``<script>``
dropped). In HTML, everything from the first quoted-history marker on is dropped: Outlook's
``<div id="appendonsend">`` / ``<div id="divRplyFwdMsg">``, Gmail's ``class="gmail_quote"``,
Apple Mail's ``<blockquote type="cite">``, Thunderbird's ``class="moz-cite-prefix"``; signature
blocks (``id="Signature"``, ``class="gmail_signature"``) are skipped. Quoted history is then cut
at the first of these lines, whichever comes first: ``-----Original Message-----``; a row of
underscores (Outlook); a ``From:`` line followed within a few lines by ``Sent:`` or ``Date:``, or
two header lines (``From:``, ``Sent:``, ``To:``, ``Subject:``, ``Date:``, ``Cc:``) one after the
other; ``On <date> ... wrote:`` (over up to three lines), ``On ... wrote:`` (up to two);
``---------- Forwarded message ---------``; ``Begin forwarded message:``; ``Sent from my iPhone``
(and ``Get Outlook for ...``); ``-- `` (a signature). (These cover what mail-parser-reply's
English patterns found, bounded: its own are not linear.) Lines starting with ``>`` are dropped. A
sign-off line ("Kind regards", "Many thanks", "Best wishes", "Thanks," ...) ends the text when
only a few lines (a name, a job title) follow it and none of them starts with an action number.

**One answer per action.** A line starting with an action number starts that action's answer, up
to the next such line: ``2.5: amber - recruitment under way``, ``2.5 - ...``, ``2.5 is ...``,
``Action 2.5: ...``, ``Re 2.5 ...``, ``P7-01: ...``, ``- 2.5 ...`` (a bullet), and
``2.5 and 2.6: complete`` (the same answer for both). When the caller says which actions were
asked about (``known_refs``), any other number is reported as a problem; the answer is kept. A
ref the caller knows also starts an answer anywhere in a line ("on action 2.8 we are now on
track", "7.9: complete, 7.11: complete"). Failing a ref, a line naming an action's title or a
distinctive phrase of it (``titles``; rapidfuzz, ``match="title"`` with the ``score``) starts
that action's answer. With no action named: answers written under the request's quoted lines
(``>``) are that action's (``match="inline"``); one line with a status per action asked about
(``asked``) are theirs in that order (``match="order"``); otherwise one answer with
``ref=None`` (``all_actions`` when it says "all"/"both"), which the trust rules give to the one
action asked about, to all of them for "all", and to review otherwise. "The others are
unchanged" (or "no change on the other one") gives each action asked about and not answered an
``unchanged`` answer; ``2.5: no change`` does that for one. "Thanks, will reply next week"
(nothing else read) makes the reply ``acknowledged``, with no answers. Disclaimers (NHSmail,
council) are cut like signatures. Each answer's narrative is the lead's words without the status
word it starts or ends with, and without its links, which are its ``evidence``. When actions are
named, a status written before the first of them is not applied to any; it is reported as a
problem.

**Status words.** The plan's own scale comes first: each value's name and label (whole words, any
case: "Amber", "blue", "Progressing to timescale"), and its short aliases ("A", "G") only as the
first word of an answer (``2.5: A - ...``). Then this vocabulary:

============  ==============================================================================
complete      complete, completed, done, finished, achieved; "complete and embedded" (embedded)
on_track      on track, on target, on schedule, progressing, going well, green
at_risk       on track (but/with) some concerns, at risk, some concerns, risk of slipping, amber
off_track     off track, slipped, slipping, delayed, stalled, overdue, behind schedule, running
              late, no progress, red; and "not on track" / "no longer on track"
not_due       not started, not yet started, not due, not yet due
============  ==============================================================================

A colour the plan's scale defines means what the plan says: with Plymouth's scale "amber" is
on_track ("Progressing to timescale"), not at_risk. Words read from the vocabulary get the plan's
value as ``label`` when exactly one value has that meaning (for complete, the one that is not
"embedded"). A negated status ("not yet complete", "isn't delayed", "not amber") is not read, except
"not on track", which reads as off_track. "Will complete by", "to be completed", "complete by
March" are deadlines, not statuses. "done", "finished" and "achieved" only count as the first word
of an answer or after "is/are/now/all/been". Status words about people or things in the work
are not the action's status: "pupils at risk of exclusion", "children at risk", "delayed
speech", "red flags"; nor "complete" after "the audit/survey/training ... was". Two different
statuses for one action (say "amber" and "red") give no status and a problem naming both.

**Revised dates.** A date is only read as a new forecast in a sentence that says so: "now
(expected/due/...)", "expected", "forecast", "revised", "new date", "moving/moved/pushed to",
"slipped to", "delayed until", "deferred", "postponed", "will be complete(d) by", "complete by",
"done by", "ready by", "due to complete", "aiming for", "by the end of", "w/c". Dates are
resolved against the reply's Date header in Europe/London (or ``today`` when it has none) and keep
their precision. A date right after words for an event inside the work ("meets on", "met",
"training starts", "updated in", "signed", "held", "launched", "since", ...) is not a revised
date, unless the event itself moved ("the training is now booked for w/c 14 April"). Dates are
read in these forms:

* a day: ``31/03/2026``, ``31.03.2026``, ``14 April``, ``14th of April 2026``, ``April 14``,
  ``Monday 6 October``, ``06/10`` (no year: the next such day on or after the reply's date);
* the week commencing: ``w/c 14 April``, ``w/b 13/04``, ``week commencing 14 April``: that Monday
  (a day that is not a Monday is moved back to its Monday, with a problem);
* ``next week`` / ``this week``: the Friday of that week; ``in two weeks``, ``in 10 days``, ``in a
  fortnight``: that day; ``on Friday``: the next Friday;
* a month: ``March 2026``, ``end of March 2026``, ``by March 2026``, ``end of March`` (the next
  March), ``end of next month``, ``next month``, ``end of this month``, ``in 3 months``;
* a quarter ``Q1 2026`` (calendar) or ``Q1 2026/27`` (financial) and a school term ``Spring term``
  (March), ``Summer term`` (July), ``Autumn term`` (December), with or without a year, read as
  :func:`workflows.plan.dates.parse_date_cell` reads them.

Two different revised dates for one action give no forecast and a problem.

**Out-of-office and other automatic replies** (``auto_reply=True``, no updates). Any of:
``Auto-Submitted`` with a value other than ``no`` (RFC 3834); ``X-Autoreply`` or
``X-Autorespond``; ``Precedence: auto_reply``; a delivery report (``multipart/report``); a subject
starting "Automatic reply:", "Auto:", "Autoreply", "Out of Office", "OOO", or containing "out of
(the) office" or "automatic reply". ``X-Auto-Response-Suppress`` alone is *not* enough: Exchange
and some clients put it on ordinary mail; it counts together with an out-of-office sentence in
the text ("I am out of the office", "on annual leave", "limited access to email"). An
out-of-office sentence alone is not enough either: a lead may write "I'm on leave next week, but
2.5 is on track". ``away_until`` is the return date the message gives: a date after "returning",
"return", "back" or "in the office" (the day they are back); failing that, after "until"/"till"
(the date as written). Dates without a year are the next such date after the reply's Date.

**Who vouches for the sender** is not read here: ``authentication_results`` keeps the message's
``Authentication-Results`` headers as they stand, topmost first, and ``from_count`` how many
addresses its From header(s) give, for :mod:`workflows.replies.authentication` to judge.
``authentication_failed`` (true when any ``Authentication-Results``,
``ARC-Authentication-Results`` or ``Received-SPF`` header says ``dmarc=fail``, ``dkim=fail``,
``spf=fail``, ``compauth=fail``, whoever wrote it) is kept as a record only.

**Other checks.** Bodies in quoted-printable or base64, in UTF-8, Windows-1252 or another
charset, and RFC 2047 encoded subjects and names are decoded. Every string read is cleaned
(:func:`clean_text`: no NUL or other control characters, no undecodable bytes).

**Bounded and linear.** Reading takes time in proportion to the message: headers are read raw and
each cut to a bounded length before it is decoded (the email package's structured header parser
is slow on long values, and recursion-deep on nested comments), the MIME structure is parsed with
the compat32 policy (linear) with the MIME headers the package parses cut to 1,024 characters, no
step compares each part of the text with each other, and every pattern is bounded.
:func:`message_over_limits` says when a message is too big to read at all
(:data:`MAX_MESSAGE_BYTES`, :data:`MAX_HEADER_BYTES`, :data:`MAX_MULTIPARTS`,
:data:`MAX_BOUNDARY_LINES`); only the first 2 MB are parsed (the rest is attachments); text beyond
:data:`MAX_TEXT_CHARS` is not read, and ``limits`` says so. A message that cannot be read still
gives a :class:`ParsedReply`, with a problem saying why; :func:`parse_reply` never raises for
bad input. Every problem of every action is also listed in ``ParsedReply.problems``.
"""

from __future__ import annotations

import contextlib
import email
import email.header
import email.utils
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email._policybase import Compat32
from email.message import Message
from html.parser import HTMLParser
from typing import Any

from workflows.calendar.cycles import LONDON
from workflows.plan.dates import FuzzyDate, parse_date_cell
from workflows.plan.mapping import ScaleValue, StatusScale

__all__ = [
    "MAX_BOUNDARY_LINES",
    "MAX_HEADER_BYTES",
    "MAX_HTML_CHARS",
    "MAX_MESSAGE_BYTES",
    "MAX_MULTIPARTS",
    "MAX_TEXT_CHARS",
    "ActionReply",
    "ParsedReply",
    "StatusReading",
    "clean_text",
    "html_to_text",
    "message_over_limits",
    "new_text",
    "parse_reply",
    "read_dates",
    "read_status",
]

_Day = date  # ParsedReply has a field called ``date``


@dataclass(frozen=True)
class StatusReading:
    """A status read from a lead's words."""

    meaning: str  # "complete" | "on_track" | "at_risk" | "off_track" | "not_due"
    label: str  # the plan's own value when the words map to the scale ("Amber"), else ""
    words: str  # as written ("on track some concerns")
    embedded: bool = False


@dataclass(frozen=True)
class ActionReply:
    """What a reply says about one action (``ref``), or about all of them (``ref=None``)."""

    ref: str | None
    status: StatusReading | None
    narrative: str
    forecast: FuzzyDate | None
    forecast_words: str
    problems: tuple[str, ...]
    #: How the action was found: "ref" (its number), "title" (its title or a distinctive
    #: phrase of it, ``score`` 0-100), "order" (the answers' order under the request), "inline"
    #: (written under the request's quoted line for it), "others" ("the others are
    #: unchanged"), "" (no action named).
    match: str = "ref"
    score: int | None = None
    #: Links given as evidence, out of the narrative.
    evidence: tuple[str, ...] = ()
    #: The lead says nothing changed ("no change", "the others are unchanged").
    unchanged: bool = False
    #: An answer naming no action says it is for all of them ("All on track").
    all_actions: bool = False


@dataclass(frozen=True)
class ParsedReply:
    """One emailed reply, read. See the module docstring."""

    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    sender_name: str
    sender_email: str
    reply_to: str
    subject: str
    date: datetime | None
    reference: str | None
    chaser_key: str | None
    auto_reply: bool
    away_until: _Day | None
    forwarded: bool
    body: str
    updates: tuple[ActionReply, ...]
    authentication_failed: bool
    problems: tuple[str, ...]
    #: The ``Authentication-Results`` headers as they stand in the message, topmost first (the
    #: first :data:`_MAX_AUTH_HEADERS`): whose word each is, :mod:`workflows.replies.trust` decides.
    authentication_results: tuple[str, ...] = ()
    #: How many addresses the ``From`` header(s) give (more than one: nobody to trust).
    from_count: int = 0
    #: The limits this message went over (its text was cut): a reason to review it.
    limits: tuple[str, ...] = ()
    #: Only an acknowledgement ("thanks, will reply next week"): no update, nothing to review.
    acknowledged: bool = False
    #: When the receiving server took it (the topmost ``Received`` header's date), if given.
    received: datetime | None = None


# ---------------------------------------------------------------------------------------------
# Limits, and text safe to store

#: A message larger than this is not read (the SMTP listener refuses it; from Graph it is kept
#: as it arrived, for review).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
#: The header section of a message (the top one) is read up to this size; a larger one is not.
MAX_HEADER_BYTES = 256 * 1024
#: More MIME boundary lines than this and the message is not read (each part costs time).
MAX_BOUNDARY_LINES = 2_000
#: More multipart declarations than this and the message is not read: the email package's parser
#: checks every line against every open multipart, so nesting multiplies its time.
MAX_MULTIPARTS = 16
#: Of the text of a message (its plain-text part, or its HTML turned into text) this much is
#: read; a reply longer than that goes to review, the limit named.
MAX_TEXT_CHARS = 200_000
#: Of an HTML-only message this much HTML is turned into text.
MAX_HTML_CHARS = 1_000_000
#: Only the start of a big message is parsed: its text comes first, the rest is attachments.
_MAX_PARSE_BYTES = 2 * 1024 * 1024
#: Each header Chaser reads is cut to this many characters before it is decoded.
_MAX_FIELD = 16_384
#: ``References`` (thousands of message ids in a long thread) is read up to this many characters.
_MAX_REFERENCES_FIELD = MAX_HEADER_BYTES
#: The MIME headers the email package parses itself (``Content-Type`` and the like) are cut to
#: this many characters first: its parameter parser is quadratic in their length.
_MAX_PARSED_FIELD = 1_024
#: Only the topmost ``Authentication-Results`` headers are kept (the receiving server's is the
#: topmost: RFC 8601 section 5 has each server prepend its own).
_MAX_AUTH_HEADERS = 64
_MAX_AUTH_FIELD = 4_096

#: C0 controls but tab, line feed and carriage return; DEL; C1 controls. NUL among them:
#: PostgreSQL refuses it in text.
_CONTROLS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127, *range(0x80, 0xA0)])


def clean_text(text: str) -> str:
    """``text`` safe to store and show: no NUL or other control characters (tabs and line
    breaks stay), and no lone surrogates (bytes that were not UTF-8 become U+FFFD)."""
    if not text.isascii():
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text.translate(_CONTROLS)


def _header_section_size(raw: bytes) -> int:
    """How long the top header section is (up to just past :data:`MAX_HEADER_BYTES`)."""
    window = raw[: MAX_HEADER_BYTES + 4]
    ends = [i for i in (window.find(b"\n\n"), window.find(b"\n\r\n")) if i >= 0]
    return min(ends) if ends else len(window)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def message_over_limits(raw: bytes) -> str | None:
    """Why ``raw`` is too big to read, naming the limit, or None. Linear and cheap: called before
    anything parses it."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return f"the message is {_size(len(raw))}, over the {_size(MAX_MESSAGE_BYTES)} Chaser reads"
    header = _header_section_size(raw)
    if header > MAX_HEADER_BYTES:
        return (
            f"its header section is over {_size(MAX_HEADER_BYTES)}, the most Chaser reads "
            "(MAX_HEADER_BYTES)"
        )
    window = raw[:_MAX_PARSE_BYTES].lower()
    multiparts = window.count(b"multipart/")
    if multiparts > MAX_MULTIPARTS:
        return f"it declares {multiparts:,} multipart parts, over the {MAX_MULTIPARTS} Chaser reads"
    boundaries = window.count(b"\n--")
    if boundaries > MAX_BOUNDARY_LINES and multiparts:
        return (
            f"it has {boundaries:,} MIME boundary lines, over the {MAX_BOUNDARY_LINES:,} Chaser "
            "reads"
        )
    return None


class _BoundedCompat32(Compat32):
    """The compat32 policy (whose MIME header parsing is linear), with every header the email
    package parses itself cut to :data:`_MAX_PARSED_FIELD` characters first."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if isinstance(value, str) and len(value) > _MAX_PARSED_FIELD:
            value = value[:_MAX_PARSED_FIELD]
        return super().header_fetch_parse(name, value)


_POLICY = _BoundedCompat32()
# ---------------------------------------------------------------------------------------------
# Headers


_REFERENCE = re.compile(r"(?<![A-Za-z0-9])CHS-[A-Z2-7]{10}(?![A-Za-z0-9])", re.IGNORECASE)
_MSG_ID = re.compile(r"<[^<>\s]+>")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


class _Headers:
    """A message's headers, indexed once, read raw (the email package's structured header parser
    is slow on long values) and decoded here, each cut to a bounded length first."""

    def __init__(self, msg: Message) -> None:
        self.index: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.index.setdefault(str(name).strip().lower(), []).append(
                value if isinstance(value, str) else str(value)
            )

    def raw(self, name: str, limit: int = _MAX_FIELD) -> list[str]:
        """Each value, unfolded and cleaned but not decoded, cut to ``limit`` characters."""
        return [clean_text(_FOLD.sub("", v[:limit])) for v in self.index.get(name.lower(), [])]

    def all(self, name: str) -> list[str]:
        """Each value decoded (RFC 2047 encoded words), whitespace squashed."""
        return [_decode_words(v) for v in self.raw(name)]

    def first(self, name: str) -> str:
        """The first value, decoded ("" when missing)."""
        values = self.index.get(name.lower())
        return _decode_words(self.raw(name)[0]) if values else ""


def _decode_words(text: str) -> str:
    if "=?" in text:
        with contextlib.suppress(Exception):
            text = clean_text(str(email.header.make_header(email.header.decode_header(text))))
    return " ".join(text.split())


def _strip_comments(text: str) -> tuple[str, str]:
    """``text`` without its (nested) comments, and the first comment's words; quoted strings
    and backslash escapes respected. One pass."""
    out: list[str] = []
    comment: list[str] = []
    first = ""
    depth = 0
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            (comment if depth else out).append(ch)
            escaped = False
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
            if not depth and not first:
                first = "".join(comment).strip()
            if not depth:
                comment.clear()
                out.append(" ")
        elif depth:
            comment.append(ch)
        else:
            out.append(ch)
            quoted = ch == '"'
    return "".join(out), first


def _split_outside_quotes(text: str, separators: str) -> list[str]:
    """``text`` split at each of ``separators`` not inside a quoted string or ``<...>``."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    angle = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch in separators and not angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _addresses(value: str) -> list[tuple[str, str]]:
    """The (display name, lower-case address) pairs of an address header, read in one pass (not
    with ``email.utils``, which recurses on nested comments and is slow on long values)."""
    found: list[tuple[str, str]] = []
    text, comment = _strip_comments(value)
    for part in _split_outside_quotes(text, ","):
        part = part.strip()
        if not part:
            continue
        if ":" in part and "<" not in part.split(":", 1)[0]:  # a group: "Team: a@b, c@d;"
            part = part.split(":", 1)[1].strip().rstrip(";")
        lt = part.rfind("<")
        if lt >= 0:
            gt = part.find(">", lt)
            addr = part[lt + 1 : gt if gt >= 0 else len(part)]
            name = part[:lt]
        else:
            addr, name = part, ""
        addr = "".join(addr.split()).strip('"').lower()
        name = name.strip().strip('"').replace('\\"', '"').strip()
        if not name and lt < 0:
            name = comment  # "a@example.org (Aisha Pendleford)"
        if "@" not in addr:
            addr = ""
        found.append((_decode_words(name), addr))
    return found


def _address(value: str) -> tuple[str, str]:
    found = _addresses(value)
    return found[0] if found else ("", "")


def _message_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value[:200])
    except Exception:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


_AUTH_FAIL = re.compile(r"\b(?:dmarc|dkim|spf|compauth)\s*=\s*fail\b", re.IGNORECASE)


def _authentication_failed(headers: _Headers) -> bool:
    """Any header saying fail, whoever wrote it (a record only: trust reads the receiving
    server's own header, see :mod:`workflows.replies.authentication`)."""
    for name in ("Authentication-Results", "ARC-Authentication-Results"):
        if any(_AUTH_FAIL.search(v) for v in headers.raw(name, _MAX_AUTH_FIELD)):
            return True
    return any(v.lower().startswith("fail") for v in headers.all("Received-SPF"))


_AUTO_SUBJECT = re.compile(
    r"""^\s*(?:automatic\s+reply|auto(?:matic)?[\s-]*(?:reply|response)|autoreply|auto\s*:
    |out\s+of\s+(?:the\s+)?office|ooo\b|i\s+am\s+(?:currently\s+)?(?:out|away))
    |\bout\s+of\s+(?:the\s+)?office\b|\bautomatic\s+reply\b""",
    re.IGNORECASE | re.VERBOSE,
)
_AWAY_TEXT = re.compile(
    r"""\b(?:out\s+of\s+(?:the\s+)?office|on\s+(?:annual\s+|parental\s+|sick\s+)?leave
    |away\s+from\s+(?:the\s+|my\s+)?(?:office|desk)|limited\s+access\s+to\s+(?:my\s+)?e-?mails?
    |(?:i\s+am|i'm)\s+(?:currently\s+)?away|not\s+in\s+the\s+office|automatic\s+reply)\b""",
    re.IGNORECASE | re.VERBOSE,
)


def _auto_reply(msg: Message, headers: _Headers, subject: str, text: str) -> bool:
    submitted = headers.first("Auto-Submitted").strip().lower()
    if submitted and not submitted.startswith("no"):
        return True
    if headers.first("X-Autoreply") or headers.first("X-Autorespond"):
        return True
    if headers.first("Precedence").strip().lower() == "auto_reply":
        return True
    if msg.get_content_type() == "multipart/report":
        return True
    if _AUTO_SUBJECT.search(subject[:2000]):
        return True
    return bool(headers.first("X-Auto-Response-Suppress") and _AWAY_TEXT.search(text[:1000]))


# ---------------------------------------------------------------------------------------------
# Bodies

_CHARSET_ALIASES = {"ascii": "cp1252", "us-ascii": "cp1252", "iso-8859-1": "cp1252"}
_CHARSET_ALIASES["latin-1"] = _CHARSET_ALIASES["latin1"] = "cp1252"


def _decode_part(part: Message, limit: int) -> tuple[str, bool]:
    """The part's text (cleaned) up to ``limit`` characters, and whether there was more."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return "", False
    cut = len(payload) > 4 * limit
    payload = payload[: 4 * limit]
    charset = str(part.get_content_charset() or "utf-8").lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    try:
        text = payload.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        text = payload.decode("utf-8", errors="replace")
    cut = cut or len(text) > limit
    return clean_text(text[:limit]), cut


@dataclass
class _Bodies:
    plain: str | None = None
    html: str | None = None
    attached_message: bool = False
    limits: list[str] = field(default_factory=list)


def _find_bodies(part: Message, found: _Bodies) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        found.attached_message = True
        return
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _find_bodies(sub, found)
        return
    if part.get_content_disposition() == "attachment":
        return
    if ctype == "text/plain" and found.plain is None:
        text, cut = _decode_part(part, MAX_TEXT_CHARS)
        if text.strip():
            found.plain = text
            if cut:
                found.limits.append(_TEXT_LIMIT)
    elif ctype == "text/html" and found.html is None:
        found.html, cut = _decode_part(part, MAX_HTML_CHARS)
        if cut:
            found.limits.append(
                f"the HTML is longer than the {MAX_HTML_CHARS:,} characters Chaser reads: "
                "only its start was read"
            )


_TEXT_LIMIT = (
    f"the text is longer than the {MAX_TEXT_CHARS:,} characters Chaser reads: only its start "
    "was read"
)


_VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
_BLOCK = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "dd",
    "dt",
    "hr",
}
_PARAGRAPH = {"p", "ul", "ol", "table", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
_HIDDEN = {"style", "script", "head", "title", "template"}
_QUOTE_IDS = {"appendonsend", "divrplyfwdmsg", "mail-editor-reference-message-container"}
_QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted")
_SIGNATURE_IDS = {"signature", "ms-outlook-mobile-signature"}
_SIGNATURE_CLASSES = ("gmail_signature", "moz-signature")


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.written = False  # any visible text yet
        self.tail = 0  # line breaks written since the last visible text
        self.stopped = False
        self.hidden = 0
        self.pre = 0
        self.cells = 0  # cells written in the current table row
        self.skip_tag: str | None = None
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        if self.skip_tag is not None:
            self.skip_depth += tag == self.skip_tag
            return
        if tag in _HIDDEN:
            self.hidden += 1
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        ident = a.get("id", "").lower()
        classes = a.get("class", "").lower()
        quoted = (
            ident in _QUOTE_IDS
            or any(c in classes for c in _QUOTE_CLASSES)
            or (tag == "blockquote" and a.get("type", "").lower() == "cite")
            or (tag == "hr" and ident == "stopspelling")
        )
        if quoted:
            self.stopped = True
            return
        if tag not in _VOID and (
            ident in _SIGNATURE_IDS or any(c in classes for c in _SIGNATURE_CLASSES)
        ):
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "pre":
            self.pre += 1
        if tag == "br":
            self._emit("\n")
        elif tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
        elif tag in ("td", "th"):
            # Cells of one row are kept apart ("2.5 | Amber | two events held"), so a lead's
            # answers typed into a table read as they would on a line.
            self._emit(" | " if self.cells else " ")
            self.cells += 1
        if tag == "tr":
            self.cells = 0

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stopped:
            return
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth <= 0:
                    self.skip_tag = None
            return
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)

    def _emit(self, piece: str) -> None:
        """Write ``piece``, keeping count of the line breaks since the last visible text (so
        :meth:`_break` need not look back: one pass however many empty blocks there are)."""
        self.out.append(piece)
        stripped = piece.rstrip(" \t")
        breaks = len(stripped) - len(stripped.rstrip("\n"))
        if stripped.strip():
            self.written, self.tail = True, breaks
        else:
            self.tail += breaks

    def _break(self, lines: int) -> None:
        """End the current line, leaving at least ``lines`` line breaks (2: a blank line)."""
        if not self.written:
            return  # nothing written yet
        self._emit("\n" * max(0, lines - self.tail))

    def handle_data(self, data: str) -> None:
        if self.stopped or self.hidden or self.skip_tag is not None:
            return
        self._emit(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, up to its first quoted-history marker."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is belt and braces
        pass
    return _tidy("".join(parser.out))


def _tidy(text: str) -> str:
    lines = [line.strip() for line in text.replace("\u00a0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ---------------------------------------------------------------------------------------------
# Quoted history and signatures

_CUTS = [
    re.compile(p, re.IGNORECASE | re.MULTILINE)
    for p in (
        r"^[ \t]*-{2,}[ \t]*original[ \t]+message[ \t]*-{2,}[ \t]*$",
        r"^[ \t]*_{10,}[ \t]*$",
        r"^[ \t]*\*?from:\*?[ \t]+\S.*\n(?:.*\n){0,3}?[ \t]*\*?(?:sent|date):\*?[ \t]",
        r"^[ \t]*On\b(?=[^\n]*\d)[^\n]{0,250}(?:\n[^\n]{0,250}){0,2}?\bwrote:[ \t]*$",
        # What mail-parser-reply (English) took for the start of quoted mail, with its
        # unbounded patterns bounded: "On ... wrote:" over up to two lines, with or without a
        # date; two header lines ("From:", "Sent:", "To:", ...) one after the other.
        r"^[ \t]*(?:>[ \t]?)*On\s(?:[^\n]{0,250}\n)?[^\n]{0,250}wrote:[ \t]*$",
        r"^[ \t]*(?:>[ \t]?)*[* ]*(?:from|sent|to|subject|date|cc|organization):[^\n]*\n"
        r"(?:[ \t]*\n)?[ \t]*(?:>[ \t]?)*[* ]*(?:from|sent|to|subject|date|cc|organization):",
        r"^[ \t]*-{3,}[ \t]*forwarded[ \t]+message[ \t]*-{3,}",
        r"^[ \t]*begin[ \t]+forwarded[ \t]+message:",
        r"^[ \t]*sent[ \t]+from[ \t]+(?:my|outlook|mail[ \t]+for)\b.*$",
        r"^[ \t]*get[ \t]+outlook[ \t]+for\b.*$",
        r"^--[ \t]*$",
    )
]
#: Where a disclaimer starts (NHSmail, councils): everything from there on is not the answer.
_DISCLAIMER = re.compile(
    r"""^[ \t*]*(?:disclaimer\b|confidentiality(?:\s+notice)?\b|this\s+e-?mail\s+(?:and\s+any
    |message|is|may|contains|has\s+been)|the\s+information\s+(?:in|contained\s+in)\s+this
    |this\s+message\s+(?:and\s+any|may|contains|is\s+intended)|this\s+message\s+originated
    |please\s+consider\s+the\s+environment|nhsmail\s+is\s+the|[*]{3,}|email\s+disclaimer
    |plymouth\s+city\s+council\s+(?:is|does)|any\s+views\s+or\s+opinions)""",
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)
_CUTS.append(_DISCLAIMER)
_FORWARD_MARK = re.compile(
    r"^[ \t]*(?:-{3,}[ \t]*forwarded[ \t]+message|begin[ \t]+forwarded[ \t]+message:)",
    re.IGNORECASE | re.MULTILINE,
)
_BANNER = re.compile(
    r"^[ \t]*\[?(?:caution|warning|external)\]?:?[^\n]*\b(?:outside|external)\b[^\n]*\n",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"""^(?:(?:kind|best|warm|warmest|many|with\s+(?:best|kind|many))\s+)?
    (?:regards|wishes|thanks|thank\s+you|cheers|best)(?:[ ,]+[A-Za-z]+)?[ \t]*[,.!]*$""",
    re.IGNORECASE | re.VERBOSE,
)


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    for ch in ("\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad"):
        text = text.replace(ch, "")
    return text


def _cut_quotes(text: str) -> str:
    positions = [m.start() for rx in _CUTS if (m := rx.search(text))]
    if positions:
        text = text[: min(positions)]
    lines = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(lines)


def _cut_signature(text: str) -> str:
    lines = text.split("\n")
    # After each line: how many non-blank lines follow, and whether one starts an action's
    # answer (counted once, from the end: no line is looked at twice).
    after = [0] * (len(lines) + 1)
    ref_after = [False] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        after[i] = after[i + 1] + (1 if line.strip() else 0)
        ref_after[i] = ref_after[i + 1] or bool(line.strip() and _REF_LINE.match(line))
    for i, line in enumerate(lines):
        if not _SIGN_OFF.match(line.strip()):
            continue
        if i == 0:
            rest = [x for x in lines[1:] if x.strip()]
            if read_status("\n".join(rest))[0] is not None:
                continue  # "Thanks" and then the update
        if after[i + 1] <= 10 and not ref_after[i + 1]:
            return "\n".join(lines[:i])
    return text


def new_text(text: str) -> str:
    """The new part of a reply's text: quoted history, forwarded mail and signature removed."""
    text = _cut_quotes(_normalise(text))
    text = _cut_signature(text.strip())
    text = _BANNER.sub("", text, count=1) if _BANNER.match(text) else text
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ---------------------------------------------------------------------------------------------
# Status words


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    meaning: str
    label: str
    embedded: bool
    words: str
    rank: int  # 0: a scale value by name, 1: by label, 2: the common vocabulary


_VOCAB: tuple[tuple[str, str, bool, bool], ...] = (
    # pattern, meaning, embedded, strict (first word of the answer, or after is/are/now/...)
    (r"complete(?:d)?\s+and\s+embedded|embedded", "complete", True, False),
    (
        r"on\s+(?:track|target|schedule)[,\s]+(?:but\s+|with\s+)?(?:some\s+|a\s+few\s+|minor\s+)?"
        r"(?:concerns?|risks?|issues)",
        "at_risk",
        False,
        False,
    ),
    (r"at\s+risk|some\s+concerns|risk\s+of\s+(?:slipping|slippage|delay)", "at_risk", False, False),
    (r"(?:not\s+yet|yet\s+to\s+be|not)\s+started|not\s+(?:yet\s+)?due", "not_due", False, False),
    (
        r"off\s+(?:track|target)|slipped|slipping|delayed|stalled|overdue"
        r"|behind\s+(?:schedule|plan|target|time)|(?:running|is|are|now)\s+late"
        r"|little\s+or\s+no\s+progress|no\s+progress",
        "off_track",
        False,
        False,
    ),
    (
        r"on\s+(?:track|target|schedule)|progressing(?:\s+well)?|going\s+well",
        "on_track",
        False,
        False,
    ),
    (r"complete(?:d)?", "complete", False, False),
    (r"done|finished|achieved", "complete", False, True),
    (r"behind|late", "off_track", False, True),
    (r"amber", "at_risk", False, False),
    (r"green", "on_track", False, False),
    (r"red", "off_track", False, False),
    (r"blue", "complete", False, False),
)
_VOCAB_RX = [
    (re.compile(rf"(?<![\w-])(?:{p})(?![\w-])", re.IGNORECASE), m, e, s) for p, m, e, s in _VOCAB
]
_NEGATED = re.compile(
    r"(?:\bnot|n't|\bno\s+longer|\bnever|\bnor)\s+(?:[a-z]+\s+){0,2}$", re.IGNORECASE
)
_FUTURE = re.compile(
    r"""(?:\bwill|\bto|\bshould|\bwould|\bcould|\bmust|\bcan|\bexpect(?:ed|s)?\s+to|\bhope\s+to
    |\baim\s+to|\bplan\s+to|\bgoing\s+to)\s+(?:be\s+|have\s+(?:been\s+)?|get\s+)?$""",
    re.IGNORECASE | re.VERBOSE,
)
#: Status words about people or things in the work, not the action's progress.
_ABOUT_PEOPLE = re.compile(
    r"""\b(?:pupils?|children|child|young\s+people|learners?|students?|families|family|people|cyp
    |those|groups?|cohorts?|individuals?|cases?|placements?|settings?|schools?|who\s+are|who're
    |identified\s+as|considered|deemed|most)\s+(?:(?:who\s+are|are|being|most|at\s+highest)\s+)?$""",
    re.IGNORECASE | re.VERBOSE,
)
_ABOUT_PEOPLE_AFTER = re.compile(
    r"""^\s*(?:of\s+(?!slip|delay|not\b|missing|falling|being\s+late|overrun|drift)
    |(?:speech|language|development|diagnosis|transfers?|flags?|tape|register|list|registers
    |payments?|invoices?)\b|pupils|children|young\s+people|groups?)""",
    re.IGNORECASE | re.VERBOSE,
)
_EVENT_STATUS = re.compile(
    r"\b(?:audit|survey|training|session|meeting|consultation|recruitment\s+round|interviews?"
    r"|workshop|review\s+meeting)\s+(?:was\s+|were\s+|has\s+been\s+)?$",
    re.IGNORECASE,
)
_COPULA = re.compile(r"\b(?:is|are|now|all|been|it's|its|was|were|fully)\s*$", re.IGNORECASE)
_LEAD_CHUNK = re.compile(r"^\s*([^\n:;,.(\-]{1,40})")


_ASCII = str.maketrans("–—’‘", "--''")


def _plain(text: str) -> str:
    """Same length as ``text``, with dashes and quotes made ASCII (positions stay valid)."""
    return text.translate(_ASCII)


def _name_pattern(name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in name.split()]
    return re.compile(r"(?<![\w-])" + r"\s+".join(words) + r"(?![\w-])", re.IGNORECASE)


def _label_for(meaning: str, scale: StatusScale | None) -> str:
    if scale is None:
        return ""
    values = [v for v in scale.values if v.meaning == meaning]
    if len(values) > 1 and meaning == "complete":
        values = [v for v in values if not v.embedded]
    return values[0].value if len(values) == 1 else ""


def _guard(text: str, start: int, end: int, meaning: str) -> str | None:
    """None to keep a mention; "drop" to ignore it; "negated" for "not on track"."""
    before = text[max(0, start - 40) : start]
    before = re.split(r"[.;:!?\n]|\s-\s", before)[-1]
    if _NEGATED.search(before):
        return "negated"
    if _ABOUT_PEOPLE.search(before) or _ABOUT_PEOPLE_AFTER.match(text[end : end + 60]):
        return "drop"  # "pupils at risk of exclusion", "delayed speech", "red flags"
    if _EVENT_STATUS.search(text[max(0, start - 40) : start]) and meaning == "complete":
        return "drop"  # "the audit completed in January" is the audit, not the action
    if meaning == "complete":
        if _FUTURE.search(before):
            return "drop"
        if re.match(r"\s+by\b", text[end:], re.IGNORECASE):
            return "drop"
    return None


def _mentions(text: str, scale: StatusScale | None) -> list[_Mention]:
    plain = _plain(text)
    found: list[_Mention] = []
    # Which characters a mention already covers: checking a new one costs its own length, not
    # the number found so far (reading stays linear however many status words there are).
    taken = bytearray(len(plain))
    first_word = len(plain) - len(plain.lstrip())

    def add(a: int, b: int, meaning: str, label: str, embedded: bool, rank: int) -> None:
        if a >= b or taken.find(1, a, b) >= 0:
            return
        taken[a:b] = b"\x01" * (b - a)
        how = _guard(plain, a, b, meaning)
        if how == "drop":
            return
        if how == "negated":
            if not re.match(r"on\s+(?:track|target|schedule)", plain[a:b], re.IGNORECASE):
                return
            neg = re.search(r"(?:\bnot|n't|\bno\s+longer)\b.*$", plain[max(0, a - 40) : a])
            a0 = a - len(neg.group(0)) if neg else a
            found.append(
                _Mention(
                    a0, b, "off_track", _label_for("off_track", scale), False, text[a0:b], rank
                )
            )
            return
        found.append(_Mention(a, b, meaning, label, embedded, text[a:b], rank))

    if scale is not None:
        chunk = _LEAD_CHUNK.match(plain)
        if chunk:
            hit = scale.lookup(chunk.group(1).strip())
            if hit is not None:
                a = chunk.start(1) + (len(chunk.group(1)) - len(chunk.group(1).lstrip()))
                b = a + len(chunk.group(1).strip())
                add(a, b, str(hit.meaning), hit.value, hit.embedded, 0)
        names: list[tuple[str, ScaleValue, int]] = []
        for v in scale.values:
            names.append((v.value, v, 0))
            if v.label:
                names.append((v.label, v, 1))
            names.extend((alias, v, 0) for alias in v.aliases if len(alias.strip()) > 2)
        names.sort(key=lambda t: -len(t[0]))
        for name, v, rank in names:
            if not name.strip():
                continue
            for m in _name_pattern(name).finditer(plain):
                add(m.start(), m.end(), str(v.meaning), v.value, v.embedded, rank)
    for rx, meaning, embedded, strict in _VOCAB_RX:
        for m in rx.finditer(plain):
            if strict and not (
                m.start() <= first_word or _COPULA.search(plain[max(0, m.start() - 20) : m.start()])
            ):
                continue
            add(m.start(), m.end(), meaning, _label_for(meaning, scale), embedded, 2)
    return sorted(found, key=lambda x: x.start)


def read_status(
    text: str, scale: StatusScale | None = None, *, what: str = "the reply"
) -> tuple[StatusReading | None, tuple[str, ...]]:
    """The status ``text`` gives (or None) and any problem, such as two different statuses."""
    mentions = _mentions(text, scale)
    if not mentions:
        return None, ()
    meanings = list(dict.fromkeys(m.meaning for m in mentions))
    if len(meanings) > 1:
        words: list[str] = []
        for meaning in meanings:
            first = next(m for m in mentions if m.meaning == meaning)
            words.append(" ".join(first.words.split()))
        count = {2: "two", 3: "three"}.get(len(words), str(len(words)))
        listed = ", ".join(words[:-1]) + " and " + words[-1]
        return None, (f"{count} different statuses for {what}: {listed}",)
    best = min(mentions, key=lambda m: (m.rank, m.start))
    embedded = best.embedded or any(m.embedded for m in mentions)
    return (
        StatusReading(
            meaning=best.meaning,
            label=best.label,
            words=" ".join(best.words.split()),
            embedded=embedded,
        ),
        (),
    )


# ---------------------------------------------------------------------------------------------
# Dates in words


@dataclass(frozen=True)
class _DateHit:
    start: int
    end: int
    when: FuzzyDate
    words: str
    problem: str = ""


_MONTH_NUMBERS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MON = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
_WD = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)(?![a-z])\.?"
)
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WC = r"(?P<wc>\b(?:w/c|w/b|wc|week\s+(?:commencing|beginning|starting)(?:\s+on)?)\s+(?:the\s+)?)?"
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "a couple of": 2,
    "a few": 3,
}


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.VERBOSE)


_D_NUMERIC = _rx(
    _WC + r"(?<![\d/.])(?P<d>\d{1,2})(?:/(?P<m>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?"
    r"|\.(?P<m2>\d{1,2})\.(?P<y2>\d{4}|\d{2}))(?![\d/]|\.\d)"
)
_D_DAY_MONTH = _rx(
    _WC + rf"(?:(?P<wd>{_WD}),?\s+)?(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+"
    rf"(?P<mon>{_MON})(?:,?\s+(?P<y>\d{{4}}))?"
)
_D_MONTH_DAY = _rx(
    _WC + rf"(?:(?P<wd>{_WD}),?\s+)?(?P<mon>{_MON})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)"
    r"(?:,?\s+(?P<y>\d{4}))?"
)
_D_MONTH_YEAR = _rx(
    rf"(?:(?:the\s+)?(?:end|beginning|start|middle)\s+of\s+|(?:mid|early|late)[-\s]+)?"
    rf"(?P<mon>{_MON}),?\s+'?(?P<y>\d{{4}}|\d{{2}})(?!\d)"
)
_D_REL_MONTH = _rx(
    r"(?:(?:the\s+)?(?:end|beginning|start|middle)\s+of\s+(?P<which>the|this|next)\s+month"
    r"|(?P<which2>this|next)\s+month)\b"
)
_D_BARE_MONTH = _rx(
    rf"(?:(?:the\s+)?(?:end|beginning|start|middle)\s+of|by|in|until|till|to|for|into|during"
    rf"|mid|early|late)[-\s]+(?P<mon>{_MON})(?!\s*'?\d)"
)
_D_QUARTER = _rx(r"\bQ(?P<q>[1-4])\s*(?P<y>\d{4}(?:[/-]\d{2,4})?)(?!\d)")
_D_TERM = _rx(
    r"(?:the\s+)?(?:end\s+of\s+(?:the\s+)?)?(?P<t>autumn|spring|summer)\s+term\b(?:\s+(?P<y>\d{4}))?"
)
_D_WEEK = _rx(r"(?:(?:the\s+)?end\s+of\s+)?(?P<which>this|next|the\s+following)\s+week\b")
_D_IN = _rx(
    r"\bin\s+(?:(?P<n>\d{1,2}|a\s+couple\s+of|a\s+few|a|an|one|two|three|four|five|six|seven"
    r"|eight|nine|ten|twelve)\s+(?P<u>days?|weeks?|months?)|a\s+(?P<f>fortnight))\b"
)
_D_WEEKDAY = _rx(rf"\b(?:on|by|until|till|next|this)\s+(?P<wd>{_WD})")


def _forward_day(ref: date, month: int, day: int) -> date | None:
    for year in (ref.year, ref.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= ref:
            return candidate
    return None


def _forward_month(ref: date, month: int) -> FuzzyDate:
    return FuzzyDate.month_of(ref.year if month >= ref.month else ref.year + 1, month)


def _month_no(text: str) -> int:
    return _MONTH_NUMBERS[text.lower()[:3]]


def _year(text: str) -> int:
    return int(text) if len(text) == 4 else 2000 + int(text)


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + n
    return total // 12, total % 12 + 1


def _day_hit(
    m: re.Match[str], ref: date, day: int, month: int, year: str | None
) -> _DateHit | None:
    if year:
        try:
            when: date | None = date(_year(year), month, day)
        except ValueError:
            return None
    else:
        when = _forward_day(ref, month, day)
    if when is None:
        return None
    words = _words(m)
    problem = ""
    if m.group("wc") and when.weekday() != 0:
        monday = when - timedelta(days=when.weekday())
        problem = (
            f"'{words}': {when:%d %B %Y} is a {when:%A}; read as the week commencing "
            f"Monday {monday:%d %B %Y}"
        )
        when = monday
    return _DateHit(m.start(), m.end(), FuzzyDate.day_of(when), words, problem)


def _from_cell(m: re.Match[str], text: str) -> _DateHit | None:
    parsed = parse_date_cell(text)
    if parsed.kind != "date" or parsed.date is None:
        return None
    return _DateHit(m.start(), m.end(), parsed.date, _words(m))


def _words(m: re.Match[str]) -> str:
    return " ".join(m.group(0).split()).rstrip(".")


def _hits(text: str, ref: date) -> list[_DateHit]:
    hits: list[_DateHit] = []

    def keep(hit: _DateHit | None) -> None:
        if hit is not None:
            hits.append(hit)

    for m in _D_NUMERIC.finditer(text):
        month = m.group("m") or m.group("m2")
        year = m.group("y") or m.group("y2")
        if 1 <= int(month) <= 12:
            keep(_day_hit(m, ref, int(m.group("d")), int(month), year))
    for rx in (_D_DAY_MONTH, _D_MONTH_DAY):
        for m in rx.finditer(text):
            keep(_day_hit(m, ref, int(m.group("d")), _month_no(m.group("mon")), m.group("y")))
    for m in _D_MONTH_YEAR.finditer(text):
        month, year = _month_no(m.group("mon")), _year(m.group("y"))
        words = _words(m)
        keep(_DateHit(m.start(), m.end(), FuzzyDate.month_of(year, month), words))
    for m in _D_REL_MONTH.finditer(text):
        which = (m.group("which") or m.group("which2") or "").lower()
        y, mo = _add_months(ref.year, ref.month, 1 if which == "next" else 0)
        keep(_DateHit(m.start(), m.end(), FuzzyDate.month_of(y, mo), _words(m)))
    for m in _D_BARE_MONTH.finditer(text):
        when = _forward_month(ref, _month_no(m.group("mon")))
        keep(_DateHit(m.start(), m.end(), when, _words(m)))
    for m in _D_QUARTER.finditer(text):
        keep(_from_cell(m, f"Q{m.group('q')} {m.group('y')}"))
    for m in _D_TERM.finditer(text):
        term = m.group("t").lower()
        due_month = {"autumn": 12, "spring": 3, "summer": 7}[term]
        year_text = m.group("y") or str(_forward_month(ref, due_month).year)
        keep(_from_cell(m, f"{term} term {year_text}"))
    for m in _D_WEEK.finditer(text):
        weeks = 0 if m.group("which").lower() == "this" else 1
        friday = ref + timedelta(days=4 - ref.weekday() + 7 * weeks)
        keep(_DateHit(m.start(), m.end(), FuzzyDate.day_of(friday), _words(m)))
    for m in _D_IN.finditer(text):
        words = _words(m)
        if m.group("f"):
            keep(_DateHit(m.start(), m.end(), FuzzyDate.day_of(ref + timedelta(days=14)), words))
            continue
        n_text = " ".join(m.group("n").lower().split())
        n = int(n_text) if n_text.isdigit() else _NUMBERS[n_text]
        unit = m.group("u").lower()
        if unit.startswith("day"):
            keep(_DateHit(m.start(), m.end(), FuzzyDate.day_of(ref + timedelta(days=n)), words))
        elif unit.startswith("week"):
            keep(_DateHit(m.start(), m.end(), FuzzyDate.day_of(ref + timedelta(weeks=n)), words))
        else:
            y, mo = _add_months(ref.year, ref.month, n)
            keep(_DateHit(m.start(), m.end(), FuzzyDate.month_of(y, mo), words))
    for m in _D_WEEKDAY.finditer(text):
        target = _WEEKDAYS[m.group("wd").lower()[:3]]
        ahead = (target - ref.weekday() - 1) % 7 + 1
        when = FuzzyDate.day_of(ref + timedelta(days=ahead))
        keep(_DateHit(m.start("wd"), m.end(), when, " ".join(m.group("wd").split())))
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    # Sorted by start, the chosen hits do not overlap, so a hit overlaps one of them exactly
    # when it starts before the last one ends: one comparison each, not one per hit chosen.
    chosen: list[_DateHit] = []
    for hit in hits:
        if hit.end <= hit.start:
            continue
        if not chosen or hit.start >= chosen[-1].end:
            chosen.append(hit)
    return chosen


def read_dates(text: str, ref: date) -> list[tuple[FuzzyDate, str]]:
    """Every date written in ``text`` (as :func:`parse_reply` reads them), resolved against
    ``ref`` (the reply's date in Europe/London), with the words as written."""
    return [(h.when, h.words) for h in _hits(_plain(text), ref)]


_FORECAST_SIGNAL = _rx(
    r"""\b(?:now|expect(?:ed|s|ing)?|anticipat\w*|forecast\w*|revised|revision
    |new\s+(?:target\s+|completion\s+|due\s+|end\s+|expected\s+)?date
    |mov(?:e|ed|ing)\s+(?:to|back|out|into)|push(?:ed|ing)?\s+(?:back|out|to|into)
    |slip(?:ped|ping)?\s+(?:to|into|until|till)|delayed\s+(?:until|till|to|into)
    |deferred|postponed|rescheduled|extended\s+(?:to|until)
    |will\s+(?:now\s+)?(?:be\s+)?(?:complete|completed|finished|done|in\s+place|delivered|ready)
    |complete(?:d)?\s+by|finish(?:ed)?\s+by|done\s+by|ready\s+by|in\s+place\s+by
    |due\s+to\s+(?:complete|finish|be)|aim(?:ing)?\s+(?:to|for)|target(?:ing)?\s+(?:date|for)
    |new\s+target|by\s+(?:the\s+)?end\s+of)\b|\bw/c\b|\bweek\s+commencing\b""",
)
#: Dates of events inside the work (a meeting, training, a signature), not of its completion.
_EVENT_BEFORE = _rx(
    r"""\b(?:meet(?:s|ing|ings)?|met|board|panel|committee|session|sessions|training|workshop
    |conference|visit|starts?|started|starting|begins?|began|beginning|launch(?:es|ed)?|held
    |signed(?:\s+off)?|updated|agreed|approved|presented|attended|took\s+place|taking\s+place
    |sent|circulated|published|interviews?|recruited|appointed|joins?|joined|scheduled\s+for
    |booked(?:\s+for)?|on\s+leave|off|away|back|returning|dated|since|from|last|ago|was|were
    |happened|ran|run(?:s|ning)?|go(?:es)?\s+live|went\s+live)\s+(?:(?:on|in|for|at|the|of|from
    |until|till|w/c|by)\s+){0,2}$""",
)


def _event_date(sentence: str, hit: _DateHit) -> bool:
    before = sentence[max(0, hit.start - 40) : hit.start]
    if _MOVED_EVENT.search(before):
        return False  # "the training is now booked for w/c 14 April": the work moved
    return bool(_EVENT_BEFORE.search(before))


_MOVED_EVENT = _rx(r"\b(?:now|re-?)\s*(?:booked|scheduled|planned|set|arranged)\b")


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n")


def _forecast(
    text: str, ref: date | None, what: str
) -> tuple[FuzzyDate | None, str, tuple[str, ...]]:
    plain = _plain(text)
    found: list[_DateHit] = []
    for sentence in _SENTENCE_END.split(plain):
        signals = list(_FORECAST_SIGNAL.finditer(sentence))
        if not signals:
            continue
        if ref is None:
            return None, "", (f"no Date header: the revised date for {what} was not read",)
        hits = [h for h in _hits(sentence, ref) if not _event_date(sentence, h)]
        after = [h for h in hits if h.start >= signals[0].start()]
        if after:
            found.append(after[0])
        elif hits and signals[0].group(0).lower() != "now":
            found.append(hits[-1])
    distinct = list(dict.fromkeys(found_hit.when for found_hit in found))
    if not distinct:
        return None, "", ()
    if len(distinct) > 1:
        words = " and ".join(f"'{h.words}'" for h in found)
        return None, "", (f"different revised dates for {what}: {words}",)
    hit = found[0]
    return hit.when, hit.words, (hit.problem,) if hit.problem else ()


_RETURN = _rx(
    r"\b(?:return(?:ing|s)?|back|in\s+the\s+office|resum\w+|reopen\w*|available\s+(?:again|from))\b"
)
_UNTIL = _rx(r"\b(?:until|till|til)\b")


def _away_until(text: str, ref: date | None) -> date | None:
    if ref is None:
        return None
    plain = _plain(text)
    hits = _hits(plain, ref)
    for trigger, use_end in ((_RETURN, False), (_UNTIL, True)):
        for hit in hits:
            before = re.split(r"[.!?\n]", plain[max(0, hit.start - 60) : hit.start])[-1]
            if trigger.search(before):
                return hit.when.last_day if use_end else hit.when.first_day
    return None


# ---------------------------------------------------------------------------------------------
# Splitting a reply by action

_REF = r"(?:[A-Z]{1,3}\d{0,3}-\d{1,3}[a-z]?|\d{1,2}(?:\.\d{1,2}){1,2}[a-z]?)(?!\.?\d)"
_REF_LINE = re.compile(
    rf"""^[ \t]*(?:[-*•·][ \t]*)?(?:(?:action|ref|re|item)\b\.?:?[ \t]*)?
    (?P<refs>{_REF}(?:[ \t]*(?:,|&|/|\band\b)[ \t]*{_REF})*)
    [ \t]*(?:[:\-–—).=]+[ \t]*|(?=[ \t]+[A-Za-z])|$)""",
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)
_GREETING = re.compile(
    r"^(?:hi|hello|dear|hiya|morning|afternoon|good\s+(?:morning|afternoon))\b[^\n]{0,40}\n",
    re.IGNORECASE,
)


def _squash(text: str) -> str:
    return " ".join(text.split())


#: A link in an answer: evidence, kept in its own field (not in the narrative).
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'\[\]]{1,2000}", re.IGNORECASE)
_EVIDENCE_LABEL = re.compile(
    r"(?:\(\s*)?\b(?:evidence|link|links|see|available|saved|uploaded)(?:\s+(?:here|at|to|on))?"
    r"\s*[:\-]?\s*(?:\(\s*\)|<\s*>)?\s*(?=$|[.;,)\n])",
    re.IGNORECASE,
)
_DANGLING = re.compile(r"(?:\(\s*\)|<\s*>|\[\s*\])")


def _evidence(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` without its links, and the links (in order, once each)."""
    links: list[str] = []

    def cut(m: re.Match[str]) -> str:
        url = m.group(0).rstrip(".,;:!?)>]")
        links.append(url)
        return m.group(0)[len(url) :]

    if "http" not in text.lower() and "www." not in text.lower():
        return text, ()
    text = _URL.sub(cut, text)
    text = _EVIDENCE_LABEL.sub("", _DANGLING.sub("", text))
    text = re.sub(r"[ \t]+(?:at|here|on|via|from|in)[ \t]*(?=$|\n)", "", text, flags=re.I)
    text = re.sub(r"([.!?])[ \t]*[.]+", r"\1", re.sub(r"[ \t]+([.,;:!?])", r"\1", text))
    return text, tuple(dict.fromkeys(links))


_STATUS_LEAD = re.compile(
    r"^[\s\-–—:;,.*•]*(?:(?:status|rag|rating|it\s+is|it's|this\s+is|currently|still|now"
    r"|is|are|was|has\s+been|have\s+been|remains)"
    r"(?:\s+(?:is|are|now|remains|:))?\s*[:\-–—]?\s*)?",
    re.IGNORECASE,
)
_SEPARATORS = " \t\n-–—:;,.!/|"


def _without_status(text: str, status: StatusReading | None) -> str:
    """The lead's words without the status word they start (or end) with: "complete -
    Delivered; ..." is stored as "Delivered; ..."."""
    if status is None or not text:
        return text
    pattern = _name_pattern(status.words)
    lead = _STATUS_LEAD.match(text)
    start = lead.end() if lead else 0
    hit = pattern.match(text, start)
    if hit is not None:
        text = text[hit.end() :].lstrip(_SEPARATORS + ")")
        text = re.sub(r"^(?:as\s+)?yet\b[\s\-–—:;,.]*", "", text, flags=re.IGNORECASE)
    else:
        tail = re.search(
            r"\s*[\-–—:;,(|]\s*(?:status\s*[:\-]?\s*)?" + pattern.pattern + r"[\s).!]*$",
            text,
            re.IGNORECASE,
        )
        if tail is not None and tail.start() > 0:
            text = text[: tail.start()].rstrip(_SEPARATORS)
    return text


_UNCHANGED = re.compile(
    r"""^[\s\-–—:;,.]*(?:no\s+change(?:s)?|unchanged|as\s+(?:before|last\s+time|last\s+reported
    |previously\s+reported|per\s+last\s+update)|same\s+as\s+(?:before|last\s+time|last\s+month)
    |nothing\s+(?:new|to\s+add|further))(?:\s+(?:since|from)\s+(?:the\s+)?last[^.\n]{0,40})?
    [\s.!]*$""",
    re.IGNORECASE | re.VERBOSE,
)
#: "The others are unchanged": marks the actions not answered, and nothing else.
_OTHERS = re.compile(
    r"""(?:^|(?<=[.!?;\n]))[^.!?;\n]{0,30}\b(?:the\s+)?(?:others?|rest|remaining(?:\s+ones?
    |\s+actions?)?|everything\s+else|all\s+(?:the\s+)?other\s+(?:actions?|ones?|items?)
    |other\s+actions?)\b[^.!?;\n]{0,40}?\b(?:unchanged|no\s+change|(?:are|is|remain)\s+the\s+same
    |as\s+(?:before|they\s+were|last\s+time|last\s+reported|previously\s+reported)
    |stand\s+as|nothing\s+(?:new|to\s+report|to\s+add))\b[^.!?;\n]{0,40}[.!]?
    |(?:^|(?<=[.!?;\n]))[^.!?;\n]{0,20}\b(?:no\s+change|nothing\s+(?:new|to\s+report|to\s+add))
    \s+(?:on|for|to|with)\s+(?:the\s+)?(?:others?|rest|other\s+(?:one|ones|action|actions|items?))
    \b[^.!?;\n]{0,30}[.!]?""",
    re.IGNORECASE | re.VERBOSE,
)
#: "Thanks, will reply next week": an acknowledgement, not an update.
_ACK = re.compile(
    r"""\b(?:will|I'll|I\s+will|we'll|we\s+will|shall|aim\s+to|going\s+to|plan\s+to|hope\s+to
    |intend\s+to)\s+(?:try\s+(?:to|and)\s+)?(?:get\s+back|come\s+back|reply|respond|update|send
    |provide|let\s+you\s+have|pick\s+(?:this|it)\s+up|look\s+at\s+(?:this|it)|share|circulate
    |forward|follow\s+up|have\s+(?:an?\s+)?(?:update|response))|\b(?:noted|received)\s*(?:,|\.|!
    |with\s+thanks)|\bwill\s+do\b|\bleave\s+it\s+with\s+me\b|\bon\s+it\b""",
    re.IGNORECASE | re.VERBOSE,
)
#: "All on track", "both complete": one answer for every action asked about.
_ALL = re.compile(
    r"\b(?:all|both|every(?:thing|\s+action)?|each\s+(?:action|of\s+them|one)|the\s+lot)\b",
    re.IGNORECASE,
)
#: A token that may be an action's ref mid-line ("2.8", "IA7", "P7-01"), checked against the
#: actions the request asked about: the scan is one pass however many actions the plan has.
_REF_TOKEN = re.compile(
    r"(?<![\w./£$@-])(?P<t>[A-Za-z]{0,4}-?\d{1,3}(?:[.\-]\d{1,3}){0,2}[a-z]?)(?![\w/%@]|[.,:]\d)"
)
#: Another action's answer later in the same line: ", 7.11: complete".
_NEXT_REF = re.compile(
    r"[,;]\s*(?:and\s+)?(?:action\s+)?(?P<t>[A-Za-z]{0,4}-?\d{1,3}(?:[.\-]\d{1,3}){0,2}[a-z]?)"
    r"\s*[:=\-–—]\s"
)
_LINE_PREFIX = re.compile(
    r"^[ \t]*(?:[-*•·][ \t]*)?(?:(?:action|ref|re|item|for|on)\b\.?:?[ \t]*)?", re.IGNORECASE
)
#: Title matching reads at most this many lines of an answer (each cut to 300 characters): the
#: work is bounded by the plan's size, not the message's.
_MAX_TITLE_LINES = 120
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "of",
        "on",
        "or",
        "our",
        "over",
        "the",
        "their",
        "this",
        "to",
        "with",
        "within",
        "across",
        "each",
        "every",
        "all",
        "new",
        "will",
        "we",
        "has",
        "have",
        "been",
        "being",
        "its",
        "they",
        "them",
        "that",
        "which",
        "who",
        "should",
        "must",
        "ensure",
    }
)


@dataclass(frozen=True)
class _Start:
    line: int
    refs: tuple[str, ...]
    text: str  # the words of the start line that belong to the answer
    match: str  # "ref" | "title"
    score: int | None = None
    problem: str = ""


def _title_words(title: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9][a-z0-9'-]+", title.lower()) if w not in _STOP]


class _Titles:
    """The actions' titles, ready to be matched against a line (fuzzy; rapidfuzz)."""

    def __init__(self, titles: Mapping[str, str], plan: Mapping[str, str] | None = None) -> None:
        self.titles = {ref: " ".join(t.split())[:300] for ref, t in titles.items() if t.strip()}
        counts: dict[str, int] = {}  # in how many of the plan's titles each word is
        for title in (plan or titles).values():
            for w in set(_title_words(" ".join(title.split())[:300])):
                counts[w] = counts.get(w, 0) + 1
        self.words: dict[str, list[str]] = {}
        for ref, title in self.titles.items():
            self.words[ref] = list(dict.fromkeys(_title_words(title)))
        #: Words of one title only (at least 5 letters): "distinctive".
        self.rare = {
            ref: [w for w in words if counts.get(w, 0) <= 1 and len(w) >= 5]
            for ref, words in self.words.items()
        }

    def names_title(self, head: str, ref: str) -> bool:
        """Whether ``head`` (a line's words before its first separator) is the title of ``ref``
        or a phrase of it: then the rest of the line is the answer."""
        from rapidfuzz import fuzz

        title = self.titles.get(ref, "").lower()
        words = re.findall(r"[a-z0-9][a-z0-9'-]*", head.lower())
        if not title or len(words) < 2:
            return False
        return fuzz.partial_ratio(" ".join(words), title) >= 90

    @staticmethod
    def _phrase(lead: list[str], title: str) -> int:
        """How well the line's opening words are a phrase of the title ("Joint commissioning
        strategy - some concerns"): the longest opening of at least three words, one of them
        a word of five letters or more that is not a stop word, found in the title."""
        from rapidfuzz import fuzz

        for k in range(len(lead), 2, -1):
            words = lead[:k]
            if not any(len(w) >= 5 and w not in _STOP for w in words):
                continue
            score = fuzz.partial_ratio(" ".join(words), title)
            if score >= 90:
                return round(score)
        return 0

    def match(self, line: str) -> tuple[str, int, int] | None:
        """The best action for ``line``: (ref, score 0-100, runner-up's score), or None."""
        from rapidfuzz import fuzz

        text = " ".join(line.lower().split())[:300]
        if len(text) < 8 or not self.titles:
            return None
        stems = {w[:6] for w in re.findall(r"[a-z0-9][a-z0-9'-]+", text)}
        lead = re.findall(r"[a-z0-9][a-z0-9'-]*", re.split(r"\s[-–—]\s|[:;(]", text)[0])[:12]
        scored: list[tuple[int, str]] = []
        for ref, title in self.titles.items():
            words = self.words[ref]
            if not words:
                continue
            found = [w for w in words if w[:6] in stems]
            rare = [w for w in self.rare[ref] if w[:6] in stems]
            coverage = len(found) / len(words)
            score = round(100 * coverage) if len(found) >= 2 else 0
            if len(rare) >= 2:
                score = max(score, 90)
            elif rare and len(found) >= 2:
                score = max(score, 80)
            if len(title) <= len(text) + 20:
                score = max(score, round(fuzz.partial_ratio(title.lower(), text)))
            score = max(score, self._phrase(lead, title.lower()))
            scored.append((score, ref))
        if not scored:
            return None
        scored.sort(key=lambda s: -s[0])
        best, ref = scored[0]
        second = scored[1][0] if len(scored) > 1 else 0
        return (ref, best, second) if best >= 70 else None


_TITLE_SEP = re.compile(r"\s*(?:\||:|\s[-–—]\s)\s*")


def _split_title(line: str) -> tuple[str, str, str]:
    """``line`` split at its first separator (":", " - ", "|") in its first 120 characters."""
    m = _TITLE_SEP.search(line, 0, 120)
    if m is None or m.start() == 0:
        return line, "", ""
    return line[: m.start()], m.group(0), line[m.end() :]


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")


def _by_sentence(line: str, known: Mapping[str, str]) -> list[tuple[tuple[str, ...], str]]:
    """A line naming several actions in different sentences, split so that each sentence goes
    to the actions it names (a sentence naming none goes with the one before it)."""
    out: list[tuple[tuple[str, ...], list[str]]] = []
    for sentence in _SENTENCE.split(line):
        refs = _known_tokens(sentence, known)
        if refs or not out:
            out.append((tuple(refs), [sentence]))
        else:
            out[-1][1].append(sentence)
    return [(refs, " ".join(texts)) for refs, texts in out if refs]


def _known_tokens(line: str, known: Mapping[str, str]) -> list[str]:
    return list(
        dict.fromkeys(
            known[m.group("t").upper()]
            for m in _REF_TOKEN.finditer(line)
            if m.group("t").upper() in known
        )
    )


def _starts(
    lines: list[str], known: Mapping[str, str], titles: _Titles | None
) -> tuple[list[_Start], list[str]]:
    """Where each action's answer starts: a ref at the start of a line, a ref the request asked
    about anywhere in a line, or (failing both) the action's title."""
    starts: list[_Start] = []
    problems: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        m = _REF_LINE.match(line)
        if m is not None:
            refs = []
            for raw in re.split(r"[ \t]*(?:,|&|/|\band\b)[ \t]*", m.group("refs"), flags=re.I):
                ref = raw.strip().rstrip(".")
                if ref:
                    refs.append(known.get(ref.upper(), ref.upper() if "-" in ref else ref))
            rest = line[m.end() :]
            more = [n for n in _NEXT_REF.finditer(rest) if known and n.group("t").upper() in known]
            cut = more[0].start() if more else len(rest)
            starts.append(_Start(i, tuple(dict.fromkeys(refs)), rest[:cut], "ref"))
            for k, n in enumerate(more):  # "7.9: complete, 7.11: complete"
                end = more[k + 1].start() if k + 1 < len(more) else len(rest)
                starts.append(_Start(i, (known[n.group("t").upper()],), rest[n.end() : end], "ref"))
            continue
        if known:
            refs = _known_tokens(line, known)
            if len(refs) > 1 and _SENTENCE.search(line):
                starts.extend(_Start(i, r, text, "ref") for r, text in _by_sentence(line, known))
                continue
            if refs:
                prefix = _LINE_PREFIX.match(line)
                text = line
                if prefix is not None:
                    rest = line[prefix.end() :]
                    token = _REF_TOKEN.match(rest)
                    if token is not None and token.group("t").upper() in known:
                        text = rest[token.end() :].lstrip(" \t:-–—).=")
                starts.append(_Start(i, tuple(refs), text, "ref"))
                continue
        if titles is not None and i < _MAX_TITLE_LINES and len(line.split()) >= 2:
            hit = titles.match(line)
            if hit is not None:
                ref, score, second = hit
                problem = ""
                if second >= score - 5 and second >= 70:
                    problem = (
                        f"'{_squash(line)[:60]}' is as close to another action's title as to "
                        f"{ref}'s (score {score} and {second})"
                    )
                head, sep, rest = _split_title(line)
                text = rest if sep and titles.names_title(head, ref) else line
                starts.append(_Start(i, (ref,), text, "title", score, problem))
    return starts, problems


def _answer(
    ref: str | None,
    text: str,
    scale: StatusScale | None,
    ref_day: date | None,
    extra: tuple[str, ...] = (),
    *,
    match: str = "ref",
    score: int | None = None,
) -> ActionReply:
    what = f"action {ref}" if ref else "the reply"
    text = _OTHERS.sub("", text)
    words, evidence = _evidence(text)
    if _UNCHANGED.match(_plain(_squash(words))) and not read_status(words, scale)[0]:
        return ActionReply(
            ref=ref,
            status=None,
            narrative="",
            forecast=None,
            forecast_words="",
            problems=extra,
            match=match,
            score=score,
            evidence=evidence,
            unchanged=True,
        )
    status, status_problems = read_status(words, scale, what=what)
    forecast, fwords, date_problems = _forecast(words, ref_day, what)
    problems = [*extra, *status_problems, *date_problems]
    if status is None and forecast is None and not status_problems and not evidence:
        problems.append(f"no status or revised date found for {what}")
    return ActionReply(
        ref=ref,
        status=status,
        narrative=_without_status(_squash(words).strip(_SEPARATORS.replace(".", "")), status),
        forecast=forecast,
        forecast_words=fwords,
        problems=tuple(problems),
        match=match,
        score=score,
        evidence=evidence,
        all_actions=ref is None and bool(_ALL.search(words)),
    )


def _inline(visible: str, known: Mapping[str, str]) -> list[tuple[str, str]]:
    """Answers written between the quoted lines of the request (``>`` quoting): each non-quoted
    line below a quoted line naming an action belongs to that action."""
    if not known or ">" not in visible:
        return []
    lines = _normalise(visible).split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith(">")), None)
    if first is None:
        return []
    current: tuple[str, ...] = ()
    out: dict[str, list[str]] = {}
    for line in lines[first:]:
        stripped = line.strip()
        if stripped.startswith(">"):
            quoted = stripped.lstrip("> \t")
            m = _REF_LINE.match(quoted)
            refs = _known_tokens(quoted[: m.end()] if m else quoted[:12], known)
            if refs:
                current = tuple(refs)
            continue
        if not stripped:
            continue
        if _SIGN_OFF.match(stripped) or stripped.startswith("--") or _DISCLAIMER.match(stripped):
            break
        for ref in current:
            out.setdefault(ref, []).append(stripped)
    return [(ref, "\n".join(texts)) for ref, texts in out.items()]


def _updates(
    body: str,
    scale: StatusScale | None,
    known_refs: Collection[str],
    ref_day: date | None,
    *,
    titles: Mapping[str, str] | None = None,
    asked: Sequence[str] = (),
    visible: str = "",
) -> tuple[list[ActionReply], list[str], bool]:
    """The answers in ``body``, the problems with it as a whole, and whether it is only an
    acknowledgement ("thanks, will reply next week")."""
    known = {r.strip().upper(): r.strip() for r in (*known_refs, *asked) if r.strip()}
    asking = {r.strip().upper(): r.strip() for r in asked if r.strip()} or known
    lines = body.split("\n")
    title_index = None
    if titles and len(asked) != 1:  # one action asked about: an answer without a ref is for it
        wanted = {ref: t for ref, t in titles.items() if not asked or ref in asked}
        title_index = _Titles(wanted, titles)
    starts, problems = _starts(lines, known, title_index)
    others = bool(_OTHERS.search(body))
    inline = _inline(visible, asking) if not starts else []
    updates: list[ActionReply] = []
    if inline:
        for ref, text in inline:
            updates.append(_answer(ref, text, scale, ref_day, match="inline"))
    elif not starts:
        text = _GREETING.sub("", body.strip() + "\n", count=1).strip()
        text = _OTHERS.sub("", text).strip() if others else text
        if not text:
            return _unchanged_rest(updates, asked, others), problems, False
        if (
            len(text) < 600
            and _ACK.search(text)
            and read_status(text, scale)[0] is None
            and _forecast(text, ref_day, "the reply")[0] is None
        ):
            return [], problems, True
        paragraph_lines = [ln for ln in text.split("\n") if ln.strip()]
        if len(asked) >= 2 and len(paragraph_lines) == len(asked):
            readings = [read_status(ln, scale) for ln in paragraph_lines]
            if all(s is not None and not p for s, p in readings):
                for ref, ln in zip(asked, paragraph_lines, strict=True):
                    updates.append(_answer(ref, ln, scale, ref_day, match="order"))
                return updates, problems, False
        updates.append(_answer(None, text, scale, ref_day, match=""))
        return updates, problems, False
    else:
        preamble = "\n".join(lines[: starts[0].line])
        preamble = _GREETING.sub("", preamble.strip() + "\n", count=1).strip()
        preamble = _OTHERS.sub("", preamble)
        if preamble:
            status, _ = read_status(preamble, scale)
            if status is not None:
                problems.append(
                    f"'{status.words}' before the first action number was not applied to any action"
                )
        texts: dict[str, list[str]] = {}
        how: dict[str, _Start] = {}
        for n, start in enumerate(starts):
            end = starts[n + 1].line if n + 1 < len(starts) else len(lines)
            segment = "\n".join([start.text, *lines[start.line + 1 : end]]).strip()
            for ref in start.refs:
                texts.setdefault(ref, []).append(segment)
                how.setdefault(ref, start)
        for ref, segments in texts.items():
            extra: tuple[str, ...] = ()
            if known and ref.upper() not in known:
                extra = (f"action {ref} is not one of the actions this message asked about",)
            start = how[ref]
            if start.problem:
                extra = (*extra, start.problem)
            updates.append(
                _answer(
                    ref,
                    "\n".join(s for s in segments if s),
                    scale,
                    ref_day,
                    extra,
                    match=start.match,
                    score=start.score,
                )
            )
    return _unchanged_rest(updates, asked, others), problems, False


def _unchanged_rest(
    updates: list[ActionReply], asked: Sequence[str], others: bool
) -> list[ActionReply]:
    """With "the others are unchanged", every action asked about and not answered, unchanged."""
    if not others:
        return updates
    answered = {u.ref for u in updates}
    for ref in asked:
        if ref not in answered:
            updates.append(
                ActionReply(
                    ref=ref,
                    status=None,
                    narrative="",
                    forecast=None,
                    forecast_words="",
                    problems=(),
                    match="others",
                    unchanged=True,
                )
            )
    return updates


# ---------------------------------------------------------------------------------------------
# The whole message


def _broken(problem: str) -> ParsedReply:
    return ParsedReply(
        message_id="",
        in_reply_to="",
        references=(),
        sender_name="",
        sender_email="",
        reply_to="",
        subject="",
        date=None,
        reference=None,
        chaser_key=None,
        auto_reply=False,
        away_until=None,
        forwarded=False,
        body="",
        updates=(),
        authentication_failed=False,
        problems=(problem,),
    )


def parse_reply(
    raw: bytes,
    *,
    scale: StatusScale | None = None,
    known_refs: Collection[str] = (),
    today: date | None = None,
    titles: Mapping[str, str] | None = None,
    asked: Sequence[str] = (),
) -> ParsedReply:
    """Read one emailed reply. See the module docstring for what it understands.

    ``scale`` is the plan's status scale; ``known_refs`` the plan's actions (other action
    numbers are then reported as problems); ``today`` stands in for the reply's Date when the
    message has none; ``titles`` (ref to title) lets an answer name an action by its title;
    ``asked`` is the request's actions in the order it listed them (for answers given in that
    order, inline under the quoted request, or "the others are unchanged"). Never raises for
    bad input: the problems say what was wrong.
    """
    try:
        return _parse(raw, scale, known_refs, today, titles, asked)
    except Exception as exc:  # never let one bad message stop an ingest run
        return _broken(f"could not read the message ({type(exc).__name__})")


_FORWARD_SUBJECT = re.compile(r"^\s*(?:(?:re|aw)\s*:\s*)*(?:fw|fwd|fw\s*d)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class _Read:
    """What a message says whatever plan it is read for (headers, text, reference)."""

    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    sender_name: str
    sender_email: str
    from_count: int
    reply_to: str
    subject: str
    when: datetime | None
    chaser_key: str | None
    visible: str
    full: str
    body: str
    reference: str | None
    forwarded: bool
    auto: bool
    problems: tuple[str, ...]
    limits: tuple[str, ...]
    authentication_failed: bool
    authentication_results: tuple[str, ...]
    received: datetime | None = None


#: The last message read, by identity: intake reads each message twice (once to find its
#: request and plan, then with that plan's scale), and everything here is the costly part.
_last: tuple[bytes | bytearray, _Read] | None = None


def _read(raw: bytes | bytearray) -> _Read:
    global _last
    last = _last
    if last is not None and last[0] is raw:
        return last[1]
    read = _read_message(raw)
    _last = (raw, read)
    return read


def _read_message(raw: bytes | bytearray) -> _Read:
    msg = email.message_from_bytes(bytes(raw[:_MAX_PARSE_BYTES]), policy=_POLICY)
    headers = _Headers(msg)
    problems: list[str] = []
    if msg.defects:
        problems.append("the message is malformed: " + type(msg.defects[0]).__name__)

    subject = headers.first("Subject")
    senders = [a for value in headers.raw("From") for a in _addresses(value)]
    sender_name, sender_email = senders[0] if senders else ("", "")
    if not sender_email:
        problems.append("no From address")
    elif len(senders) > 1:
        problems.append("more than one From address")
    _, reply_to = _address(headers.first("Reply-To"))
    when = _message_date(headers.first("Date"))
    if when is None:
        problems.append("no readable Date header")
    message_id = next(iter(_MSG_ID.findall(headers.first("Message-ID"))), "")[:998]
    in_reply_to = next(iter(_MSG_ID.findall(headers.first("In-Reply-To"))), "")[:998]
    references = tuple(
        m[:998]
        for value in headers.raw("References", _MAX_REFERENCES_FIELD)
        for m in _MSG_ID.findall(value)
    )
    chaser_key = headers.first("X-Chaser-Key").strip()[:255] or None

    bodies = _Bodies()
    _find_bodies(msg, bodies)
    limits = list(bodies.limits)
    if bodies.plain is not None:
        full = _normalise(bodies.plain)
        visible = full
    elif bodies.html is not None:
        visible, full = _html_texts(bodies.html)
        if len(visible) > MAX_TEXT_CHARS:
            visible = visible[:MAX_TEXT_CHARS]
            limits.append(_TEXT_LIMIT)
        full = full[: 4 * MAX_TEXT_CHARS]
    else:
        full = visible = ""
        problems.append("no text in the message")
    body = _cut_name(new_text(visible), sender_name)

    reference = _reference(subject, headers.first("X-Chaser-Reference"), body, full, problems)
    if reference is None and not in_reply_to and not references:
        problems.append("no Chaser reference and no In-Reply-To or References header")
    forwarded = bool(
        _FORWARD_SUBJECT.match(subject) or _FORWARD_MARK.search(full) or bodies.attached_message
    )
    return _Read(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        sender_name=sender_name,
        sender_email=sender_email,
        from_count=len(senders),
        reply_to=reply_to,
        subject=subject,
        when=when,
        chaser_key=chaser_key,
        visible=visible,
        full=full,
        body=body,
        reference=reference,
        forwarded=forwarded,
        auto=_auto_reply(msg, headers, subject, body or visible),
        problems=tuple(problems),
        limits=tuple(dict.fromkeys(limits)),
        authentication_failed=_authentication_failed(headers),
        authentication_results=tuple(
            headers.raw("Authentication-Results", _MAX_AUTH_FIELD)[:_MAX_AUTH_HEADERS]
        ),
        received=_received(headers),
    )


def _received(headers: _Headers) -> datetime | None:
    """When the receiving server took the message: the date of the topmost ``Received``
    header (each server prepends its own), after its last ``;``."""
    values = headers.raw("Received", 2_000)
    if not values:
        return None
    _, semi, when = values[0].rpartition(";")
    return _message_date(when.strip()) if semi else None


def _parse(
    raw: bytes,
    scale: StatusScale | None,
    known_refs: Collection[str],
    today: date | None,
    titles: Mapping[str, str] | None = None,
    asked: Sequence[str] = (),
) -> ParsedReply:
    if not isinstance(raw, bytes | bytearray):
        return _broken("the message is not bytes")
    if not raw.strip():
        return _broken("the message is empty")
    over = message_over_limits(bytes(raw))
    if over is not None:
        return _broken(over)
    read = _read(raw)
    problems = list(read.problems)
    when = read.when
    ref_day = when.astimezone(LONDON).date() if when is not None else today
    body, visible = read.body, read.visible
    updates: list[ActionReply] = []
    away: date | None = None
    acknowledged = False
    if read.auto:
        away = _away_until(body or visible, ref_day)
    elif body or (asked and ">" in visible):
        updates, split_problems, acknowledged = _updates(
            body, scale, known_refs, ref_day, titles=titles, asked=asked, visible=visible
        )
        problems.extend(split_problems)
        for u in updates:
            problems.extend(u.problems)
        if not updates and not acknowledged and not body:
            problems.append("no new text: the reply only quotes earlier mail")
    elif read.full.strip():
        problems.append("no new text: the reply only quotes earlier mail")
    problems.extend(read.limits)
    return ParsedReply(
        message_id=read.message_id,
        in_reply_to=read.in_reply_to,
        references=read.references,
        sender_name=read.sender_name,
        sender_email=read.sender_email,
        reply_to=read.reply_to,
        subject=read.subject,
        date=when,
        reference=read.reference,
        chaser_key=read.chaser_key,
        auto_reply=read.auto,
        away_until=away,
        forwarded=read.forwarded,
        body=body,
        updates=tuple(updates),
        authentication_failed=read.authentication_failed,
        problems=tuple(dict.fromkeys(problems)),
        authentication_results=read.authentication_results,
        from_count=read.from_count,
        limits=read.limits,
        acknowledged=acknowledged,
        received=read.received,
    )


class _AllText(_HtmlText):
    """Like :class:`_HtmlText`, but keeps quoted history (to find the reference in it), noting
    where :class:`_HtmlText` would have stopped."""

    def __init__(self) -> None:
        super().__init__()
        self.visible_end: int | None = None  # len(out) at the first quoted-history marker

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        if self.stopped and self.visible_end is None:
            self.visible_end = len(self.out)
        self.stopped = False


def _html_texts(html: str) -> tuple[str, str]:
    """The visible text of an HTML body (as :func:`html_to_text` gives it) and all its text,
    quoted history included, in one pass of the HTML parser."""
    parser = _AllText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        pass
    end = parser.visible_end if parser.visible_end is not None else len(parser.out)
    return _normalise(_tidy("".join(parser.out[:end]))), _normalise("".join(parser.out))


def _cut_name(body: str, name: str) -> str:
    """Drop a closing signature that starts with the sender's name (or first name) on its own."""
    if "," in name:  # "Dunkerton, Dara"
        last, _, first = name.partition(",")
        name = f"{first.strip()} {last.strip()}"
    names = {n.casefold() for n in (name.strip(), name.strip().split(" ")[0]) if n}
    if not names:
        return body
    words = name.split()
    names.add("".join(w[0] for w in words if w).casefold())  # "AP"
    names.add(words[0][0].casefold() if words and words[0] else "")  # "A"
    names.discard("")
    lines = body.split("\n")
    later = 0  # non-blank lines after line i
    ref_later = False  # ...and whether one of them starts an action's answer
    cut: int | None = None  # the earliest name line of the closing lines
    for i in range(len(lines) - 1, 0, -1):
        line = lines[i]
        if line.strip().rstrip(".,").casefold() in names and later <= 4 and not ref_later:
            cut = i
        if line.strip():
            later += 1
            ref_later = ref_later or bool(_REF_LINE.match(line))
        if later > 4:
            break  # a signature is at most a few lines: nothing further up can start one
    return "\n".join(lines[:cut]).strip() if cut is not None else body


def _reference(subject: str, header: str, body: str, full: str, problems: list[str]) -> str | None:
    strong = [
        m.group(0).upper() for text in (subject, header, body) for m in _REFERENCE.finditer(text)
    ]
    distinct = list(dict.fromkeys(strong))
    if len(distinct) > 1:
        problems.append("more than one Chaser reference: " + ", ".join(distinct))
    if distinct:
        return distinct[0]
    quoted = _REFERENCE.search(full)
    return quoted.group(0).upper() if quoted else None
