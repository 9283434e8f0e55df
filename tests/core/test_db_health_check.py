"""idp.core.db.postgresql: a connection's health is checked without a round trip, and a
connection the server ended is still found unusable and replaced (real PostgreSQL)."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections

from idp.core.db.postgresql import base

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the health check is the PostgreSQL backend's"
    ),
    pytest.mark.django_db(transaction=True),
]


def _other_connection() -> psycopg.Connection:
    """A connection of its own (not Django's), to watch and end Django's from outside."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    return psycopg.connect(**params, autocommit=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_the_backend_is_ours():
    assert settings.DATABASES["default"]["ENGINE"] == "idp.core.db.postgresql"
    assert type(connections["default"]).__module__ == "idp.core.db.postgresql.base"


def _last_statement(watcher: psycopg.Connection, pid: int) -> tuple[str, str]:
    return watcher.execute(
        "SELECT query, state FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone()


def test_a_live_connection_is_usable_and_the_check_sends_nothing():
    pid = _backend_pid()
    assert connection.is_usable()  # checked now: the next check within QUIET_SECONDS is local
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'last statement before the check'")
    with _other_connection() as watcher:
        assert connection.is_usable()
        connection.health_check_done = False
        connection.close_if_health_check_failed()
        # The server saw nothing after our marker: no SELECT 1 went out.
        seen = _last_statement(watcher, pid)
    assert seen == ("SELECT 'last statement before the check'", "idle")
    assert connection.connection is not None and _backend_pid() == pid


def test_a_connection_quiet_for_a_while_is_also_asked_select_1():
    """A peer gone without a FIN (host crash, failover to another machine) shows only when a
    packet is sent: after a quiet spell, the check sends Django's SELECT 1 as well."""
    pid = _backend_pid()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'last statement before the check'")
    connection._checked_at -= base.QUIET_SECONDS + 1  # as if the last check was that long ago
    with _other_connection() as watcher:
        assert connection.is_usable()
        assert _last_statement(watcher, pid) == ("SELECT 1", "idle")
        # Checked now: the next one is local again.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 'after the quiet spell'")
        assert connection.is_usable()
        assert _last_statement(watcher, pid) == ("SELECT 'after the quiet spell'", "idle")


def test_a_connection_the_server_ended_is_replaced():
    pid = _backend_pid()
    with _other_connection() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            assert time.monotonic() < deadline, "the server did not end the connection"
            time.sleep(0.02)

    assert not connection.is_usable()
    # What Django does before a request's first query: the dead connection is closed…
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert connection.connection is None
    # …and the request's query runs on a new one.
    assert _backend_pid() != pid


def test_a_failed_transaction_is_not_reused():
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = False
    try:
        with pytest.raises(psycopg.errors.DivisionByZero):
            raw.execute("SELECT 1 / 0")
        assert not connection.is_usable()
    finally:
        raw.rollback()
        raw.autocommit = True
    assert connection.is_usable()


def test_a_closed_connection_is_not_usable():
    connection.ensure_connection()
    connection.connection.close()
    assert not connection.is_usable()
    connection.close()
    assert _backend_pid() > 0
