"""Pick up a plan's ``chasing.yaml`` and ``digest.yaml`` while the service runs.

An admin saves them on ``/settings/chasing`` and ``/settings/digest`` (or edits the files); the
service's tick calls :meth:`PlanSettingsReloader.poll` for each plan before it chases, so the
saved settings are the ones the next tick uses::

    plan.settings.poll(plan, now)      # in tick(now), before the plan is chased

``poll`` looks at each file's modification time and size, and reads a file only when they
change; a file whose SHA-256 is the one last seen is not loaded again. A changed file is checked
as at start-up (the same loaders, against the running calendar's group codes). A good one
replaces the plan's running settings (logged as ``chasing_config_loaded`` or
``digest_config_loaded``); a bad one is refused and the last good one keeps running (logged as
``chasing_config_rejected`` or ``digest_config_rejected``, with lines and keys only: the
messages can quote names and addresses).

A few of ``chasing.yaml``'s keys are wired into the service's connections when it starts:
``plan`` and ``partnership`` (whose store and directory the plan is), ``sender.mailbox`` (the
mailbox the channels send from and the inbox reads) and ``form_url`` (where the web app
listens). A change to one of them keeps its running value until the service restarts, logged as
``chasing_config_restart_needed`` with the keys; the rest of the file applies at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog

from workflows.calendar.cycles import CyclesConfig
from workflows.chasing.config import ChasingConfig, load_chasing
from workflows.digest.config import DigestConfig, load_digest_config
from workflows.yaml_files import ConfigFileError

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: chasing.yaml's keys that only a restart applies, with how each is read from a config.
FIXED_AT_START: dict[str, Callable[[ChasingConfig], Any]] = {
    "plan": lambda c: c.plan,
    "partnership": lambda c: c.partnership,
    "sender.mailbox": lambda c: c.sender.mailbox.lower(),
    "form_url": lambda c: c.form_url,
}


class PlanSettings(Protocol):
    """What the reloader reads and replaces of a plan (a :class:`chaser.runtime.PlanRuntime`)."""

    code: str
    chasing: ChasingConfig
    digests: DigestConfig | None

    @property
    def cycles(self) -> Callable[[datetime], CyclesConfig]: ...


class _Watched:
    """One file, and whether its content changed since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature = self._stat()
        self._sha = self._hash()

    def changed(self) -> bool:
        signature = self._stat()
        if signature == self._signature:
            return False
        self._signature = signature
        sha = self._hash()
        if sha == self._sha:
            return False
        self._sha = sha
        return True

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        # The inode too: a page saves by replacing the file, maybe within the same clock tick.
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _hash(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None


@dataclass(frozen=True)
class Reloaded:
    """What one poll did: whether it loaded each file (a refused one is only logged)."""

    chasing: bool = False
    digest: bool = False


class PlanSettingsReloader:
    """Keeps a plan's running chasing and digest settings in step with their files. Made with
    the files as the service loaded them at start-up."""

    def __init__(self, chasing: Path, digest: Path | None) -> None:
        self._chasing = _Watched(chasing)
        self._digest = _Watched(digest) if digest is not None else None

    def poll(self, plan: PlanSettings, now: datetime) -> Reloaded:
        """Load what changed into ``plan``; a file that fails its checks changes nothing."""
        chasing = _load(self._chasing, "chasing", plan, now, load_chasing)
        if chasing is not None:
            plan.chasing = _keep_fixed(plan.chasing, chasing)
        digest = _load(self._digest, "digest", plan, now, load_digest_config)
        if digest is not None:
            plan.digests = digest
        return Reloaded(chasing is not None, digest is not None)


def _load(
    watched: _Watched | None,
    name: str,
    plan: PlanSettings,
    now: datetime,
    load: Callable[..., T],
) -> T | None:
    """The file loaded and checked against the running calendar's groups, if it changed and
    passes (a refused one is logged)."""
    if watched is None or not watched.changed():
        return None
    try:
        loaded = load(watched.path, groups=plan.cycles(now).codes)
    except ConfigFileError as exc:
        log.warning(
            f"{name}_config_rejected",
            path=str(watched.path),
            problems=len(exc.problems) or 1,
            # Lines and keys only: the messages can quote values (names, addresses).
            where=[f"{p.line or '-'}:{p.key}" for p in exc.problems[:20]],
            keeps_running="the settings loaded before",
        )
        return None
    log.info(f"{name}_config_loaded", plan=plan.code, path=str(watched.path))
    return loaded


def _keep_fixed(running: ChasingConfig, new: ChasingConfig) -> ChasingConfig:
    """``new``, with the running values of the keys only a restart applies."""
    changed = [key for key, read in FIXED_AT_START.items() if read(running) != read(new)]
    if not changed:
        return new
    log.warning(
        "chasing_config_restart_needed",
        plan=running.plan,
        keys=changed,
        hint="restart the service to apply these keys; the rest of the file applies now",
    )
    return new.model_copy(
        update={
            "plan": running.plan,
            "partnership": running.partnership,
            "sender": new.sender.model_copy(update={"mailbox": running.sender.mailbox}),
            "form_url": running.form_url,
        }
    )
