"""One log format for everything in the process: Chaser's structlog lines and the libraries'.

structlog renders through the standard library, and the standard library's records (uvicorn,
alembic, APScheduler, msal, aiosmtpd…) pass through the same processors, so every line is one
JSON object in production (``CHASER_LOG_FORMAT=json``, or ``auto`` off a terminal) or one line
of readable text at a terminal.

Chaser's own lines carry identifiers (plan codes, refs, counts), never names, emails or
message bodies. Libraries' lines are not Chaser's to word, so every line, Chaser's included, is
passed through :func:`redact` last: email addresses, bearer tokens, JWTs and secrets in URL
query strings (a Teams webhook's ``sig=``, an OAuth ``code=``) are masked before anything is
written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog
from structlog.types import EventDict, Processor

Format = Literal["auto", "json", "console"]
FIRST_PARTY = ("chaser", "workflows", "notifications", "integrations")

#: Libraries whose INFO lines are noise or hold what we must not log (each request's URL).
QUIET = {
    "uvicorn.access": logging.WARNING,  # each request line would carry a reply link's token
    "urllib3": logging.WARNING,
    "msal": logging.WARNING,
    "alembic": logging.WARNING,  # "Context impl SQLiteImpl." whenever a store is opened
    "apscheduler": logging.WARNING,  # "Running job" every tick; a skipped tick still shows
    "aiosmtpd": logging.WARNING,  # every connection and command
    "mail.log": logging.WARNING,  # aiosmtpd's other logger
}

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:sig|code|token|access_token|client_secret|password|key|\$deltatoken|"
    r"\$skiptoken)=)[^&\s\"']+"
)
#: The reply form's links carry a signed token in the path: /r/<token>.
_LINK_TOKEN = re.compile(r"(/r/)[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}")


def redact_text(text: str) -> str:
    """``text`` with addresses, tokens and URL secrets masked."""
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _JWT.sub("[token]", text)
    text = _QUERY_SECRET.sub(r"\1[redacted]", text)
    text = _LINK_TOKEN.sub(r"\1[token]", text)
    return _EMAIL.sub("[email]", text)


def redact(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: every string in the line, redacted (see :func:`redact_text`)."""
    return {key: _redacted(value) for key, value in event_dict.items()}


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, MutableMapping):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _drop_exception_locals(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """An exception is logged as its type and where it was raised, not its message or
    traceback: those can quote the raw email or the SQL parameters being handled."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        if isinstance(exc_info, tuple) and exc_info[0] is not None:
            event_dict["error"] = exc_info[0].__name__
            event_dict["error_where"] = _where(exc_info[2])
    return event_dict


def _where(tb: Any) -> str:
    """``module:line`` of the innermost frame of Chaser's own code (or the innermost of all)."""
    found = ""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        here = f"{module}:{tb.tb_lineno}"
        if (
            module.split(".")[0] in ("chaser", "workflows", "notifications", "integrations")
            or not found
        ):
            found = here
        tb = tb.tb_next
    return found


class _ChaserHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our handler on the root logger (marked, so configuring again replaces only it).

    It writes to whatever ``sys.stderr`` is when a line is written (a test runner may swap it),
    and holds back the libraries' chatter below :data:`QUIET`'s levels, without changing those
    loggers' own levels (so other handlers, a test's among them, still see everything).
    """

    def __init__(self, level: int) -> None:
        super().__init__(sys.stderr)
        self.quiet = {name: max(threshold, level) for name, threshold in QUIET.items()}

    def filter(self, record: logging.LogRecord) -> bool:
        for name, threshold in self.quiet.items():
            if (record.name == name or record.name.startswith(name + ".")) and (
                record.levelno < threshold
            ):
                return False
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(*, fmt: Format = "auto", level: str = "INFO") -> None:
    """Send every log line, Chaser's and the libraries', to standard error in one format."""
    as_json = not sys.stderr.isatty() if fmt == "auto" else fmt == "json"
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # A traceback's frames can hold a raw email or SQL parameters: only when debugging.
        structlog.processors.format_exc_info if lvl <= logging.DEBUG else _drop_exception_locals,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=_no_traceback)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a cached logger keeps the configuration of its first use for good, so a
        # later configure_logging (the demo lowering the level after the CLI set it up, or a
        # test's capture_logs after a CLI test) would not reach it.
        cache_logger_on_first_use=False,
    )
    handler = _ChaserHandler(lvl)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ChaserHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lvl)
    logging.captureWarnings(True)


def _no_traceback(sio: Any, exc_info: Any) -> None:
    """Console lines name the error, as JSON ones do; tracebacks are not printed."""
