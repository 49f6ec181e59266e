"""Many rows to one table, fast: one prepared statement through SQLite's DBAPI `executemany`, with the dialect's own
bind processors applied (dates, instants and flags stored exactly as Core would store them). The page writer stores
a sync's records with it, and the reconcile its items. Other dialects (PostgreSQL) keep the Core path.

Must not: know any table's meaning (the repositories do).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Table, bindparam, insert, update
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite import base as sqlite_types

from app.storage.db import Tx


def _bind_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _bind_instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(" ", "microseconds")


def _bind_flag(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


FAST_SQLITE_BINDS: tuple[tuple[type, Any], ...] = (
    (sqlite_types.DATETIME, _bind_instant),
    (sqlite_types.DATE, _bind_date),
    (Boolean, _bind_flag),
)


_MAX_BOUND = 8000
_SQLITE = sqlite_dialect.dialect()


@functools.cache
def sqlite_binds(table: Table, columns: tuple[str, ...]) -> list[tuple[int, Any]]:
    """(position, processor) of the columns whose SQLite bind processor does something: the dialect's own, or the
    same text formatted in C for dates, instants and flags (a sync binds ~1M of them);
    `test_sqlite_fast_binds_write_what_sqlalchemy_writes` holds those to the dialect's."""
    out = []
    for i, name in enumerate(columns):
        impl = table.c[name].type.dialect_impl(_SQLITE)
        proc = impl.bind_processor(_SQLITE)
        if proc is not None:
            out.append((i, next((fast for kind, fast in FAST_SQLITE_BINDS if isinstance(impl, kind)), proc)))
    return out


class BulkWriter:
    """Sends many rows to a table. On SQLite, one prepared statement through the DBAPI's executemany, with the
    dialect's own bind processors applied (so dates, instants and booleans are stored exactly as Core would);
    SQLAlchemy's per-row parameter building for executemany was half the time of storing a page. Other dialects
    (PostgreSQL) keep the Core path, which knows their drivers' batching."""

    def __init__(self, tx: Tx, *, single_rows: bool = False) -> None:
        self.tx = tx
        dialect = tx.conn.dialect
        self.raw = dialect.name == "sqlite" and dialect.paramstyle == "qmark"
        self.single_rows = single_rows

    def _bound(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        procs = sqlite_binds(table, tuple(columns))
        if not procs:
            return rows
        params: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for i, proc in procs:
                values[i] = proc(values[i])
            params.append(tuple(values))
        return params

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], *, bound: bool = False) -> None:
        """INSERT `rows` (tuples in `columns` order; `bound`: already in SQLite's bind form, as
        `records.prepare_records` makes them)."""
        if not rows:
            return
        if not self.raw:
            self.tx.conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
            return
        q = self.tx.conn.dialect.identifier_preparer
        head = f"INSERT INTO {q.format_table(table)} ({', '.join(q.quote(c) for c in columns)}) VALUES "
        one = f"({', '.join('?' for _ in columns)})"
        values = rows if bound else self._bound(table, columns, rows)
        if self.single_rows:
            # One row per statement: SQLite keeps no statement journal for it (see `records.store_prepared`).
            self.tx.conn.exec_driver_sql(head + one, values)
            return
        # Many rows per statement: the sqlite3 module lets go of the GIL around every step, and with the sync's
        # read-ahead thread busy each step waited to get it back (half of a page's write time). One step per
        # `per` rows; at most _MAX_BOUND parameters a statement (SQLite allows 32,766).
        per = max(1, _MAX_BOUND // len(columns))
        full, rest = divmod(len(values), per)
        flatten = itertools.chain.from_iterable
        if full:
            flat = [tuple(flatten(values[i * per : (i + 1) * per])) for i in range(full)]
            self.tx.conn.exec_driver_sql(head + ", ".join([one] * per), flat)
        if rest:
            self.tx.conn.exec_driver_sql(head + ", ".join([one] * rest), tuple(flatten(values[full * per :])))

    def update_by_id(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], *, bound: bool = False
    ) -> None:
        """UPDATE by primary key `id`: each row is the values of `columns` followed by the id."""
        if not rows:
            return
        if not self.raw:
            names = [*columns, "rid"]
            self.tx.conn.execute(
                update(table).where(table.c.id == bindparam("rid")),
                [dict(zip(names, row, strict=True)) for row in rows],
            )
            return
        q = self.tx.conn.dialect.identifier_preparer
        sql = (
            f"UPDATE {q.format_table(table)} SET {', '.join(q.quote(c) + ' = ?' for c in columns)} "
            f"WHERE {q.quote('id')} = ?"
        )
        self.tx.conn.exec_driver_sql(sql, rows if bound else self._bound(table, [*columns, "id"], rows))
