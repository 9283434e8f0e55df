"""The refresh-token rotation hot path in plain SQL: one lookup, one rotation statement.

The token endpoint's refresh grant is the one grant that must write (RFC 6749 §6 with rotation,
OAuth 2.0 Security BCP §4.14.2). Through the ORM it cost five database round trips and most of its
CPU in query compilation (a select_related lookup, BEGIN, UPDATE, INSERT, COMMIT). Here:

* :func:`lookup` is one ``SELECT`` joining the SSO session;
* :func:`rotate` is, on PostgreSQL, a single statement in autocommit: a data-modifying CTE marks the
  presented token rotated (only if it is still unrotated, unrevoked and unexpired) and inserts its
  successor copied from it in SQL. A concurrent second use of the same token waits on the row lock,
  re-checks the condition under READ COMMITTED, finds it false and inserts nothing: one winner.
  SQLite cannot put an UPDATE in a CTE, so there the same two statements run in a transaction that
  ``BEGIN IMMEDIATE`` serialises (settings).

The models (:class:`idp.oidc.models.RefreshToken`, :class:`~idp.oidc.models.SsoSession`) stay the
schema's single definition; table and column names come from their metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from idp.oidc.models import RefreshToken, SsoSession
from idp.oidc.sql_values import aware_datetime, json_value

_RT = RefreshToken._meta.db_table
_SS = SsoSession._meta.db_table

# Copied from the presented token to its successor (RFC 6749 §6: same grant, same scope).
_INHERITED = (
    "grant_id, client_id, professional_id, session_id, scope, claims, acr, amr, auth_time, "
    "cnf_x5t_s256"
)

_LOOKUP_SQL = f"""
SELECT r.id, r.grant_id, r.client_id, r.professional_id, r.scope, r.acr, r.amr, r.auth_time,
       r.cnf_x5t_s256, r.expires_at, r.rotated_at, r.revoked_at,
       s.id, s.sid, s.auth_mode, s.last_active_at, s.expires_at, s.ended_at
FROM {_RT} r LEFT JOIN {_SS} s ON s.id = r.session_id
WHERE r.token_hash = %s
"""  # noqa: S608 (table names from model metadata, values bound)

_INSERT_COLUMNS = f"token_hash, parent_id, {_INHERITED}, issued_at, expires_at"

_ROTATE_PG_SQL = f"""
WITH parent AS (
    UPDATE {_RT} SET rotated_at = %s
    WHERE id = %s AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > %s
    RETURNING id, {_INHERITED}
)
INSERT INTO {_RT} ({_INSERT_COLUMNS})
SELECT %s, id, {_INHERITED}, %s, %s FROM parent
"""  # noqa: S608

_MARK_ROTATED_SQL = f"""
UPDATE {_RT} SET rotated_at = %s
WHERE id = %s AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > %s
"""  # noqa: S608

_INSERT_SUCCESSOR_SQL = f"""
INSERT INTO {_RT} ({_INSERT_COLUMNS})
SELECT %s, id, {_INHERITED}, %s, %s FROM {_RT} WHERE id = %s
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class SessionState:
    """The SSO session fields the refresh grant reads (see :func:`idp.oidc.sessions.is_live`)."""

    id: int
    sid: str
    auth_mode: str
    last_active_at: datetime
    expires_at: datetime
    ended_at: datetime | None

    @classmethod
    def from_columns(
        cls, id: Any, sid: Any, auth_mode: Any, last_active_at: Any, expires_at: Any, ended: Any
    ) -> SessionState | None:
        """From the six session columns a raw query selected (None: no session)."""
        if id is None:
            return None
        return cls(
            id=id,
            sid=sid,
            auth_mode=auth_mode,
            last_active_at=aware_datetime(last_active_at),
            expires_at=aware_datetime(expires_at),
            ended_at=aware_datetime(ended),
        )


@dataclass(frozen=True, slots=True)
class StoredRefresh:
    """A refresh token row as the grant needs it."""

    id: int
    grant_id: str
    client_id: str
    professional_id: int
    scope: str
    acr: str
    amr: list[str]
    auth_time: datetime
    cnf_x5t_s256: str
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    session: SessionState | None


def lookup(token_hash: str) -> StoredRefresh | None:
    """The refresh token with this keyed hash and its SSO session, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_LOOKUP_SQL, [token_hash])
        found = cursor.fetchone()
    if found is None:
        return None
    (
        pk, grant_id, client_id, professional_id, scope, acr, amr, auth_time, cnf,
        expires_at, rotated_at, revoked_at,
        s_id, sid, auth_mode, last_active_at, s_expires_at, ended_at,
    ) = found  # fmt: skip
    session = SessionState.from_columns(
        s_id, sid, auth_mode, last_active_at, s_expires_at, ended_at
    )
    return StoredRefresh(
        id=pk,
        grant_id=grant_id,
        client_id=client_id,
        professional_id=professional_id,
        scope=scope,
        acr=acr,
        amr=list(json_value(amr) or []),
        auth_time=aware_datetime(auth_time),
        cnf_x5t_s256=cnf,
        expires_at=aware_datetime(expires_at),
        rotated_at=aware_datetime(rotated_at),
        revoked_at=aware_datetime(revoked_at),
        session=session,
    )


def rotate(parent_id: int, *, new_hash: str, now: datetime, expires_at: datetime) -> bool:
    """Mark the token rotated and insert its successor, atomically; False if it was no longer
    usable (rotated, revoked or expired meanwhile: a concurrent use won)."""
    # Stored as the ORM stores them (naive UTC text on SQLite).
    now = connection.ops.adapt_datetimefield_value(now)
    expires_at = connection.ops.adapt_datetimefield_value(expires_at)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # One statement: atomic on its own in autocommit, and inside an outer transaction.
            cursor.execute(_ROTATE_PG_SQL, [now, parent_id, now, new_hash, now, expires_at])
            return cursor.rowcount == 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MARK_ROTATED_SQL, [now, parent_id, now])
        if cursor.rowcount != 1:
            return False
        cursor.execute(_INSERT_SUCCESSOR_SQL, [new_hash, now, expires_at, parent_id])
        return True
