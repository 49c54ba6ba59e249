"""The workbooks an admin uploaded to ``/upload``, kept in the data directory (``uploads/``)
while the dry run waits to be confirmed or abandoned.

Kept apart from the web app so that the service's tick can clear them without importing it. An
upload is dated by the service's clock (its modification time), so a simulated day ages it as
it ages everything else.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

SUFFIXES = (".xlsx", ".xls", ".csv")
#: How long an uploaded workbook waits for its dry run to be confirmed or abandoned. A workbook
#: names staff and must not linger, and a dry run older than this may no longer show what the
#: import would do.
KEPT_FOR = dt.timedelta(hours=24)


def keep_upload(path: Path, data: bytes, now: dt.datetime) -> None:
    """Write an upload, dated ``now`` by the service's clock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (now.timestamp(), now.timestamp()))


def expired(path: Path, now: dt.datetime) -> bool:
    return path.stat().st_mtime < (now - KEPT_FOR).timestamp()


def sweep_uploads(uploads: Path, now: dt.datetime) -> int:
    """Delete the uploads kept longer than :data:`KEPT_FOR`; how many were deleted."""
    if not uploads.is_dir():
        return 0
    gone = 0
    for path in uploads.iterdir():
        if path.is_file() and path.suffix in SUFFIXES and expired(path, now):
            path.unlink(missing_ok=True)
            gone += 1
    if gone:
        log.info("uploads_expired", files=gone)
    return gone
