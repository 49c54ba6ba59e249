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

import hashlib
import re
import smtplib
import ssl as ssl_module
import threading
from dataclasses import replace
from datetime import datetime
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
_BOUNDARY_MARK = "=_chaser_"
#: RFC 5322 on the wire: CRLF line ends, headers folded at 78 characters.
_POLICY = email_policy.SMTP


#: RFC 5321 4.5.3.2.6: a client should wait 10 minutes for the reply to the DATA terminator.
DATA_REPLY_TIMEOUT = 600.0


def message_id(key: str, domain: str, token: str = "") -> str:
    """``<token@domain>``, the token the outbox stamped (``message.message_id_token``, keyed
    with the service's secret), else 32 hex digits of sha256(key): the same message always
    gives the same id."""
    local = token or hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{local}@{domain}>"


def mime_bytes(
    message: OutgoingMessage,
    *,
    domain: str,
    from_name: str = "",
    date: datetime | None = None,
) -> bytes:
    """The message as RFC 5322 bytes (CRLF line ends, 7-bit clean), ready for DATA."""
    return build_mime(message, domain=domain, from_name=from_name, date=date).as_bytes()


def build_mime(
    message: OutgoingMessage,
    *,
    domain: str,
    from_name: str = "",
    date: datetime | None = None,
) -> EmailMessage:
    """The message as an :class:`~email.message.EmailMessage` (pure, and deterministic given
    ``date``; when None, ``message.written_at``, else the current time goes in ``Date``).

    text/plain, or multipart/alternative with the HTML, inside multipart/mixed when there are
    attachments. Text parts are UTF-8, 7bit when they are ASCII with short lines and
    quoted-printable otherwise, so no server needs 8BITMIME and no line is too long. The
    Message-ID and the MIME boundaries come from the key. From is ``message.sender``, under
    ``message.sender_name`` (else ``from_name``);
    ``message.headers`` are added unless they would replace one set here or are not valid
    header names; no header value can carry a line break (so none can smuggle in a ``Bcc``).
    """
    digest = hashlib.sha256(message.key.encode("utf-8")).hexdigest()
    mime = EmailMessage(policy=_POLICY)
    name = message.sender_name or from_name
    sender = formataddr((_squash(name), message.sender)) if name else message.sender
    mime["From"] = sender
    mime["To"] = _addresses(message.to)
    if message.cc:
        mime["Cc"] = _addresses(message.cc)
    if message.reply_to is not None:
        mime["Reply-To"] = _addresses((message.reply_to,))
    mime["Subject"] = _squash(message.subject)
    date = date or message.written_at
    mime["Date"] = format_datetime(date) if date else formatdate(usegmt=True)
    mime["Message-ID"] = message_id(message.key, domain, message.message_id_token)
    mime[KEY_HEADER] = _squash(message.key)
    for name, value in message.headers.items():
        if name.lower() not in _RESERVED and _HEADER_NAME.match(name):
            mime[name] = _squash(value)
    mime["MIME-Version"] = "1.0"  # here, so the body's own headers come last, before it
    _set_text(mime, message.text, "plain")
    if message.html:
        _set_text(mime, message.html, "html", alternative=True)
        mime.set_boundary(f"{_BOUNDARY_MARK}{digest[32:56]}")
    if message.calendar:
        _add_calendar(mime, message.calendar)
        mime.set_boundary(f"{_BOUNDARY_MARK}{digest[32:56]}")
    if message.attachments:
        mime.make_mixed()
        for attachment in message.attachments:
            maintype, _, subtype = _content_type(attachment.content_type).partition("/")
            mime.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype,
                filename=_safe_filename(attachment.filename),
            )
        mime.set_boundary(f"{_BOUNDARY_MARK}m{digest[32:56]}")
    return mime


_METHOD = re.compile(r"^METHOD:([A-Z-]+)\r?$", re.M)


def _add_calendar(mime: EmailMessage, calendar: str) -> None:
    """An iMIP invitation (RFC 6047): the iCalendar object as a ``text/calendar`` alternative
    with its ``method`` parameter, which Outlook and Gmail show with Accept and Decline."""
    found = _METHOD.search(calendar)
    method = found.group(1) if found else "PUBLISH"
    mime.add_alternative(
        calendar.replace("\r\n", "\n"),
        subtype="calendar",
        charset="utf-8",
        cte="quoted-printable" if not calendar.isascii() else "7bit",
        params={"method": method},
    )


def _set_text(mime: EmailMessage, text: str, subtype: str, *, alternative: bool = False) -> None:
    """ASCII with no line over 998 characters goes as it is (7bit); anything else as
    quoted-printable UTF-8. Text that happens to contain the boundary mark is quoted too
    (quoted-printable writes its "=" as "=3D", so it can never close a part)."""
    lines = text.splitlines()
    plain = text.isascii() and all(len(line) <= 998 for line in lines)
    cte = "7bit" if plain and _BOUNDARY_MARK not in text else "quoted-printable"
    body = "\n".join(lines) + "\n"
    if alternative:
        mime.add_alternative(body, subtype=subtype, charset="utf-8", cte=cte)
    else:
        mime.set_content(body, subtype=subtype, charset="utf-8", cte=cte)


def _squash(value: str) -> str:
    """One line: header values and display names can never smuggle in a CR or LF."""
    return " ".join(value.split())


def _addresses(addresses: tuple[Address, ...]) -> str:
    return ", ".join(
        formataddr((_squash(a.name), "".join(a.email.split())))
        if a.name
        else "".join(a.email.split())
        for a in addresses
    )


def _content_type(value: str) -> str:
    return value if _CONTENT_TYPE.match(value) else "application/octet-stream"


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._ -]", "_", name)[:120] or "attachment"


class SmtpChannel:
    """Sends email through one SMTP server, keeping the connection open between messages.

    ``starttls``: True requires it, "auto" uses it when the server offers it, False never does.
    ``ssl``: implicit TLS from the first byte (port 465). Credentials are never sent over an
    unencrypted connection unless ``starttls=False`` says that is intended (a local relay).
    ``ssl_context`` defaults to the system's trusted CAs with hostname checking.
    The From header and the envelope sender (MAIL FROM, where bounces go) are
    ``message.sender``, the mailbox of the plan the message is about (``sender_address`` if
    empty), so one plan's bounces never land in another's mailbox; ``sender_address``'s
    domain goes in the Message-ID.
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
        data_timeout: float = DATA_REPLY_TIMEOUT,
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
        self.data_timeout = max(timeout, data_timeout)
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
        if not message.sender:
            message = replace(message, sender=self.sender_address)
        _check_addresses(message.sender, recipients)
        data = mime_bytes(message, domain=self.domain, from_name=self.from_name)
        with self._lock:
            return self._send(
                data,
                message.sender,
                recipients,
                message_id(message.key, self.domain, message.message_id_token),
            )

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

    def _send(self, data: bytes, sender: str, recipients: list[str], msgid: str) -> Receipt:
        try:
            conn = self._mail_from(sender)
            refused: dict[str, tuple[int, bytes]] = {}
            for rcpt in recipients:
                code, reply = conn.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
            if len(refused) == len(recipients):
                self._reset(conn)
                raise _recipients_error(refused, recipients)
            try:
                code, reply = self._data(conn, data)
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

    def _data(self, conn: smtplib.SMTP, data: bytes) -> tuple[int, bytes]:
        """DATA, waiting as long as RFC 5321 asks for the answer to the final dot.

        Once the message has gone, giving up early cannot un-send it: a server that is slow to
        say 250 (its queue on a busy disk, a content scan) would get the message again on the
        retry. So the wait is ``data_timeout`` (10 minutes), not the per-command timeout."""
        sock = conn.sock
        if sock is not None:
            sock.settimeout(self.data_timeout)
        try:
            return conn.data(data)
        finally:
            if conn.sock is not None:
                conn.sock.settimeout(self.timeout)

    def _mail_from(self, sender: str) -> smtplib.SMTP:
        """MAIL FROM on the open connection, or on a new one if the server dropped it."""
        reused = self._conn is not None
        conn = self._connection()
        try:
            code, reply = conn.mail(sender)
        except (smtplib.SMTPServerDisconnected, OSError):
            if not reused:
                raise
            code, reply = 421, b"connection lost while idle"
        if code == 421 and reused:  # dropped while idle: nothing was sent, so start again
            log.info("smtp.reconnect", host=self.host, port=self.port)
            self._drop()
            conn = self._connection()
            code, reply = conn.mail(sender)
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
