"""Model instances from raw SQL rows, for the hot statements of a login.

Through the ORM, a one-row lookup spends most of its CPU compiling the query
(../shared/performance.md: ~0.59 ms for a ``get(pk)`` against ~0.18 ms through a raw cursor). The
card endpoints and the professional's claims (idp/accounts/loading.py) run a handful of fixed
statements per login, so they write them once in SQL (table and column names from the models'
metadata, values bound) and turn the rows into ordinary model instances with Django's own
per-backend converters (JSON text, SQLite datetimes), exactly as the ORM would. Columns not
selected are deferred: reading one loads it, as with ``only()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


class Columns:
    """Some concrete fields of ``model`` as the select list ``alias.col, …`` and back."""

    def __init__(self, model: type[Model], alias: str, names: Sequence[str] | None = None) -> None:
        meta = model._meta
        # In the model's order: from_db() matches a partial list of values to fields that way.
        wanted = None if names is None else set(names)
        fields = [
            f
            for f in meta.concrete_fields
            if wanted is None or f.name in wanted or f.attname in wanted
        ]
        self.model = model
        self.fields = fields
        self.attnames = [f.attname for f in fields]
        self.sql = ", ".join(f"{alias}.{f.column}" for f in fields)
        self.width = len(fields)
        self._converters: dict[str, list[tuple[int, list[Any], Any]]] = {}

    def _for(self, conn: Any) -> list[tuple[int, list[Any], Any]]:
        found = self._converters.get(conn.vendor)
        if found is None:
            found = []
            table = self.model._meta.db_table
            for index, field in enumerate(self.fields):
                col = field.get_col(table)
                converters = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
                if converters:
                    found.append((index, converters, col))
            self._converters[conn.vendor] = found
        return found

    def values(self, row: Sequence[Any], start: int = 0) -> list[Any]:
        """The Python values of this slice of ``row`` (converted as the ORM converts them)."""
        values = list(row[start : start + self.width])
        for index, converters, col in self._for(connection):
            value = values[index]
            for converter in converters:
                value = converter(value, col, connection)
            values[index] = value
        return values

    def instance(self, row: Sequence[Any], start: int = 0) -> Any:
        """A model instance as loaded from the database (other fields deferred)."""
        return self.model.from_db(connection.alias, self.attnames, self.values(row, start))


def db_value(model: type[Model], name: str, value: Any) -> Any:
    """``value`` of field ``name`` as the ORM would bind it (datetimes, JSON) on this backend."""
    return model._meta.get_field(name).get_db_prep_save(value, connection)
