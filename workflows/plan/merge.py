"""Merging a read plan into the store: first import and every re-import.

Rules (the board's audit trail depends on them):

- Actions match by ref; an action the plan left unnumbered matches an existing one by its wording
  (every such match is reported: a reworded one with its score, those worded as before in one
  warning).
- The baseline due date stays as first imported. A due date that changed in the workbook since the
  last import becomes a forecast change, recorded in the history.
- A status that changed in the workbook since the last import is applied and recorded; a status
  that did not change there never overwrites one reported since (by a lead, on the form or by mail).
- An action missing from the workbook is marked withdrawn, never deleted; if it comes back it is
  reinstated. Both are recorded.
- Every row of every import is kept as read (:class:`ImportedRow`), once: what a re-import
  compares the workbook with is each action's latest row there (:func:`latest_cells`).

Everything happens in the caller's transaction: the caller commits, or rolls back for a dry run.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar, Generic, TypeVar

from rapidfuzz import fuzz, process
from sqlalchemy import bindparam, delete, func, update
from sqlmodel import Session, SQLModel, col, select

from workflows.plan.bulk import Memo, insert_many
from workflows.plan.dates import FuzzyDate, show_date
from workflows.plan.mapping import Mapping, normalise_header
from workflows.plan.people import plan_people
from workflows.plan.reading import (
    ActionRow,
    ParsedPlan,
    PlanReadError,
    Problem,
    listed,
    rows_text,
)
from workflows.store.board_models import Decision
from workflows.store.models import (
    Action,
    ActionContributor,
    Area,
    ChangeKind,
    Channel,
    ImportedRow,
    ImportRun,
    Milestone,
    Plan,
    StatusChange,
)
from workflows.store.read_models import touch

#: A wording match below this score (0–100) is not taken as the same action.
WORDING_MATCH_THRESHOLD = 85.0


@dataclass
class MergeResult:
    plan_code: str
    import_run_id: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    reinstated: int = 0
    forecast_changes: int = 0
    status_changes: int = 0
    matches_by_wording: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan_code,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "withdrawn": self.withdrawn,
            "reinstated": self.reinstated,
            "forecast_changes": self.forecast_changes,
            "status_changes": self.status_changes,
        }


def _split(d: FuzzyDate | None, *, end: bool) -> tuple[Any, str | None]:
    if d is None:
        return None, None
    return _ends(d, end)


@functools.lru_cache(maxsize=4096)
def _ends(d: FuzzyDate, end: bool) -> tuple[Any, str | None]:
    """A plan's dates repeat (most are months): each date's day and precision, worked out once."""
    return (d.last_day if end else d.first_day), str(d.precision)


def _wording(text: str) -> str:
    return normalise_header(text)


class _Unmatched:
    """The existing actions no row has matched yet, for the match by wording.

    A row takes the first of them (in the store's order) whose wording scores highest, at least
    :data:`WORDING_MATCH_THRESHOLD`: the similarity of the two wordings' words, each sorted
    (rapidfuzz's ``token_sort_ratio``); an unnumbered row may take any action, a numbered one
    only an action that was unnumbered. Each action's sorted words are worked out once, one
    worded alike (the same words in any order: a score of 100, which nothing beats) is found by
    a lookup, and only a row reworded is scored against the rest, in one call. Comparing every
    row with every action, sorting both wordings each time, made re-importing a plan that
    numbers nothing grow with its square: 14 s for 1,500 actions."""

    def __init__(self, actions: list[_HeldAction]) -> None:
        self.actions = actions
        words = [_sorted_words(a.title) for a in actions]
        #: What each pool still holds: the index of each action and its sorted words, in order.
        self.every: dict[int, str] = dict(enumerate(words))
        self.unnumbered = {i: w for i, w in self.every.items() if actions[i].ref_generated}
        self.alike: dict[str, list[int]] = {}
        for i, key in enumerate(words):
            self.alike.setdefault(key, []).append(i)

    def best(self, title: str, *, any_action: bool) -> tuple[_HeldAction, float] | None:
        """The action a row worded ``title`` matches, and its score, taken from the pools."""
        pool = self.every if any_action else self.unnumbered
        if not pool:
            return None
        words = _sorted_words(title)
        chosen = next(((i, 100.0) for i in self.alike.get(words, ()) if i in pool), None)
        if chosen is None:
            found = process.extractOne(
                words, pool, scorer=fuzz.ratio, score_cutoff=WORDING_MATCH_THRESHOLD
            )
            if found is None:
                return None
            chosen = found[2], found[1]
        i, score = chosen
        self.every.pop(i, None)
        self.unnumbered.pop(i, None)
        return self.actions[i], score


def _sorted_words(title: str) -> str:
    """``title``'s words, compared as a person would (:func:`_wording`), in sorted order."""
    return " ".join(sorted(_wording(title).split()))


def string_limits(model: type[SQLModel]) -> dict[str, int]:
    """The longest text each length-limited column of ``model``'s table keeps.

    PostgreSQL refuses a longer value and SQLite stores it, so every value is checked against
    these before it is written, and the import says which value is too long on both."""
    table = model.__table__  # type: ignore[attr-defined]
    limits: dict[str, int] = {}
    for column in table.columns:
        # sqlmodel's AutoString wraps String and passes its length through.
        length = getattr(column.type, "length", None)
        if isinstance(length, int):
            limits[column.name] = length
    return limits


def check_lengths(
    parsed: ParsedPlan, *, plan_code: str, partnership: str, source_name: str
) -> list[Problem]:
    """Every value the merge would write that is longer than its column keeps."""
    problems: list[Problem] = []
    plan_limits = string_limits(Plan)
    for name, value, fix in (
        ("code", plan_code, "choose a shorter plan code (--plan, or plan.code in the mapping)"),
        ("partnership", partnership, "choose a shorter partnership name for the plan"),
    ):
        limit = plan_limits.get(name)
        if limit is not None and len(value) > limit:
            problems.append(
                Problem(
                    kind="too_long",
                    message=(
                        f"the plan's {name} {_short(value)!r} is {len(value):,} characters long, "
                        f"but it may have at most {limit}; {fix}"
                    ),
                    value=_short(value),
                    expected=f"at most {limit} characters",
                )
            )
    run_limits = string_limits(ImportRun)
    for name, value in (("source_name", source_name), ("sheet", parsed.sheet)):
        limit = run_limits.get(name)
        if limit is not None and len(value) > limit:
            problems.append(
                Problem(
                    kind="too_long",
                    sheet=parsed.sheet,
                    message=(
                        f"the {name.replace('_', ' ')} {_short(value)!r} is {len(value):,} "
                        f"characters long, but it may have at most {limit}; rename it"
                    ),
                    value=_short(value),
                    expected=f"at most {limit} characters",
                )
            )
    ref_limit = string_limits(Action).get("ref")
    if ref_limit is not None:
        for row in parsed.actions:
            if len(row.ref) > ref_limit:
                problems.append(
                    Problem(
                        kind="too_long",
                        sheet=parsed.sheet,
                        row=row.row,
                        value=_short(row.ref),
                        message=(
                            f"ref {_short(row.ref)!r} (row {row.row}) is {len(row.ref):,} "
                            f"characters long, but a ref may have at most {ref_limit}; "
                            "shorten it in the workbook"
                        ),
                        expected=f"a ref of at most {ref_limit} characters",
                    )
                )
    return problems


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _free_ref(ref: str, held: set[str], most: int = 32) -> str:
    """``ref`` with its trailing number raised (keeping its width: ``P1-01`` -> ``P1-02``), or
    ``-2``, ``-3``... added when it has none, until no action holds it; at most ``most`` long."""
    stem = ref.rstrip("0123456789")
    digits = ref[len(stem) :]
    n, width = (int(digits), len(digits)) if digits else (1, 0)
    sep = "" if digits else "-"
    while True:
        n += 1
        tail = f"{sep}{n:0{width}d}"
        candidate = stem[: most - len(tail)] + tail
        if candidate not in held:
            return candidate


@dataclass(slots=True, eq=False)
class _HeldAction:
    """An action already in the plan, as a re-import reads and changes it: plain attributes
    (the ORM's objects for a plan of 20,000 actions took a third of a re-import to load, and
    their attributes as long again to compare), written back by :class:`_Held`."""

    #: The first of the fields a re-import may change (the id, ref and its kind never do).
    CHANGEABLE: ClassVar[str] = "position"

    id: int
    ref: str
    ref_generated: bool
    position: int
    area_id: int | None
    title: str
    lead_raw: str
    accountable_id: int | None
    sro_id: int | None
    reporting_group: str
    start_date: date | None
    start_precision: str | None
    baseline_due: date | None
    baseline_due_precision: str | None
    forecast_due: date | None
    forecast_due_precision: str | None
    due_kind: str
    due_note: str
    status: str | None
    status_label: str
    embedded: bool
    withdrawn: bool
    outcomes: str
    evidence: str
    progress: str
    updated_at: datetime


@dataclass(slots=True, eq=False)
class _HeldMilestone:
    """A milestone already in the plan, as :class:`_HeldAction` is an action."""

    CHANGEABLE: ClassVar[str] = "label"

    id: int
    action_id: int
    position: int
    label: str
    raw: str
    start_date: date | None
    start_precision: str | None
    forecast_due: date
    forecast_due_precision: str


_T = TypeVar("_T", _HeldAction, _HeldMilestone)


class _Held(Generic[_T]):
    """The rows of one table a re-import may change, read in one query as plain objects, and
    written back, only those it changed and only the columns it changed, in one executemany per
    set of changed columns. The ORM's change tracking does not see these writes:
    :func:`merge_plan` marks the read model stale itself, and any of the session's own objects
    for a changed row are expired, so the session reads them again."""

    def __init__(self, session: Session, model: type[SQLModel], kind: type[_T], where: Any):
        self.session, self.model = session, model
        self.table = model.__table__  # type: ignore[attr-defined]
        names = [f.name for f in fields(kind)]
        #: The columns a merge may change.
        self.written = names[names.index(kind.CHANGEABLE) :]
        self._values = operator.attrgetter(*self.written)
        query = select(*(self.table.c[n] for n in names)).where(where).order_by(self.table.c.id)
        self.rows: list[_T] = [kind(*row) for row in session.execute(query)]
        self._read = {row.id: self._values(row) for row in self.rows}

    def write(self) -> None:
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in self.rows:
            now, was = self._values(row), self._read[row.id]
            if now == was:
                continue
            changed = tuple(
                n for n, a, b in zip(self.written, was, now, strict=True) if a is not b and a != b
            )
            by_columns.setdefault(changed, []).append(
                {"row_id": row.id, **{f"new_{n}": getattr(row, n) for n in changed}}
            )
            self._read[row.id] = now
        if not by_columns:
            return
        connection = self.session.connection()
        for changed, params in by_columns.items():
            statement = (
                update(self.table)
                .where(self.table.c.id == bindparam("row_id"))
                .values({n: bindparam(f"new_{n}") for n in changed})
            )
            connection.execute(statement, params)
        ids = {p["row_id"] for params in by_columns.values() for p in params}
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, self.model) and getattr(obj, "id", None) in ids:
                self.session.expire(obj)


def latest_cells(
    session: Session, plan_id: int, *, before_run: int | None = None
) -> dict[int, dict[str, Any]]:
    """The cells of each of the plan's actions as its latest import read them, by action id
    (of the imports before run ``before_run``, when given: the one under way); an action no
    import read (one the board set) is absent.

    The cells are kept once, in :class:`ImportedRow`: a re-import sees what changed in the
    workbook since the last time by comparing with these. Most actions were in the last import:
    their rows are read by its run (``ix_imported_row_import_run_id``), and only the others
    (withdrawn since, or never imported) are looked up by their ids, 500 at a time, so the cost
    does not grow with the number of imports the plan has had."""
    runs = select(func.max(ImportRun.id)).where(ImportRun.plan_id == plan_id)
    if before_run is not None:
        runs = runs.where(col(ImportRun.id) < before_run)
    last = session.execute(runs).scalar()
    found: dict[int, dict[str, Any]] = {}
    if last is not None:
        in_last = (
            select(col(ImportedRow.action_id), col(ImportedRow.cells))
            .where(ImportedRow.import_run_id == last, col(ImportedRow.action_id).is_not(None))
            .order_by(col(ImportedRow.id))
        )
        found = {action_id: cells for action_id, cells in session.execute(in_last)}
    others = [
        a
        for a in session.execute(select(Action.id).where(Action.plan_id == plan_id)).scalars()
        if a not in found
    ]
    for i in range(0, len(others), 500):
        latest = (
            select(func.max(ImportedRow.id))
            .where(col(ImportedRow.action_id).in_(others[i : i + 500]))
            .group_by(col(ImportedRow.action_id))
        )
        query = select(col(ImportedRow.action_id), col(ImportedRow.cells)).where(
            col(ImportedRow.id).in_(latest.scalar_subquery())
        )
        found.update({action_id: cells for action_id, cells in session.execute(query)})
    return found


def merge_plan(
    session: Session,
    parsed: ParsedPlan,
    mapping: Mapping,
    *,
    plan_code: str,
    now: datetime,
    source_name: str,
    source_sha256: str,
    partnership: str = "",
) -> MergeResult:
    """Merge ``parsed`` into plan ``plan_code`` (created if new, its leads from
    ``partnership``'s directory). Does not commit. A value longer than the store keeps raises
    :class:`PlanReadError` before anything is written."""
    too_long = check_lengths(
        parsed, plan_code=plan_code, partnership=partnership, source_name=source_name
    )
    if too_long:
        raise PlanReadError(too_long)
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None:
        plan = Plan(
            code=plan_code,
            partnership=partnership,
            title=mapping.plan.title,
            mapping_name=mapping.name,
            status_scale=[v.model_dump(mode="json") for v in mapping.status_scale.values],
            created_at=now,
        )
        session.add(plan)
        session.flush()
    else:
        plan.mapping_name = mapping.name
        plan.partnership = partnership
        plan.status_scale = [v.model_dump(mode="json") for v in mapping.status_scale.values]
    assert plan.id is not None
    run = ImportRun(
        plan_id=plan.id,
        source_name=source_name,
        source_sha256=source_sha256,
        sheet=parsed.sheet,
        mapping_name=mapping.name,
        imported_at=now,
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    result = MergeResult(plan_code=plan_code, import_run_id=run.id)
    merger = _Merger(session, plan, run, mapping, parsed, now, result)
    merger.run()
    run.summary = {"actions": len(parsed.actions), **result.as_dict()}
    run.warnings = [p.as_dict() for p in [*parsed.warnings, *result.matches_by_wording]]
    # The rows went in (and changed) through SQL Core, which the ORM's change tracking does not
    # see: every action's kept flags are stale, and the plan's revision moves (the tick reads it
    # again). Here, not in each caller: the browser's upload once forgot to.
    touch(session, plan.id, None)
    session.flush()
    return result


class _Merger:
    """One merge. New rows go in with bulk inserts, and what changed in existing ones with bulk
    updates (:class:`_Held`): a 20,000-action plan must import, and import again, quickly."""

    def __init__(
        self,
        session: Session,
        plan: Plan,
        run: ImportRun,
        mapping: Mapping,
        parsed: ParsedPlan,
        now: datetime,
        result: MergeResult,
    ) -> None:
        assert plan.id is not None and run.id is not None
        self.session = session
        self.plan_id: int = plan.id
        self.run_id: int = run.id
        self.mapping = mapping
        self.parsed = parsed
        self.now = now
        self.result = result
        self.people = {p.code: p.id for p in plan_people(session, plan)}
        self.due_header = self._header("due")
        self.status_header = self._header("status")
        self.forecast_header = self._header("forecast")
        self.progress_header = self._header("progress")
        #: The plan's areas by number, once :meth:`run` has brought them up to date.
        self.areas: dict[int, Area] = {}
        self.history: list[dict[str, Any]] = []
        self.milestones: list[dict[str, Any]] = []
        self.contributors: list[dict[str, Any]] = []
        #: Values the bulk inserts converted for the store once (the dates a plan repeats).
        self.converted: Memo = {}
        #: Each existing action's cells as the last import read them (a re-import's only).
        self.previous_cells: dict[int, dict[str, Any]] = {}
        #: The plan's milestones by action and position, and contributors by action (in order).
        self.held_milestones: _Held[_HeldMilestone] | None = None
        self.existing_milestones: dict[int, dict[int, _HeldMilestone]] = {}
        self.existing_contributors: dict[int, list[int]] = {}
        #: Actions whose contributors change: their rows are deleted before the new ones go in.
        self.replaced_contributors: set[int] = set()

    def _header(self, name: str) -> str | None:
        if name not in self.mapping.columns:
            return None
        key = {normalise_header(h) for h in self.mapping.columns[name].headers}
        for row in self.parsed.actions:
            for header in row.raw_cells:
                if normalise_header(header) in key:
                    return header
        return next(iter(self.mapping.columns[name].headers), None)

    def _person_id(self, code: str | None) -> int | None:
        return self.people.get(code) if code is not None else None

    # -------------------------------------------------------------------------------------------
    def run(self) -> None:
        self.areas = areas = self._areas()
        held = _Held(self.session, Action, _HeldAction, Action.plan_id == self.plan_id)
        existing = held.rows
        if existing:
            self._load_parts()
            self.previous_cells = latest_cells(self.session, self.plan_id, before_run=self.run_id)
        pairs = self._match(existing)
        matched_ids = {a.id for _, a in pairs if a is not None}
        new_rows: list[ActionRow] = []
        new_values: list[dict[str, Any]] = []
        # A ref stays with its action for good, withdrawn or not: a new unnumbered action whose
        # generated ref an existing one holds is numbered after the plan's existing refs.
        refs_held = {a.ref for a in existing} | {r.ref for r, _ in pairs if not r.ref_generated}
        for row, found in pairs:
            area = areas.get(row.area_number) if row.area_number is not None else None
            if found is None:
                new_rows.append(row)
                values = self._new_action(row, area)
                if row.ref_generated and values["ref"] in refs_held:
                    values["ref"] = _free_ref(values["ref"], refs_held)
                refs_held.add(values["ref"])
                new_values.append(values)
            else:
                self._update(row, found, area)
        self.session.flush()
        new_ids = self._insert_actions(new_values)
        action_ids: dict[int, int] = {}  # id(row) -> action id
        for row, action_id, values in zip(new_rows, new_ids, new_values, strict=True):
            action_ids[id(row)] = action_id
            self._history(
                action_id,
                ChangeKind.CREATED,
                status_after=values["status"],
                status_label_after=values["status_label"],
                due_after=(values["baseline_due"], values["baseline_due_precision"]),
                note=f"imported from {self.parsed.sheet!r} row {row.row}",
            )
            self._milestones(action_id, row, {})
            self._contributors(action_id, values["accountable_id"], row, initial=True)
        for row, found in pairs:
            if found is not None:
                assert found.id is not None
                action_ids[id(row)] = found.id
        # Actions the board set at a meeting are the board's, not the workbook's: a re-import
        # of a workbook that does not hold them leaves them in the plan.
        set_by_board = set(
            self.session.exec(
                select(Decision.action_id).where(
                    Decision.plan_id == self.plan_id, col(Decision.action_id).is_not(None)
                )
            )
        )
        for action in existing:
            if action.id in set_by_board:
                continue
            if action.id not in matched_ids and not action.withdrawn:
                assert action.id is not None
                action.withdrawn = True
                action.updated_at = self.now
                self.result.withdrawn += 1
                self._history(
                    action.id,
                    ChangeKind.WITHDRAWN,
                    **_as_it_stands(action),
                    note="no longer in the workbook",
                )
        held.write()
        if self.held_milestones is not None:
            self.held_milestones.write()
        self.session.flush()
        imported = [
            {
                "import_run_id": self.run_id,
                "action_id": action_ids[id(row)],
                "row_number": row.row,
                "cells": row.raw_cells,
            }
            for row, _ in pairs
        ]
        self._drop_replaced_contributors()
        for model, rows in (
            (StatusChange, self.history),
            (Milestone, self.milestones),
            (ActionContributor, self.contributors),
            (ImportedRow, imported),
        ):
            if rows:
                self._bulk_insert(model, rows)

    def _load_parts(self) -> None:
        """Every milestone and contributor of the plan's actions, in two queries: a re-import
        compares each action's with the workbook's, and a query per action (each flushing the
        session first) made re-importing a plan of thousands ten times slower than its first
        import."""
        plan_actions = select(Action.id).where(Action.plan_id == self.plan_id)
        self.held_milestones = _Held(
            self.session,
            Milestone,
            _HeldMilestone,
            col(Milestone.action_id).in_(plan_actions),
        )
        for m in self.held_milestones.rows:
            self.existing_milestones.setdefault(m.action_id, {})[m.position] = m
        for action_id, person_id in self.session.execute(
            select(col(ActionContributor.action_id), col(ActionContributor.person_id))
            .where(col(ActionContributor.action_id).in_(plan_actions))
            .order_by(col(ActionContributor.action_id), col(ActionContributor.position))
        ):
            self.existing_contributors.setdefault(action_id, []).append(person_id)

    def _drop_replaced_contributors(self) -> None:
        """Delete the contributors of the actions whose list changed (the new lists are
        inserted with the other new rows)."""
        ids = sorted(self.replaced_contributors)
        for i in range(0, len(ids), 500):
            self.session.execute(
                delete(ActionContributor).where(
                    col(ActionContributor.action_id).in_(ids[i : i + 500])
                )
            )

    def _insert_actions(self, values: list[dict[str, Any]]) -> list[int]:
        """Insert new actions in one executemany and return their ids, in order.

        Ids are read back by ref (unique within a plan) rather than with RETURNING: SQLite's
        small parameter limit makes RETURNING batches splice their results quadratically.
        """
        if not values:
            return []
        self.result.created += len(values)
        self._bulk_insert(Action, values)
        query = select(col(Action.ref), col(Action.id)).where(Action.plan_id == self.plan_id)
        ids = {ref: action_id for ref, action_id in self.session.execute(query)}
        return [ids[v["ref"]] for v in values]

    def _bulk_insert(self, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
        """One plain executemany (Core, no RETURNING): the fast path for thousands of rows."""
        table = model.__table__  # type: ignore[attr-defined]
        for name, limit in string_limits(model).items():
            for values in rows:
                value = values.get(name)
                if isinstance(value, str) and len(value) > limit:
                    raise PlanReadError(
                        [
                            Problem(
                                kind="too_long",
                                sheet=self.parsed.sheet,
                                value=_short(value),
                                message=(
                                    f"{table.name}.{name} {_short(value)!r} is {len(value):,} "
                                    f"characters long, but the store keeps at most {limit}; "
                                    "shorten it in the workbook"
                                ),
                                expected=f"at most {limit} characters",
                            )
                        ]
                    )
        insert_many(self.session.connection(), table, rows, self.converted)

    def _areas(self) -> dict[int, Area]:
        by_number = {
            a.number: a for a in self.session.exec(select(Area).where(Area.plan_id == self.plan_id))
        }
        for number, row in self.parsed.areas.items():
            area = by_number.get(number)
            sro_id = self._person_id(row.sro_codes[0] if row.sro_codes else None)
            if area is None:
                area = Area(plan_id=self.plan_id, number=number)
                self.session.add(area)
                by_number[number] = area
            area.kind, area.label, area.title = row.kind, row.label, row.title
            area.sro_raw, area.sro_codes, area.sro_id = row.sro_raw, list(row.sro_codes), sro_id
        self.session.flush()
        return by_number

    def _match(self, existing: list[_HeldAction]) -> list[tuple[ActionRow, _HeldAction | None]]:
        by_ref = {a.ref: a for a in existing if not a.ref_generated}
        taken: set[int | None] = set()
        pairs: list[tuple[ActionRow, _HeldAction | None]] = []
        for row in self.parsed.actions:
            hit = by_ref.get(row.ref) if not row.ref_generated else None
            if hit is not None:
                taken.add(hit.id)
            pairs.append((row, hit))
        # Second pass: unnumbered actions (and actions newly numbered) match by wording.
        unmatched = _Unmatched([a for a in existing if a.id not in taken])
        alike: list[tuple[ActionRow, _HeldAction]] = []
        for i, (row, hit) in enumerate(pairs):
            if hit is not None:
                continue
            found = unmatched.best(row.title, any_action=row.ref_generated)
            if found is None:
                continue
            best, score = found
            pairs[i] = (row, best)
            if score == 100 and row.ref_generated:
                alike.append((row, best))
            else:
                self.result.matches_by_wording.append(self._matched(row, best, score))
        if len(alike) == 1:
            self.result.matches_by_wording.append(self._matched(*alike[0], 100))
        elif alike:
            # One cause, one warning: a plan that numbers nothing is matched by its wording on
            # every re-import, and a line per row would bury the rows that were reworded.
            rows = tuple(row.row for row, _ in alike)
            refs = tuple(best.ref for _, best in alike)
            self.result.matches_by_wording.append(
                Problem(
                    kind="matched_by_wording",
                    sheet=self.parsed.sheet,
                    row=rows[0],
                    rows=rows,
                    refs=refs,
                    message=(
                        f"{len(rows)} rows have no ref of their own ({rows_text(rows)}); each "
                        f"matched the existing action worded the same ({listed(refs)}); give "
                        "each action a ref in the workbook so that a re-import never has to "
                        "go by the wording"
                    ),
                )
            )
        self.result.matches_by_wording.sort(key=lambda p: p.row or 0)
        return pairs

    def _matched(self, row: ActionRow, action: _HeldAction, score: float) -> Problem:
        own = "no ref of its own" if row.ref_generated else f"ref {row.ref!r}, which no action had"
        return Problem(
            kind="matched_by_wording",
            sheet=self.parsed.sheet,
            row=row.row,
            ref=action.ref,
            value=row.title[:120],
            message=(
                f"row {row.row} has {own}; matched to existing action {action.ref} by its "
                f"wording ({score:.0f}% alike)"
            ),
        )

    def _common(self, row: ActionRow, area: Area | None) -> dict[str, Any]:
        """The fields the workbook owns, for a new action or an update."""
        start, start_precision = _split(row.start, end=False)
        return {
            "position": row.position,
            "area_id": area.id if area is not None else None,
            "title": row.title,
            "lead_raw": row.lead_raw,
            "accountable_id": self._person_id(row.accountable),
            "sro_id": area.sro_id if area is not None else None,
            "reporting_group": row.reporting_group,
            "start_date": start,
            "start_precision": start_precision,
            "due_kind": row.due.kind,
            "due_note": row.due.note,
            "outcomes": row.outcomes,
            "evidence": row.evidence,
            "progress": row.progress,
        }

    def _new_action(self, row: ActionRow, area: Area | None) -> dict[str, Any]:
        due, due_precision = _split(row.due_date, end=True)
        forecast, forecast_precision = _split(row.forecast, end=True)
        if forecast is None:
            forecast, forecast_precision = due, due_precision
        status = row.status
        return {
            **self._common(row, area),
            "plan_id": self.plan_id,
            "ref": row.ref,
            "ref_generated": row.ref_generated,
            "baseline_due": due,
            "baseline_due_precision": due_precision,
            "forecast_due": forecast,
            "forecast_due_precision": forecast_precision,
            "status": str(status.meaning) if status is not None else None,
            "status_label": status.value if status is not None else "",
            "embedded": status.embedded if status is not None else False,
            "withdrawn": False,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _update(self, row: ActionRow, action: _HeldAction, area: Area | None) -> None:
        before = _snapshot(action)
        previous_cells = self.previous_cells.get(action.id, {})
        previous_progress = action.progress
        for key, value in self._common(row, area).items():
            # Only what changed is set: an action left untouched is not written.
            if getattr(action, key) != value:
                setattr(action, key, value)
        # A lead's latest narrative stays unless the workbook's own progress cell changed.
        if self.progress_header is not None and not _changed(
            previous_cells, row.raw_cells, self.progress_header
        ):
            action.progress = previous_progress
        if action.withdrawn:
            action.withdrawn = False
            self.result.reinstated += 1
            self._history(
                action.id,
                ChangeKind.REINSTATED,
                **_as_it_stands(action),
                note="back in the workbook",
            )
        # A date only moves the forecast when the workbook's own cell changed since last time.
        date_header = self.forecast_header if row.forecast is not None else self.due_header
        new_date = row.forecast if row.forecast is not None else row.due_date
        if date_header is not None and _changed(previous_cells, row.raw_cells, date_header):
            due, precision = _split(new_date, end=True)
            if action.baseline_due is None and due is not None and row.forecast is None:
                action.baseline_due, action.baseline_due_precision = due, precision
            if (due, precision) != (action.forecast_due, action.forecast_due_precision):
                self._history(
                    action.id,
                    ChangeKind.FORECAST,
                    **_as_it_stands(action),
                    due_before=(action.forecast_due, action.forecast_due_precision),
                    due_after=(due, precision),
                    note=f"{date_header!r} changed in the workbook",
                )
                action.forecast_due, action.forecast_due_precision = due, precision
                self.result.forecast_changes += 1
        # Likewise a status: one the workbook did not change never overwrites a lead's report.
        status_changed = self.status_header is not None and _changed(
            previous_cells, row.raw_cells, self.status_header
        )
        completed_now = (
            self.due_header is not None
            and row.due.kind == "completed"
            and _changed(previous_cells, row.raw_cells, self.due_header)
        )
        if row.status is not None and (status_changed or completed_now):
            new_status = str(row.status.meaning)
            if (new_status, row.status.value) != (action.status, action.status_label):
                self._history(
                    action.id,
                    ChangeKind.STATUS,
                    status_before=action.status,
                    status_after=new_status,
                    status_label_after=row.status.value,
                    note=f"status {row.status.value!r} in the workbook",
                )
                action.status, action.status_label = new_status, row.status.value
                action.embedded = row.status.embedded
                self.result.status_changes += 1
        self._milestones(action.id, row, self.existing_milestones.get(action.id, {}), action)
        after = _snapshot(action)
        edits = (
            self._edits(
                dict(zip(_SNAPSHOT, before, strict=True)), dict(zip(_SNAPSHOT, after, strict=True))
            )
            if after != before
            else []
        )
        contributors = self._contributors(action.id, action.accountable_id, row, initial=False)
        if contributors is not None:
            edits.append(contributors)
        if edits:
            self._history(
                action.id, ChangeKind.EDITED, **_as_it_stands(action), note="; ".join(edits)
            )
        if after != before or contributors is not None:
            action.updated_at = self.now
            self.result.updated += 1
        else:
            self.result.unchanged += 1

    def _milestones(
        self,
        action_id: int,
        row: ActionRow,
        existing: dict[int, _HeldMilestone],
        action: _HeldAction | None = None,
    ) -> None:
        """The row's milestones: those not in ``existing`` (by position) are inserted; an
        existing one the workbook moved is moved, and recorded in ``action``'s history."""
        for m in row.milestones:
            due, precision = _split(m.due, end=True)
            start, start_precision = _split(m.start, end=False)
            old = existing.get(m.position)
            if old is None:
                self.milestones.append(
                    {
                        "action_id": action_id,
                        "position": m.position,
                        "label": m.label,
                        "start_date": start,
                        "start_precision": start_precision,
                        "baseline_due": due,
                        "baseline_due_precision": precision,
                        "forecast_due": due,
                        "forecast_due_precision": precision,
                        "complete": False,
                        "raw": m.raw,
                    }
                )
                continue
            moved = (due, precision) != (old.forecast_due, old.forecast_due_precision)
            if old.raw != m.raw and moved:
                assert action is not None  # only an existing action has milestones already
                self._history(
                    action_id,
                    ChangeKind.MILESTONE_FORECAST,
                    **_as_it_stands(action),
                    due_before=(old.forecast_due, old.forecast_due_precision),
                    due_after=(due, precision),
                    note=f"milestone {m.label or m.position} changed in the workbook",
                )
                assert due is not None and precision is not None
                old.forecast_due, old.forecast_due_precision = due, precision
                self.result.forecast_changes += 1
            if (old.label, old.raw, old.start_date, old.start_precision) != (
                m.label,
                m.raw,
                start,
                start_precision,
            ):
                old.label, old.raw = m.label, m.raw
                old.start_date, old.start_precision = start, start_precision

    def _contributors(
        self, action_id: int | None, accountable_id: int | None, row: ActionRow, *, initial: bool
    ) -> str | None:
        """The row's contributors (besides the accountable lead) for the action; on a re-import,
        what changed ("contributors: AP, MA to AP"), or None when nothing did."""
        assert action_id is not None
        wanted = [self._person_id(code) for code in row.contributors]
        ids = [pid for pid in dict.fromkeys(wanted) if pid is not None and pid != accountable_id]
        change = None
        if not initial:
            had = self.existing_contributors.get(action_id, [])
            if had == ids:
                return None
            self.replaced_contributors.add(action_id)
            change = f"contributors: {self._codes(had)} to {self._codes(ids)}"
        self.contributors.extend(
            {"action_id": action_id, "person_id": pid, "position": i} for i, pid in enumerate(ids)
        )
        return change

    def _codes(self, person_ids: list[int]) -> str:
        codes = {pid: code for code, pid in self.people.items()}
        return ", ".join(codes.get(pid, "?") for pid in person_ids) or "none"

    def _edits(self, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
        """What the workbook changed in an action besides its status and dates (which have
        rows of their own), as the dry run words it: "lead: Head of SEND (AP) to …".
        ``before`` and ``after`` are the action's :data:`_SNAPSHOT` fields."""
        before["start"] = (before["start_date"], before["start_precision"])
        after["start"] = (after["start_date"], after["start_precision"])
        out = []
        for key, label in _EDITED.items():
            was, now = before[key], after[key]
            if was == now:
                continue
            if key == "area_id":
                numbers = {a.id: a.number for a in self.areas.values()}
                was, now = numbers.get(was, was), numbers.get(now, now)
            elif key == "start":
                was, now = show_date(*was), show_date(*now)
            out.append(
                f"{label}: {_short(str(was or '')) or 'none'} to {_short(str(now or '')) or 'none'}"
            )
        return out

    def _history(
        self,
        action_id: int,
        kind: ChangeKind,
        *,
        status_before: str | None = None,
        status_after: str | None = None,
        status_label_after: str = "",
        due_before: tuple[Any, str | None] = (None, None),
        due_after: tuple[Any, str | None] = (None, None),
        note: str = "",
    ) -> None:
        self.history.append(
            {
                "action_id": action_id,
                "recorded_at": self.now,
                "person_id": None,
                "channel": str(Channel.IMPORT),
                "kind": str(kind),
                "status_before": status_before,
                "status_after": status_after,
                "status_label_after": status_label_after,
                "due_before": due_before[0],
                "due_before_precision": due_before[1],
                "due_after": due_after[0],
                "due_after_precision": due_after[1],
                "narrative": "",
                "evidence": "",
                "late": False,
                "note": note,
                "import_run_id": self.run_id,
            }
        )


def _as_it_stands(action: _HeldAction) -> dict[str, Any]:
    """A history row's status for a change that leaves the status alone: the action's, before
    and after. The digest reads an action's status at a past meeting from its last history row
    by then, so a row without one would make the action "not reported" from that day on."""
    return {
        "status_before": action.status,
        "status_after": action.status,
        "status_label_after": action.status_label,
    }


#: What a re-import may change in an action and records as "Changed in the workbook", with the
#: words its note uses (status, forecast and milestones have rows of their own).
_EDITED = {
    "title": "title",
    "lead_raw": "lead",
    "reporting_group": "reporting group",
    "area_id": "area",
    "start": "start",
    "due_note": "due",
    "outcomes": "outcomes",
    "evidence": "evidence",
    "progress": "progress",
}


def _changed(before: dict[str, Any], after: dict[str, Any], header: str) -> bool:
    return before.get(header) != after.get(header)


#: The fields of an action a re-import compares before and after (:func:`_snapshot`).
_SNAPSHOT = (
    "area_id",
    "title",
    "lead_raw",
    "accountable_id",
    "reporting_group",
    "start_date",
    "start_precision",
    "forecast_due",
    "forecast_due_precision",
    "status",
    "withdrawn",
    "due_kind",
    "due_note",
    "outcomes",
    "evidence",
    "progress",
)
_snapshot: Callable[[_HeldAction], tuple[Any, ...]] = operator.attrgetter(*_SNAPSHOT)
