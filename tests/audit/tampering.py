"""Playing the attacker who has write access to the database, and cleaning up after tests.

The append-only triggers stop UPDATE/DELETE from every client. To show that the hash chain still
catches a determined attacker, tests first do what such an attacker would do: disable the triggers
(PostgreSQL: ``ALTER TABLE … DISABLE TRIGGER USER``, the table owner may do it; SQLite: drop them,
then recreate them from their SQL saved in ``sqlite_master``) and then write raw SQL.

Django is imported lazily: this module may be imported from a conftest before Django is set up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def _table() -> str:
    from idp.audit.models import AuditEvent

    return AuditEvent._meta.db_table


@contextmanager
def append_only_triggers_disabled(using: str = "default") -> Iterator[None]:
    """Within the block the audit table accepts UPDATE and DELETE; the triggers come back after."""
    from django.db import connections

    connection = connections[using]
    table = _table()
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {quoted} DISABLE TRIGGER USER")
            try:
                yield
            finally:
                cursor.execute(f"ALTER TABLE {quoted} ENABLE TRIGGER USER")
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [table],
            )
            triggers = cursor.fetchall()
            for name, _sql in triggers:
                cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
            try:
                yield
            finally:
                for _name, sql in triggers:
                    cursor.execute(sql)
        else:  # pragma: no cover
            raise NotImplementedError(connection.vendor)


def rewrite_event(at: int, /, *, using: str = "default", **columns: Any) -> None:
    """Raw ``UPDATE`` of the event at sequence ``at``, values adapted as Django would."""
    from django.db import connections

    from idp.audit.models import AuditEvent

    connection = connections[using]
    assignments, params = [], []
    for name, value in columns.items():
        field = AuditEvent._meta.get_field(name)
        assignments.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_value(value, connection, prepared=False))
    sql = f"UPDATE {connection.ops.quote_name(_table())} SET {', '.join(assignments)} "  # noqa: S608
    with append_only_triggers_disabled(using), connection.cursor() as cursor:
        cursor.execute(sql + "WHERE sequence = %s", [*params, at])
        assert cursor.rowcount == 1


def delete_events(*sequences: int, using: str = "default") -> None:
    """Raw ``DELETE`` of the given events."""
    from django.db import connections

    connection = connections[using]
    table = connection.ops.quote_name(_table())
    with append_only_triggers_disabled(using), connection.cursor() as cursor:
        for sequence in sequences:
            cursor.execute(f"DELETE FROM {table} WHERE sequence = %s", [sequence])  # noqa: S608
            assert cursor.rowcount == 1


@pytest.fixture(autouse=True)
def _audit_journal_flushable(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty the journal, bypassing the triggers, before a transactional test's flush on SQLite.

    pytest-django ends a ``transaction=True`` test by flushing every table. PostgreSQL flushes with
    TRUNCATE, which the triggers allow; SQLite flushes with ``DELETE FROM``, which they refuse, and
    the failed flush then leaks rows into the following tests. Any suite whose transactional tests
    record audit events needs this fixture: import it into its conftest.
    """
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
        or (marker and marker.kwargs.get("transaction", marker.args[0] if marker.args else False))
    )
    if not transactional:
        return
    from django.db import connections

    for alias in connections:
        connection = connections[alias]
        if connection.vendor != "sqlite" or _table() not in connection.introspection.table_names():
            continue
        with append_only_triggers_disabled(alias), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(_table())}")  # noqa: S608
