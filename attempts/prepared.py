"""Querysets compiled once: the ORM's SQL for a hot query, replayed with new values.

Building a queryset and compiling it to SQL is pure Python, and on the start path it cost more
than the query itself: in a py-spy profile of closed-loop starts (bench `--profile-windows`), 28 %
of daphne's samples were the ORM building and compiling `_exam_for_start`'s one SELECT. A query
whose shape never changes compiles to the same SQL every time, only its values differ. So the
queryset is built once per database with stand-in values, compiled by the ORM as usual, and the
places where the stand-ins landed among the parameters are remembered; each call swaps the real
values in, sends the same SQL through Django's cursor (so query capture and the debug log still
see it) and converts the row with the compiler's own converters (booleans, datetimes, JSON).

The ORM stays the author of the SQL (both backends, quoting, FOR UPDATE); only the stand-ins must
reach the parameters unchanged, which holds for integers compared with integer columns and is
checked when the query is compiled.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet

# A stand-in is recognised by its value among the compiled parameters. Within a 32-bit column's
# range: the ORM compiles a lookup with a value out of the column's range to "no rows" (NULL)
# instead of a parameter. Never sent to the database.
_STAND_IN_BASE = 2_147_400_000


class _Slot:
    """Where an argument's value goes among the parameters."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Compiled:
    def __init__(self, queryset: QuerySet, alias: str, stand_ins: dict[str, int]) -> None:
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        by_value = {value: name for name, value in stand_ins.items()}
        self.sql = sql
        self.params = [_Slot(by_value[p]) if isinstance(p, int) and p in by_value else p for p in params]
        placed = {p.name for p in self.params if isinstance(p, _Slot)}
        if placed != set(stand_ins) or any(str(v) in sql for v in stand_ins.values()):
            raise ValueError(f"arguments {sorted(set(stand_ins) - placed)} do not reach the SQL as parameters: {sql}")
        query = queryset.query
        self.names = [*query.extra_select, *query.values_select, *query.annotation_select]
        self.compiler = compiler
        self.converters = compiler.get_converters([column for column, _, _ in compiler.select])

    def values(self, arguments: dict[str, Any]) -> list:
        return [arguments[p.name] if isinstance(p, _Slot) else p for p in self.params]


class Prepared:
    """`build(**arguments)` returns a `.values(...)` queryset; `first(**arguments)` runs it as compiled once.

    The arguments must be integers (ids): they are matched among the parameters by value.
    """

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self._build = build
        self._arguments = list(inspect.signature(build).parameters)
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, alias: str) -> _Compiled:
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(alias)
                if compiled is None:
                    stand_ins = {name: _STAND_IN_BASE + n for n, name in enumerate(self._arguments)}
                    compiled = _Compiled(self._build(**stand_ins), alias, stand_ins)
                    self._compiled[alias] = compiled
        return compiled

    def sql(self, using: str = DEFAULT_DB_ALIAS) -> str:
        return self._for(using).sql

    def rows(self, using: str = DEFAULT_DB_ALIAS, **arguments: int) -> list[dict[str, Any]]:
        """Every row as {name: value}, converted as the ORM would."""
        compiled = self._for(using)
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, compiled.values(arguments))
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        return [dict(zip(compiled.names, row, strict=True)) for row in rows]

    def first(self, using: str = DEFAULT_DB_ALIAS, **arguments: int) -> dict[str, Any] | None:
        """The first row (None: no row); the queryset should name one row (a key, or a slice)."""
        rows = self.rows(using, **arguments)
        return rows[0] if rows else None
