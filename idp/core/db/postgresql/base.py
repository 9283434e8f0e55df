"""Django's PostgreSQL backend, with a health check that asks the kernel before the server.

With ``CONN_HEALTH_CHECKS`` (``IDP_DB_HEALTH_CHECKS``, on by default), Django checks a persistent
connection before the first query of each request, so that a connection the server ended
(restart, failover, ``pg_terminate_backend``, an idle timeout) is replaced instead of failing the
request with a 500. Its check is ``SELECT 1``: a round trip and a statement for PostgreSQL on
every request that queries, six per card login, 4 % of the provider's CPU in process
(docs/benchmarks.md, stop 10).

Between two requests a connection is idle: nothing is in flight, every result was read, so
nothing should be waiting on its socket. A server that ends a connection sends its error
message (``FATAL: terminating connection…``) and closes it: the socket becomes readable. So the
check here is first a zero-timeout ``poll()`` of the socket: readable, or psycopg already knows
the connection closed or broken, or a failed transaction is pending, and the connection is not
used again (Django closes it, the request opens a new one). Anything else waiting on the socket
(a ``NOTIFY``: the provider does not ``LISTEN``) also retires the connection: a wasted
reconnection at worst, never a wrong answer.

A peer that vanished without a word is not seen that way: the database host crashed and came
back, or its address moved to another machine on failover; no FIN ever arrived, and only a
packet sent gets the RST that tells. Those happen after a quiet spell, so a connection that
waited more than :data:`QUIET_SECONDS` since its last check also gets Django's ``SELECT 1``.
Under load each connection is checked many times a second and never pays the round trip.
"""

from __future__ import annotations

import select
import time

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from psycopg.pq import TransactionStatus

#: A connection idle longer than this is also asked ``SELECT 1`` (see the module docstring).
QUIET_SECONDS = 5.0

_USABLE_STATES = frozenset({TransactionStatus.IDLE, TransactionStatus.INTRANS})


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    _checked_at = 0.0

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status not in _USABLE_STATES:
            return False  # a failed transaction (INERROR), or a query still in flight (ACTIVE)
        if _readable(connection.fileno()):
            return False
        now = time.monotonic()
        if now - self._checked_at > QUIET_SECONDS and not super().is_usable():
            return False
        self._checked_at = now
        return True

    def connect(self) -> None:
        super().connect()
        self._checked_at = time.monotonic()  # new: nothing to ask it yet


def _readable(fd: int) -> bool:
    """Is something (or the end of the stream) waiting on ``fd``? Without waiting."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
