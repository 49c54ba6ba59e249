"""Reload ``cycles.yaml`` while the service runs, refusing bad edits.

The service's tick calls :meth:`CyclesReloader.poll` once a minute::

    reloader = CyclesReloader(settings.config_dir / "cycles.yaml",
                              status_path=default_status_path(default_data_dir()))
    ...
    config = reloader.poll(now)      # in tick(now)

``poll`` looks at the file's modification time and size; only when they change does it read
the file and compare its SHA-256 with the last version seen. A changed file is validated in
full. A valid one replaces the running config (logged as ``cycles_config_loaded``); an invalid
one is refused: the last good config keeps running, the problems are logged as
``cycles_config_rejected`` (line numbers and keys only: no values, which may hold names or
addresses) and written to the *status file*.

The status file is JSON (schema in ``docs/cycles.md``) in the data directory, not next to the
config, because the config directory may be read-only or under version control.
``chaser cycles validate`` re-validates the file itself (so it always shows the current
problems) and reads the status file to say which version the running service is using.

If the file is invalid when the service starts, there is no last good config: ``poll`` raises
:class:`~workflows.calendar.cycles.CyclesConfigError` and the service should refuse to start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from workflows.calendar.cycles import (
    ConfigProblem,
    CyclesConfig,
    CyclesConfigError,
    parse_cycles,
)

__all__ = ["CyclesReloader", "ReloadStatus", "default_status_path", "read_status"]

STATUS_SCHEMA = "chaser.cycles.reload-status/1"


def default_status_path(data_dir: Path, plan_code: str = "") -> Path:
    """Where the service records the reload state of ``cycles.yaml`` (of one plan's, when the
    deployment runs several)."""
    name = f"cycles-reload-{plan_code}.json" if plan_code else "cycles-reload.json"
    return data_dir / "status" / name


@dataclass(frozen=True)
class ReloadStatus:
    """What the running service last did with the file (the status file's content)."""

    path: str
    #: ``"loaded"`` when the file on disk is the running config, ``"rejected"`` when it was
    #: refused and an older version keeps running.
    state: str
    checked_at: str
    #: When the running config was loaded and the SHA-256 of the file it came from.
    loaded_at: str | None = None
    loaded_sha256: str | None = None
    rejected_sha256: str | None = None
    problems: list[str] = field(default_factory=list)
    schema: str = STATUS_SCHEMA

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReloadStatus:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


def read_status(status_path: Path) -> ReloadStatus | None:
    """The status file, or ``None`` if there is none (or it is unreadable)."""
    try:
        data = json.loads(status_path.read_text(encoding="utf-8"))
        return ReloadStatus.from_json(data)
    except (OSError, ValueError, TypeError):
        return None


class CyclesReloader:
    """Keeps the last good ``cycles.yaml`` and picks up valid edits."""

    def __init__(self, path: Path, *, status_path: Path | None = None) -> None:
        self.path = Path(path)
        self.status_path = status_path
        self._config: CyclesConfig | None = None
        self._loaded_at: dt.datetime | None = None
        self._loaded_sha: str | None = None
        self._seen_sha: str | None = None
        self._signature: tuple[int, int] | None = None
        self._problems: list[ConfigProblem] = []
        self._log = structlog.get_logger("chaser.config_reload")

    @property
    def config(self) -> CyclesConfig | None:
        """The running config (the last good version), if any."""
        return self._config

    @property
    def problems(self) -> list[ConfigProblem]:
        """Problems with the file on disk when it was last refused; empty when it is running."""
        return list(self._problems)

    def poll(self, now: dt.datetime) -> CyclesConfig:
        """Reload if the file changed; return the running config.

        Raises :class:`CyclesConfigError` only when no good version has ever been loaded."""
        signature = self._stat()
        if signature is not None and signature == self._signature and self._config is not None:
            return self._config
        self._signature = signature
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            problem = ConfigProblem(str(self.path), None, "", f"cannot read the file ({exc})")
            return self._reject(now, None, [problem])
        sha = hashlib.sha256(raw).hexdigest()
        if sha == self._seen_sha and self._config is not None:
            return self._config
        self._seen_sha = sha
        try:
            text = raw.decode("utf-8")
            config = parse_cycles(text, source=str(self.path))
        except UnicodeDecodeError:
            problem = ConfigProblem(str(self.path), None, "", "is not UTF-8 text; save it as UTF-8")
            return self._reject(now, sha, [problem])
        except CyclesConfigError as exc:
            return self._reject(now, sha, exc.problems)
        self._config = config
        self._loaded_at = now
        self._loaded_sha = sha
        self._problems = []
        self._log.info(
            "cycles_config_loaded", path=str(self.path), groups=len(config.groups), sha256=sha[:12]
        )
        self._write_status(now, "loaded", None)
        return config

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _reject(
        self, now: dt.datetime, sha: str | None, problems: list[ConfigProblem]
    ) -> CyclesConfig:
        self._problems = list(problems)
        self._log.warning(
            "cycles_config_rejected",
            path=str(self.path),
            problems=len(problems),
            # Lines and keys only: the messages can quote values (names, addresses).
            where=[f"{p.line or '-'}:{p.key}" for p in problems[:20]],
            sha256=sha[:12] if sha else None,
            keeps_running=self._loaded_sha[:12] if self._loaded_sha else None,
        )
        self._write_status(now, "rejected", sha)
        if self._config is None:
            raise CyclesConfigError(problems)
        return self._config

    def _write_status(self, now: dt.datetime, state: str, rejected_sha: str | None) -> None:
        if self.status_path is None:
            return
        status = ReloadStatus(
            path=str(self.path.resolve()),
            state=state,
            checked_at=now.isoformat(),
            loaded_at=self._loaded_at.isoformat() if self._loaded_at else None,
            loaded_sha256=self._loaded_sha,
            rejected_sha256=rejected_sha,
            problems=[str(p) for p in self._problems],
        )
        try:
            self.status_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.status_path.with_suffix(".tmp")
            tmp.write_text(status.to_json(), encoding="utf-8")
            os.replace(tmp, self.status_path)
        except OSError as exc:
            self._log.warning("cycles_status_not_written", error=type(exc).__name__)
