"""Writing thousands of new rows in one statement, for the import.

SQLAlchemy's Core ``execute(table.insert(), rows)`` already sends one ``executemany``, but it
builds every row's parameters through its general machinery (a dict per row, each value's type
processed again), which took longer than SQLite's own work of storing a 20,000-action plan.
:func:`insert_many` compiles the INSERT once, runs each column's bind processor (the same ones
SQLAlchemy uses, so every dialect stores the same values) with what a plan repeats converted once
(the import's time, the same dates, a dict given to several rows), and hands the driver plain
tuples. Anything it does not cover (a default computed per row, an unusual bind name)
goes the ordinary way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table

#: JSON values already converted, by the processor's name and the object itself (one dict given
#: to several rows is serialised once). Each entry keeps its object, so an id is never taken for
#: another's.
Memo = dict[Any, Any]


def insert_many(
    connection: Connection, table: Table, rows: list[dict[str, Any]], memo: Memo | None = None
) -> None:
    """Insert ``rows`` into ``table`` in order, in one executemany per run of rows with the same
    keys (SQLAlchemy's own executemany would take every row's columns from the first)."""
    start = 0
    for end in range(1, len(rows) + 1):
        if end == len(rows) or rows[end].keys() != rows[start].keys():
            _insert_run(connection, table, rows[start:end], memo)
            start = end


def _insert_run(
    connection: Connection, table: Table, rows: list[dict[str, Any]], memo: Memo | None
) -> None:
    keys = list(rows[0])
    plan = _plan(connection, table, keys) if all(isinstance(k, str) for k in keys) else None
    if plan is None:
        connection.execute(table.insert(), rows)
        return
    sql, order, constants, processors = plan
    memo = memo if memo is not None else {}
    given = [key for key in order if key not in constants]
    pick = itemgetter(*given)
    table_rows: list[Any] = list(map(pick, rows)) if len(given) > 1 else [(pick(r),) for r in rows]
    columns: list[Any] = list(zip(*table_rows, strict=True))
    by_key = dict(zip(given, columns, strict=True))
    for key in constants:
        by_key[key] = [constants[key]] * len(rows)
    for key, processor in zip(order, processors, strict=True):
        if processor is not None:
            by_key[key] = _converted(processor, by_key[key], memo)
    ordered = [by_key[key] for key in order]
    params: list[Any] = (
        list(zip(*ordered, strict=True))
        if connection.dialect.positional
        else [dict(zip(order, values, strict=True)) for values in zip(*ordered, strict=True)]
    )
    connection.exec_driver_sql(sql, params)


def _plan(
    connection: Connection, table: Table, keys: list[str]
) -> tuple[str, list[str], dict[str, Any], list[Callable[[Any], Any] | None]] | None:
    """The INSERT's text, its parameters' order, the constant defaults of the columns the rows
    leave out, and each parameter's bind processor; None if the fast path does not apply."""
    dialect = connection.dialect
    constants: dict[str, Any] = {}
    for column in table.columns:
        if column.key in keys:
            continue
        if column.primary_key and column.default is None:
            continue  # the database numbers it
        default = column.default
        if default is None:
            continue
        if not getattr(default, "is_scalar", False):
            return None  # computed per row: leave it to SQLAlchemy
        constants[column.key] = default.arg  # type: ignore[attr-defined]
    if any(k not in table.c for k in keys):
        return None
    names = [*keys, *constants]
    compiled = table.insert().compile(dialect=dialect, column_keys=names)
    order = list(compiled.positiontup or []) if dialect.positional else list(compiled.binds)
    if sorted(order) != sorted(names):
        return None  # bind names escaped or repeated: not ours to reproduce
    processors: list[Callable[[Any], Any] | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order
    ]
    return compiled.string, order, constants, processors


def _converted(processor: Callable[[Any], Any], values: Sequence[Any], memo: Memo) -> list[Any]:
    """``values`` (one column) through ``processor``, each distinct value once."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) == 1 and kinds <= {dict, list}:
        out: list[Any] = []
        for value in values:
            key = (processor.__qualname__, id(value))
            found = memo.get(key)
            if found is None or found[0] is not value:
                found = memo[key] = (value, processor(value))
            out.append(found[1])
        return out
    if len(kinds) <= 1 and not kinds & {dict, list, set}:
        try:
            # One type (and None), so equal values are the same value: True is never taken
            # for 1 in a column of numbers.
            distinct = {value: processor(value) for value in set(values)}
        except TypeError:  # not hashable
            return [processor(value) for value in values]
        return [distinct[value] for value in values]
    return [processor(value) for value in values]
