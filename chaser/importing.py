"""Importing plans and people: reads the file (adapter), runs the domain, commits or rolls back.

An import is all or nothing: any error leaves the store as it was. Whatever the file holds, the
outcome is an :class:`ImportOutcome` (or, for people, :class:`PeopleFileError`): a file the
readers cannot take, one over the reading limits (``integrations/spreadsheets.py``) and a value
longer than the store keeps are errors naming the file, the cell and the fix, the same on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
import yaml
from sqlalchemy import Engine
from sqlmodel import Session

from chaser.collector import collector_paused
from integrations.spreadsheets import SpreadsheetError, read_grid, read_text_csv
from workflows.plan.mapping import Mapping, MappingError, load_mapping
from workflows.plan.merge import MergeResult, merge_plan
from workflows.plan.people import (
    PeopleFileError,
    PeopleMerge,
    directory,
    read_people_csv,
    upsert_people,
)
from workflows.plan.reading import PlanReadError, Problem, read_plan

log = structlog.get_logger(__name__)


@dataclass
class ImportOutcome:
    plan_code: str
    dry_run: bool
    actions: int = 0
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    merge: MergeResult | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan_code,
            "dry_run": self.dry_run,
            "actions": self.actions,
            "warnings": [w.as_dict() for w in self.warnings],
            "errors": [e.as_dict() for e in self.errors],
            "changes": self.merge.as_dict() if self.merge is not None else None,
        }


def choose_mapping(
    config_dir: Path, explicit: Path | None, *, plan_code: str | None = None
) -> Mapping:
    """The mapping named on the command line, else the only one under config/mappings/.

    Of several, the one whose ``plan.code`` is ``plan_code`` (``--plan``) or, without it, is the
    plan ``chasing.yaml`` chases; if that is not exactly one, a :class:`MappingError` lists them.
    """
    if explicit is not None:
        return load_mapping(explicit)
    folder = config_dir / "mappings"
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise MappingError(
            f"{folder}: no mapping files; write one (see docs/mappings.md) or pass --mapping FILE"
        )
    if len(files) == 1:
        return load_mapping(files[0])
    wanted = {plan_code} if plan_code else _chased_plans(config_dir)
    loaded: dict[Path, Mapping] = {}
    for path in files:
        try:
            loaded[path] = load_mapping(path)
        except MappingError:
            continue  # a broken mapping cannot be the one meant; naming it gives its problems
    matching = [m for m in loaded.values() if m.plan.code in wanted]
    if len(matching) == 1:
        return matching[0]
    names = ", ".join(f.name for f in files)
    choices = "; ".join(f"--mapping {f} for plan {m.plan.code}" for f, m in loaded.items())
    raise MappingError(
        f"{folder}: several mappings ({names}); choose one with --mapping FILE"
        + (f" ({choices})" if choices else "")
    )


def _chased_plans(config_dir: Path) -> set[str]:
    """The plan codes the configuration chases (``plan:`` of each chasing.yaml), best effort."""
    found: set[str] = set()
    for path in [config_dir / "chasing.yaml", *sorted(config_dir.glob("plans/*/chasing.yaml"))]:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("plan"), str):
            found.add(data["plan"])
    return found


def import_plan(
    engine: Engine,
    path: Path,
    *,
    mapping: Mapping,
    now: datetime,
    plan_code: str | None = None,
    sheet: str | None = None,
    dry_run: bool = False,
    partnership: str = "",
) -> ImportOutcome:
    """Read ``path`` through ``mapping`` into plan ``plan_code`` (the mapping's by default), its
    leads resolved in ``partnership``'s people directory; all or nothing."""
    with collector_paused():  # its objects live until it ends (chaser/collector.py)
        outcome = _import_plan(
            engine,
            path,
            mapping=mapping,
            now=now,
            code=plan_code or mapping.plan.code,
            sheet=sheet,
            dry_run=dry_run,
            partnership=partnership,
        )
    return outcome


def _import_plan(
    engine: Engine,
    path: Path,
    *,
    mapping: Mapping,
    now: datetime,
    code: str,
    sheet: str | None,
    dry_run: bool,
    partnership: str,
) -> ImportOutcome:
    outcome = ImportOutcome(plan_code=code, dry_run=dry_run)
    name = _printable(path.name)
    try:
        grid = read_grid(path, sheet if sheet is not None else mapping.sheet)
    except SpreadsheetError as exc:
        outcome.errors.append(_file_problem(exc, name))
        return outcome
    if path.suffix.lower() == ".csv":
        grid.sheet = name
    with Session(engine) as session:
        people = directory(session, partnership)
        try:
            parsed = read_plan(grid, mapping, people)
        except PlanReadError as exc:
            outcome.errors.extend(
                Problem(**{**p.as_dict(), "message": f"{path}: {p.message}"}) for p in exc.problems
            )
            return outcome
        outcome.actions = len(parsed.actions)
        if not people:
            outcome.warnings.append(
                Problem(
                    kind="no_people",
                    message="the people directory is empty, so no lead could be resolved; run "
                    "`chaser people import FILE.csv` first, then import the plan again",
                )
            )
        outcome.warnings.extend(parsed.warnings)
        try:
            result = merge_plan(
                session,
                parsed,
                mapping,
                plan_code=code,
                now=now,
                source_name=name,
                source_sha256=_sha256(path),
                partnership=partnership,
            )
        except PlanReadError as exc:
            session.rollback()
            outcome.actions = 0
            outcome.errors.extend(
                Problem(**{**p.as_dict(), "message": f"{path}: {p.message}"}) for p in exc.problems
            )
            return outcome
        outcome.merge = result
        outcome.warnings.extend(result.matches_by_wording)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    log.info(
        "plan_imported" if not dry_run else "plan_import_dry_run",
        actions=outcome.actions,
        warnings=len(outcome.warnings),
        **result.as_dict(),
    )
    return outcome


def import_people(
    engine: Engine, path: Path, *, now: datetime, dry_run: bool = False, partnership: str = ""
) -> PeopleMerge:
    """Add or update the people in ``path``; raises PeopleFileError listing every bad cell."""
    if not path.is_file():
        raise PeopleFileError(
            [Problem(kind="bad_file", sheet=str(path), message=f"{path}: no such file")]
        )
    name = _printable(path.name)
    try:
        text = read_text_csv(path)
    except SpreadsheetError as exc:
        raise PeopleFileError([_file_problem(exc, name)]) from exc
    records = read_people_csv(text, source=name)
    with Session(engine) as session:
        result = upsert_people(session, records, now=now, partnership=partnership)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    log.info("people_imported", created=result.created, updated=result.updated, dry_run=dry_run)
    return result


def _file_problem(exc: SpreadsheetError, name: str) -> Problem:
    """A reader's error as the import reports it."""
    return Problem(
        kind=exc.kind,
        sheet=exc.sheet or name,
        message=str(exc),
        row=exc.row,
        column=exc.column,
        value=exc.value,
        expected=exc.expected,
    )


def _printable(name: str) -> str:
    """A file name as text every store keeps (an undecodable byte in it becomes "?")."""
    return name.encode("utf-8", errors="replace").decode("utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
