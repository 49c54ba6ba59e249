"""structlog set-up: readable in a terminal, JSON lines in production.

Log lines carry identifiers (plan codes, refs, counts), never names, emails or message bodies.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure_logging(*, json: bool | None = None, level: str | None = None) -> None:
    if json is None:
        fmt = os.environ.get("CHASER_LOG_FORMAT", "").lower()
        json = fmt == "json" or (fmt != "console" and not sys.stderr.isatty())
    lvl = getattr(
        logging, (level or os.environ.get("CHASER_LOG_LEVEL", "INFO")).upper(), logging.INFO
    )
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Not cached: a cached logger keeps the configuration of its first use for good, so a
        # later configure_logging (the demo lowering the level after the CLI set it up, or a
        # test's capture_logs after a CLI test) would not reach it. Chaser logs little enough
        # that resolving the configuration on each call costs nothing measurable.
        cache_logger_on_first_use=False,
    )
