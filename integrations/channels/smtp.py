"""Email over SMTP: one persistent connection, STARTTLS, AUTH, and errors sorted into
try-again (:class:`TransientError`) and give-up (:class:`PermanentError`).

:func:`mime_bytes` (and :func:`build_mime`, the same as an EmailMessage) is pure: the same
message always gives the same MIME, and in particular the same ``Message-ID``, derived from the
outbox key (:func:`message_id`). So when the outbox sends again after a crash, the second copy
carries the first one's Message-ID: stores and clients that de-duplicate on it drop the copy, and
the others at least thread the two together. A reply to either copy quotes that
Message-ID in ``In-Reply-To``, which leads straight back to the key. SMTP offers no way to ask
"did you already take this one?", so :meth:`SmtpChannel.find_sent` returns None; docs/outbox.md
("SMTP") describes the window that remains.

Headers we deliberately do NOT set: ``Auto-Submitted: auto-generated``, ``Precedence: bulk`` and
``X-Auto-Response-Suppress: OOF``. Each of them makes Exchange and most other servers suppress
out-of-office replies, and Chaser wants those: they tell it a lead is away. (People replying by
hand are never affected either way.) The reply reader must therefore recognise auto-replies
(``Auto-Submitted`` on the *incoming* message) and never answer them, so no mail loop can start.

The connection is opened on the first send and kept open; if the server has dropped it while
idle, the next send notices at ``MAIL FROM`` (before anything was transferred), reconnects and
carries on. A failure after the message data was sent is never retried here: that is the
outbox's decision. The channel is not meant to be shared between threads (a lock makes that
safe, but serialises them); give each dispatcher worker its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import smtplib
import ssl as ssl_module
import threading
from dataclasses import replace
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, formatdate
from types import TracebackType
from typing import Any, ClassVar, Literal

import structlog

from integrations.graph.client import GraphClient
from notifications.channel import (
    KEY_HEADER,
    Address,
    Attachment,
    DeliveryError,
    OutgoingMessage,
    PermanentError,
    Receipt,
    TransientError,
)
from workflows.chasing.config import Sender

log = structlog.get_logger(__name__)

_RESERVED = {
    "from", "to", "cc", "bcc", "subject", "reply-to", "message-id", "date", "sender",
    "mime-version", "content-type", "content-transfer-encoding", KEY_HEADER.lower(),
}  # fmt: skip
_ADDRESS = re.compile(r"^[^\s<>@,;\"]+@[^\s<>@,;\"]+$")
_CONTENT_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII, no colon
_CRLF = b"\r\n"
_BOUNDARY_MARK = "=_chaser_"


def message_id(key: str, domain: str) -> str:
    """``<32 hex digits of sha256(key)@domain>``: the same key always gives the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def mime_bytes(
    message: OutgoingMessage,
    *,
    domain: str,
    from_name: str = "",
    date: datetime | None = None,
) -> bytes:
    """The message as RFC 5322 bytes (CRLF line ends, 7-bit clean), ready for DATA.

    text/plain, or multipart/alternative with the HTML; both parts UTF-8, 7bit when they are
    ASCII and quoted-printable otherwise (so no server needs 8BITMIME and no line is too long).
    Pure and deterministic given ``date`` (when None, the current time goes in ``Date``): the
    Message-ID and the MIME boundary both come from the key. From is ``message.sender``;
    ``message.headers`` are added unless they would replace one set here.

    Written by hand rather than with :mod:`email` because this is the per-message cost of
    sending: the email package takes about 3 ms a message, this well under 0.1 ms.
    :func:`build_mime` parses the result for anyone who wants an EmailMessage.
    """
    digest = hashlib.sha256(message.key.encode("utf-8")).hexdigest()
    sender = formataddr((_squash(from_name), message.sender)) if from_name else message.sender
    out = [
        _header("From", sender),
        _address_header("To", message.to),
    ]
    if message.cc:
        out.append(_address_header("Cc", message.cc))
    if message.reply_to is not None:
        out.append(_address_header("Reply-To", (message.reply_to,)))
    out.append(_header("Subject", message.subject))
    out.append(_header("Date", format_datetime(date) if date else formatdate(usegmt=True)))
    out.append(_header("Message-ID", f"<{digest[:32]}@{domain}>"))
    out.append(_header(KEY_HEADER, message.key))
    for name, value in message.headers.items():
        if name.lower() not in _RESERVED and _HEADER_NAME.match(name):
            out.append(_header(name, value))
    out.append(b"MIME-Version: 1.0\r\n")
    body = _body(message, digest)
    if not message.attachments:
        out.append(body)
        return b"".join(out)
    mixed = f"{_BOUNDARY_MARK}m{digest[32:56]}".encode("ascii")
    out.append(b'Content-Type: multipart/mixed;\r\n boundary="' + mixed + b'"\r\n')
    out.append(_CRLF)
    out.append(b"--" + mixed + _CRLF + body + _CRLF)
    for attachment in message.attachments:
        out.append(b"--" + mixed + _CRLF + _attachment(attachment) + _CRLF)
    out.append(b"--" + mixed + b"--" + _CRLF)
    return b"".join(out)


def _body(message: OutgoingMessage, digest: str) -> bytes:
    """The text part, or the text and HTML alternatives, with their headers."""
    if not message.html:
        return _part("plain", message.text)
    boundary = f"{_BOUNDARY_MARK}{digest[32:56]}".encode("ascii")
    out = [b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n', _CRLF]
    for subtype, text in (("plain", message.text), ("html", message.html)):
        out.append(b"--" + boundary + _CRLF)
        out.append(_part(subtype, text))
        out.append(_CRLF)
    out.append(b"--" + boundary + b"--" + _CRLF)
    return b"".join(out)


def _attachment(attachment: Attachment) -> bytes:
    """One attached file, base64 in 76-character lines; the name kept to safe ASCII."""
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", attachment.filename)[:120] or "attachment"
    kind = (
        attachment.content_type
        if _CONTENT_TYPE.match(attachment.content_type)
        else ("application/octet-stream")
    )
    encoded = base64.encodebytes(attachment.data).replace(b"\n", _CRLF)
    head = (
        f'Content-Type: {kind}; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
    )
    return head.encode("ascii") + _CRLF + encoded


def build_mime(
    message: OutgoingMessage,
    *,
    domain: str,
    from_name: str = "",
    date: datetime | None = None,
) -> EmailMessage:
    """:func:`mime_bytes` as an :class:`~email.message.EmailMessage` (for files and tests)."""
    raw = mime_bytes(message, domain=domain, from_name=from_name, date=date)
    return message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email_policy.default)


def _squash(value: str) -> str:
    """One line: header values and display names can never smuggle in a CR or LF."""
    return " ".join(value.split())


def _part(subtype: str, text: str) -> bytes:
    """Headers, blank line and body of one text part.

    ASCII text with no line over 998 characters goes as it is (7bit); anything else as
    quoted-printable UTF-8. (The rendered HTML is ASCII: non-ASCII characters in it are
    character references.) The MIME boundary starts "=_", which quoted-printable never
    produces, and 7bit text that happens to contain it is sent quoted-printable.
    """
    lines = text.splitlines()
    if text.isascii() and all(len(line) <= 998 for line in lines) and _BOUNDARY_MARK not in text:
        cte, body = "7bit", "\r\n".join(lines).encode("ascii") + _CRLF
    else:
        encoded = binascii.b2a_qp("\n".join(lines).encode("utf-8"), istext=True)
        cte, body = "quoted-printable", encoded.replace(b"\n", _CRLF) + _CRLF
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    return head.encode("ascii") + _CRLF + body


def _header(name: str, value: str) -> bytes:
    """``Name: value`` folded at 78 characters; non-ASCII as RFC 2047 encoded words."""
    value = _squash(value)
    if not value.isascii():
        return f"{name}: {_encoded_words(value, len(name) + 2)}\r\n".encode("ascii")
    line = f"{name}: {value}"
    if len(line) <= 78:
        return line.encode("ascii") + _CRLF
    words = value.split(" ")
    lines: list[str] = []
    current = f"{name}: {words[0]}"
    for word in words[1:]:
        if len(current) + 1 + len(word) > 78:
            lines.append(current)
            current = " " + word
        else:
            current += " " + word
    lines.append(current)
    return "\r\n".join(lines).encode("ascii") + _CRLF


def _encoded_words(value: str, first_line_used: int) -> str:
    """RFC 2047 base64 words, lines within 76 characters, never splitting a character."""
    words: list[str] = []
    limit = max(6, (76 - first_line_used - 12) // 4 * 3)  # bytes that fit on the first line
    chunk = bytearray()
    for char in value:
        b = char.encode("utf-8")
        if len(chunk) + len(b) > limit:
            words.append(_b64_word(bytes(chunk)))
            chunk.clear()
            limit = 45  # " =?utf-8?b?" + 60 + "?=" on each later line
        chunk += b
    if chunk:
        words.append(_b64_word(bytes(chunk)))
    return "\r\n ".join(words)


def _b64_word(data: bytes) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(data, newline=False).decode("ascii") + "?="


def _address_header(name: str, addresses: tuple[Address, ...]) -> bytes:
    items = [
        formataddr((_squash(a.name), "".join(a.email.split())))
        if a.name
        else "".join(a.email.split())
        for a in addresses
    ]
    line = f"{name}: " + ", ".join(items)
    if len(line) <= 78 or len(items) == 1:
        return line.encode("utf-8") + _CRLF
    return (f"{name}: " + ",\r\n ".join(items)).encode("utf-8") + _CRLF


class SmtpChannel:
    """Sends email through one SMTP server, keeping the connection open between messages.

    ``starttls``: True requires it, "auto" uses it when the server offers it, False never does.
    ``ssl``: implicit TLS from the first byte (port 465). Credentials are never sent over an
    unencrypted connection unless ``starttls=False`` says that is intended (a local relay).
    ``ssl_context`` defaults to the system's trusted CAs with hostname checking.
    The envelope sender (MAIL FROM, where bounces go) is ``sender_address``, whose domain also
    goes in the Message-ID; the From header is ``message.sender`` (``sender_address`` if empty).
    """

    name = "email"
    kind: ClassVar[str] = "smtp"
    delivers: ClassVar[str] = "email"

    @classmethod
    def configured(cls, settings: Any) -> bool:
        return bool(settings.smtp_host)

    @classmethod
    def from_settings(
        cls, settings: Any, *, sender: Sender, graph: GraphClient | None
    ) -> SmtpChannel:
        """``CHASER_SMTP_*`` (see docs/settings.md), sending as chasing.yaml's sender."""
        password = settings.smtp_password
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            sender_address=sender.mailbox,
            from_name=sender.name,
            username=settings.smtp_username or None,
            password=password.get_secret_value() if password is not None else None,
            starttls=settings.smtp_starttls,
            ssl=settings.smtp_ssl,
        )

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender_address: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool | Literal["auto"] = "auto",
        ssl: bool = False,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        ssl_context: ssl_module.SSLContext | None = None,
        from_name: str = "",
    ) -> None:
        if ssl and starttls is True:
            raise ValueError("choose ssl (implicit TLS, port 465) or starttls (port 587), not both")
        if starttls not in (True, False, "auto"):
            raise ValueError(f"starttls must be true, false or 'auto', not {starttls!r}")
        self.host = host
        self.port = port
        self.sender_address = sender_address
        self.domain = sender_address.rpartition("@")[2] or "localhost"
        self.username = username
        self._password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.from_name = from_name
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        #: Connections opened so far (for tests and metrics).
        self.connections_opened = 0

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpChannel({self.host!r}, {self.port}, username={self.username!r})"

    # -- the Channel interface -------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> Receipt:
        recipients = list(dict.fromkeys(a.email for a in (*message.to, *message.cc)))
        _check_addresses(self.sender_address, recipients)
        if not message.sender:
            message = replace(message, sender=self.sender_address)
        data = mime_bytes(message, domain=self.domain, from_name=self.from_name)
        with self._lock:
            return self._send(data, recipients, message_id(message.key, self.domain))

    def find_sent(self, message: OutgoingMessage) -> Receipt | None:
        """SMTP cannot say whether a message was accepted before a crash: always None."""
        return None

    def close(self) -> None:
        """QUIT and close the connection (the next send opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                conn.close()

    def __enter__(self) -> SmtpChannel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- one transaction -------------------------------------------------------------------

    def _send(self, data: bytes, recipients: list[str], msgid: str) -> Receipt:
        try:
            conn = self._mail_from()
            refused: dict[str, tuple[int, bytes]] = {}
            for rcpt in recipients:
                code, reply = conn.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
            if len(refused) == len(recipients):
                self._reset(conn)
                raise _recipients_error(refused, recipients)
            try:
                code, reply = conn.data(data)
            except smtplib.SMTPDataError as exc:  # DATA itself was refused
                code, reply = exc.smtp_code, _as_bytes(exc.smtp_error)
            if code != 250:
                self._reset(conn)
                raise _reply_error(code, reply, "the mail server refused the message")
        except DeliveryError:
            raise
        except Exception as exc:
            self._drop()
            raise _classify(exc) from exc
        detail = f"{code} {_text(reply)}"
        if refused:
            detail += "; refused: " + "; ".join(
                f"{_role(r, recipients)} ({c} {_text(m)})" for r, (c, m) in refused.items()
            )
        return Receipt(provider_id=msgid, detail=detail[:500])

    def _mail_from(self) -> smtplib.SMTP:
        """MAIL FROM on the open connection, or on a new one if the server dropped it."""
        reused = self._conn is not None
        conn = self._connection()
        try:
            code, reply = conn.mail(self.sender_address)
        except (smtplib.SMTPServerDisconnected, OSError):
            if not reused:
                raise
            code, reply = 421, b"connection lost while idle"
        if code == 421 and reused:  # dropped while idle: nothing was sent, so start again
            log.info("smtp.reconnect", host=self.host, port=self.port)
            self._drop()
            conn = self._connection()
            code, reply = conn.mail(self.sender_address)
        if code != 250:
            if code == 421:
                self._drop()
            else:
                self._reset(conn)
            raise _reply_error(
                code,
                reply,
                "the mail server refused the sender address",
                fix="check the sender address setting and that the account may send as it",
            )
        return conn

    # -- the connection --------------------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _context(self) -> ssl_module.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl_module.create_default_context()
        return self._ssl_context

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        if self.ssl:
            conn = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._context(),
            )
        else:
            conn = smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
        try:
            conn.ehlo_or_helo_if_needed()
            encrypted = self.ssl
            if not self.ssl and self.starttls is not False:
                if conn.has_extn("starttls"):
                    conn.starttls(context=self._context())
                    conn.ehlo()
                    encrypted = True
                elif self.starttls is True:
                    raise PermanentError(
                        f"the mail server {self.host}:{self.port} does not offer STARTTLS: "
                        "check the host and port (587 usually offers it; for 465 set ssl), "
                        "or set starttls to false for a relay that needs no encryption"
                    )
            if self.username:
                if not encrypted and self.starttls == "auto":
                    raise PermanentError(
                        f"the mail server {self.host}:{self.port} offers no STARTTLS, so the "
                        "password would travel unencrypted: use a port with TLS, or set "
                        "starttls to false if that is really intended"
                    )
                conn.login(self.username, self._password or "")
        except BaseException:
            conn.close()
            raise
        self.connections_opened += 1
        log.info(
            "smtp.connected",
            host=self.host,
            port=self.port,
            tls=encrypted,
            auth=bool(self.username),
        )
        return conn

    def _reset(self, conn: smtplib.SMTP) -> None:
        """RSET after a refused transaction, keeping the connection if it still answers."""
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


# -- classifying failures ------------------------------------------------------------------


def _classify(exc: Exception) -> DeliveryError:
    """TransientError or PermanentError for whatever went wrong talking to the server."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if 400 <= exc.smtp_code < 500:
            return TransientError(f"SMTP login failed for now ({_reply(exc)})")
        return PermanentError(
            f"the mail server refused the SMTP username or password ({_reply(exc)}): "
            "check the SMTP username and password settings"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(
            f"the mail server does not support what Chaser needs ({exc}): for AUTH, it may only "
            "offer it after STARTTLS or on another port; check the SMTP host, port and TLS settings"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(f"the mail server closed the connection ({exc})")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_error(exc.smtp_code, _as_bytes(exc.smtp_error), "the mail server said no")
    if isinstance(exc, smtplib.SMTPException):
        return TransientError(f"SMTP error: {type(exc).__name__}: {exc}")
    if isinstance(exc, ssl_module.SSLCertVerificationError):
        return PermanentError(
            f"the mail server's TLS certificate was not trusted ({exc.verify_message}): check the "
            "SMTP host name matches its certificate, or give Chaser the CA that issued it"
        )
    if isinstance(exc, ssl_module.SSLError):
        return TransientError(f"TLS error talking to the mail server: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        return TransientError("timed out talking to the mail server")
    if isinstance(exc, OSError):
        return TransientError(f"could not reach the mail server: {type(exc).__name__}: {exc}")
    return TransientError(f"SMTP error: {type(exc).__name__}")


def _reply_error(code: int, reply: bytes, what: str, *, fix: str = "") -> DeliveryError:
    text = f"{what} ({code} {_text(reply)})"
    if 400 <= code < 500:
        return TransientError(text)
    return PermanentError(f"{text}: {fix}" if fix else text)


def _recipients_error(
    refused: dict[str, tuple[int, bytes]], recipients: list[str]
) -> DeliveryError:
    parts = [f"{_role(r, recipients)} ({c} {_text(m)})" for r, (c, m) in refused.items()]
    text = "the mail server refused every recipient: " + "; ".join(parts)
    if any(400 <= c < 500 for c, _ in refused.values()):
        return TransientError(text)
    return PermanentError(text + ": check these people's email addresses in the people directory")


def _role(rcpt: str, recipients: list[str]) -> str:
    """ "recipient 1 of 2" rather than the address itself (log lines carry no addresses)."""
    return f"recipient {recipients.index(rcpt) + 1} of {len(recipients)}"


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(_as_bytes(exc.smtp_error))}"


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "replace")


def _text(reply: bytes) -> str:
    return " ".join(reply.decode("utf-8", "replace").split())[:200]


def _check_addresses(sender: str, recipients: list[str]) -> None:
    if not recipients:
        raise PermanentError("the message has no recipients")
    for i, addr in enumerate([sender, *recipients]):
        if not addr.isascii() or not _ADDRESS.match(addr):
            what = "the sender address" if i == 0 else f"recipient {i} of {len(recipients)}"
            raise PermanentError(
                f"{what} is not an address this channel can send to (it must be plain ASCII "
                "name@domain): check it in the settings or the people directory"
            )
