"""Importing scorecards, readings and risk registers: reads the file (adapter), runs the domain
(:mod:`workflows.measures`, :mod:`workflows.risks`), commits or rolls back. All or nothing:
any error leaves the store as it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from chaser.importing import _file_problem, _printable
from integrations.spreadsheets import SpreadsheetError, read_grid
from workflows.measures.mapping import (
    ScorecardMapping,
    ScorecardMappingError,
    load_scorecard_mapping,
)
from workflows.measures.reading import read_scorecard
from workflows.measures.store import import_readings, merge_scorecard, plan_named
from workflows.measures.table import TableError
from workflows.plan.reading import Problem
from workflows.plan.sheet import Grid
from workflows.risks.mapping import RegisterMapping, RegisterMappingError, load_register_mapping
from workflows.risks.reading import read_register
from workflows.risks.store import merge_register

log = structlog.get_logger(__name__)

M = TypeVar("M", ScorecardMapping, RegisterMapping)


@dataclass
class Outcome:
    kind: str  # scorecard | readings | risks
    plan_code: str
    dry_run: bool
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "plan": self.plan_code,
            "dry_run": self.dry_run,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
            "changes": self.counts if self.ok else None,
        }


def choose(
    config_dir: Path,
    folder_name: str,
    explicit: Path | None,
    plan_code: str | None,
    loader: Callable[[Path], M],
    error: type[ScorecardMappingError] | type[RegisterMappingError],
) -> M:
    """The mapping named, else the one in ``config/mappings/<folder_name>/`` (of several, the
    one for ``plan_code``)."""
    if explicit is not None:
        return loader(explicit)
    folder = config_dir / "mappings" / folder_name
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise error(
            f"{folder}: no mapping files; write one (see docs/measures-and-risks.md) or pass "
            "--mapping FILE"
        )
    loaded = [loader(f) for f in files]
    if len(loaded) == 1:
        return loaded[0]
    matching = [m for m in loaded if plan_code and m.plan.code == plan_code]
    if len(matching) == 1:
        return matching[0]
    choices = "; ".join(
        f"--mapping {f} for plan {m.plan.code}" for f, m in zip(files, loaded, strict=True)
    )
    raise error(f"{folder}: several mappings; choose one with --plan or --mapping ({choices})")


def _grid(path: Path, sheet: str | None, outcome: Outcome) -> Grid | None:
    try:
        grid = read_grid(path, sheet)
    except SpreadsheetError as exc:
        outcome.errors.append(_file_problem(exc, _printable(path.name)))
        return None
    if path.suffix.lower() == ".csv":
        grid.sheet = _printable(path.name)
    return grid


def _prefixed(path: Path, problems: list[Problem]) -> list[Problem]:
    return [Problem(**{**p.as_dict(), "message": f"{path}: {p.message}"}) for p in problems]


def import_scorecard(
    engine: Engine,
    path: Path,
    *,
    mapping: ScorecardMapping,
    now: datetime,
    plan_code: str | None = None,
    partnership: str = "",
    given_by: str = "",
    dry_run: bool = False,
) -> Outcome:
    code = plan_code or mapping.plan.code
    outcome = Outcome("scorecard", code, dry_run)
    grid = _grid(path, mapping.sheet, outcome)
    if grid is None:
        return outcome
    try:
        scorecard = read_scorecard(grid, mapping)
    except TableError as exc:
        outcome.errors.extend(_prefixed(path, exc.problems))
        return outcome
    with Session(engine) as session:
        try:
            merged = merge_scorecard(
                session,
                scorecard,
                plan_code=code,
                partnership=partnership,
                now=now,
                source_name=_printable(path.name),
                given_by=given_by,
            )
        except TableError as exc:
            session.rollback()
            outcome.errors.extend(exc.problems)
            return outcome
        outcome.warnings.extend(merged.warnings)
        outcome.counts = {
            "measures": len(scorecard.rows),
            "created": merged.created,
            "updated": merged.updated,
            "unchanged": merged.unchanged,
            "readings_added": merged.readings_added,
            "readings_unchanged": merged.readings_unchanged,
        }
        session.rollback() if dry_run else session.commit()
    log.info("scorecard_imported", dry_run=dry_run, **outcome.counts)
    return outcome


def import_readings_file(
    engine: Engine,
    path: Path,
    *,
    plan_code: str,
    now: datetime,
    given_by: str,
    dry_run: bool = False,
) -> Outcome:
    outcome = Outcome("readings", plan_code, dry_run)
    grid = _grid(path, None, outcome)
    if grid is None:
        return outcome
    with Session(engine) as session:
        try:
            plan = plan_named(session, plan_code)
        except TableError as exc:
            outcome.errors.extend(exc.problems)
            return outcome
        assert plan.id is not None
        result = import_readings(
            session,
            grid,
            plan_id=plan.id,
            now=now,
            given_by=given_by,
            source_name=_printable(path.name),
        )
        if result.problems:
            session.rollback()
            outcome.errors.extend(result.problems)
            return outcome
        outcome.counts = {"readings_added": result.added, "readings_unchanged": result.unchanged}
        session.rollback() if dry_run else session.commit()
    log.info("readings_imported", dry_run=dry_run, **outcome.counts)
    return outcome


def import_register(
    engine: Engine,
    path: Path,
    *,
    mapping: RegisterMapping,
    now: datetime,
    plan_code: str | None = None,
    partnership: str = "",
    given_by: str = "",
    dry_run: bool = False,
) -> Outcome:
    code = plan_code or mapping.plan.code
    outcome = Outcome("risks", code, dry_run)
    grid = _grid(path, mapping.sheet, outcome)
    if grid is None:
        return outcome
    try:
        register = read_register(grid, mapping)
    except TableError as exc:
        outcome.errors.extend(_prefixed(path, exc.problems))
        return outcome
    with Session(engine) as session:
        try:
            merged = merge_register(
                session,
                register,
                mapping,
                plan_code=code,
                partnership=partnership,
                now=now,
                source_name=_printable(path.name),
                given_by=given_by,
            )
        except TableError as exc:
            session.rollback()
            outcome.errors.extend(exc.problems)
            return outcome
        outcome.warnings.extend(merged.warnings)
        outcome.counts = {
            "risks": len(register.rows),
            "created": merged.created,
            "updated": merged.updated,
            "unchanged": merged.unchanged,
        }
        session.rollback() if dry_run else session.commit()
    log.info("risk_register_imported", dry_run=dry_run, **outcome.counts)
    return outcome


__all__ = [
    "Outcome",
    "choose",
    "import_readings_file",
    "import_register",
    "import_scorecard",
    "load_register_mapping",
    "load_scorecard_mapping",
]
