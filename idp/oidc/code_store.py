"""The authorization code's hot path in plain SQL: issue (resume), look up and redeem (token).

Through the ORM, issuing a code cost an INSERT plus a ``get_or_create`` of the session's client
(SELECT, SAVEPOINT, INSERT, RELEASE), and redeeming one a ``select_related`` lookup, a conditional
UPDATE, an INSERT of the refresh token and the same ``get_or_create`` again, most of their CPU
being query compilation (performance.md). Here, as in :mod:`idp.oidc.refresh_store`:

* :func:`insert` stores the code and registers its client in the SSO session (who back-channel
  logout must reach) with ``INSERT ... ON CONFLICT DO NOTHING``: on PostgreSQL one statement (a
  data-modifying CTE), on SQLite two;
* :func:`lookup` is one ``SELECT`` joining the SSO session;
* :func:`redeem` consumes the code with the conditional UPDATE that decides single use
  (architecture habit 4: only a still unconsumed, unexpired code is updated; a concurrent second
  redemption waits on the row lock, re-checks under READ COMMITTED and updates nothing) and, only
  if it won, inserts the refresh token copied from the code in SQL and (again, idempotently) the
  session's client. PostgreSQL: one statement; SQLite: the same statements in the caller's
  transaction, which ``BEGIN IMMEDIATE`` serialises (settings).

The models (:class:`idp.oidc.models.AuthorizationCode`, ...) stay the schema's single definition;
table and column names come from their metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from idp.audit import journal
from idp.oidc.models import AuthorizationCode, RefreshToken, SessionClient, SsoSession
from idp.oidc.refresh_store import SessionState
from idp.oidc.sql_values import aware_datetime, json_value

_AC = AuthorizationCode._meta.db_table
_RT = RefreshToken._meta.db_table
_SC = SessionClient._meta.db_table
_SS = SsoSession._meta.db_table

_INSERT_COLUMNS = (
    "code_hash, grant_id, client_id, session_id, professional_id, redirect_uri, scope, nonce, "
    "code_challenge, code_challenge_method, claims, acr, amr, auth_time, created_at, expires_at"
)
_INSERT_CODE_SQL = f"INSERT INTO {_AC} ({_INSERT_COLUMNS}) VALUES ({', '.join(['%s'] * 16)})"  # noqa: S608
# The unique constraint oidc_session_client: a client already in the session is left as it is.
_REGISTER_CLIENT_SQL = (
    f"INSERT INTO {_SC} (session_id, client_id, first_seen_at) VALUES (%s, %s, %s) "  # noqa: S608
    "ON CONFLICT (session_id, client_id) DO NOTHING"
)
_INSERT_PG_SQL = f"WITH code AS ({_INSERT_CODE_SQL}) {_REGISTER_CLIENT_SQL}"

_LOOKUP_SQL = f"""
SELECT c.id, c.grant_id, c.client_id, c.professional_id, c.redirect_uri, c.scope, c.nonce,
       c.code_challenge, c.code_challenge_method, c.claims, c.acr, c.amr, c.auth_time,
       c.expires_at, c.consumed_at,
       s.id, s.sid, s.auth_mode, s.last_active_at, s.expires_at, s.ended_at
FROM {_AC} c JOIN {_SS} s ON s.id = c.session_id
WHERE c.code_hash = %s
"""  # noqa: S608 (table names from model metadata, values bound)

_CONSUME_SQL = f"""
UPDATE {_AC} SET consumed_at = %s
WHERE id = %s AND consumed_at IS NULL AND expires_at > %s
"""  # noqa: S608

# Copied from the code to its refresh token (same grant, client, session, scope, claims, auth).
_INHERITED = "grant_id, client_id, professional_id, session_id, scope, claims, acr, amr, auth_time"
_RT_COLUMNS = f"token_hash, {_INHERITED}, cnf_x5t_s256, issued_at, expires_at"

_REDEEM_PG_SQL = f"""
WITH consumed AS (
    {_CONSUME_SQL}
    RETURNING {_INHERITED}
){{refresh}}, registered AS (
    INSERT INTO {_SC} (session_id, client_id, first_seen_at)
    SELECT session_id, client_id, %s FROM consumed
    ON CONFLICT (session_id, client_id) DO NOTHING
)
SELECT COUNT(*){{journal}} FROM consumed
"""  # noqa: S608
# The code's journal event in the same statement, appended only if the code was consumed.
_REDEEM_JOURNAL_PG = f", {journal.append_if_any('consumed')}"
_REDEEM_REFRESH_PG = f""", refresh AS (
    INSERT INTO {_RT} ({_RT_COLUMNS})
    SELECT %s, {_INHERITED}, %s, %s, %s FROM consumed
)"""  # noqa: S608

_INSERT_REFRESH_SQL = f"""
INSERT INTO {_RT} ({_RT_COLUMNS})
SELECT %s, {_INHERITED}, %s, %s, %s FROM {_AC} WHERE id = %s
"""  # noqa: S608
# SQLite: an INSERT ... SELECT with an upsert clause needs its WHERE (parsing ambiguity).
_REGISTER_FROM_CODE_SQL = f"""
INSERT INTO {_SC} (session_id, client_id, first_seen_at)
SELECT session_id, client_id, %s FROM {_AC} WHERE id = %s
ON CONFLICT (session_id, client_id) DO NOTHING
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class StoredCode:
    """An authorization code row as the token endpoint needs it."""

    id: int
    grant_id: str
    client_id: str
    professional_id: int
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    claims: Any
    acr: str
    amr: list[str]
    auth_time: datetime
    expires_at: datetime
    consumed_at: datetime | None
    session: SessionState  # the lookup joins the session (a code always has one)


def _field_value(name: str, value: Any) -> Any:
    return AuthorizationCode._meta.get_field(name).get_db_prep_save(value, connection)


def insert(
    *,
    code_hash: str,
    grant_id: str,
    client_id: str,
    session_id: int,
    professional_id: int,
    redirect_uri: str,
    scope: str,
    nonce: str,
    code_challenge: str,
    code_challenge_method: str,
    claims: Any,
    acr: str,
    amr: list[str],
    auth_time: datetime,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Store a code and register ``client_id`` in its session (if it is not already)."""
    adapt = connection.ops.adapt_datetimefield_value
    code = [
        code_hash,
        grant_id,
        client_id,
        session_id,
        professional_id,
        redirect_uri,
        scope,
        nonce,
        code_challenge,
        code_challenge_method,
        _field_value("claims", claims),
        acr,
        _field_value("amr", list(amr)),
        adapt(auth_time),
        adapt(now),
        adapt(expires_at),
    ]
    client = [session_id, client_id, adapt(now)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_INSERT_PG_SQL, code + client)
        else:
            cursor.execute(_INSERT_CODE_SQL, code)
            cursor.execute(_REGISTER_CLIENT_SQL, client)


def lookup(code_hash: str) -> StoredCode | None:
    """The code with this keyed hash and its SSO session, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_LOOKUP_SQL, [code_hash])
        found = cursor.fetchone()
    if found is None:
        return None
    (
        pk, grant_id, client_id, professional_id, redirect_uri, scope, nonce, challenge, method,
        claims, acr, amr, auth_time, expires_at, consumed_at,
        s_id, sid, auth_mode, last_active_at, s_expires_at, ended_at,
    ) = found  # fmt: skip
    return StoredCode(
        id=pk,
        grant_id=grant_id,
        client_id=client_id,
        professional_id=professional_id,
        redirect_uri=redirect_uri,
        scope=scope,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method=method,
        claims=json_value(claims),
        acr=acr,
        amr=list(json_value(amr) or []),
        auth_time=aware_datetime(auth_time),
        expires_at=aware_datetime(expires_at),
        consumed_at=aware_datetime(consumed_at),
        session=SessionState.from_columns(  # type: ignore[arg-type]  (inner JOIN: never None)
            s_id, sid, auth_mode, last_active_at, s_expires_at, ended_at
        ),
    )


def redeem(
    code_id: int,
    *,
    now: datetime,
    refresh_hash: str = "",
    refresh_expires_at: datetime | None = None,
    x5t_s256: str = "",
    journal_event: str | None = None,
) -> bool:
    """Consume the code (if still unconsumed and unexpired) and, only then, insert its refresh
    token (with ``refresh_hash``) and register its client in the session. False: not consumed
    (a concurrent redemption won, or it expired meanwhile). Run it inside a transaction, or,
    on PostgreSQL, with ``journal_event`` (``journal.for_statement``): then it is one statement
    that also appends that event if, and only if, the code was consumed, its own transaction."""
    adapt = connection.ops.adapt_datetimefield_value
    now_db = adapt(now)
    consume = [now_db, code_id, now_db]
    refresh = [refresh_hash, x5t_s256, now_db, adapt(refresh_expires_at)] if refresh_hash else []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = _REDEEM_PG_SQL.format(
                refresh=_REDEEM_REFRESH_PG if refresh_hash else "",
                journal=_REDEEM_JOURNAL_PG if journal_event is not None else "",
            )
            event = [journal_event] if journal_event is not None else []
            cursor.execute(sql, consume + refresh + [now_db] + event)
            return cursor.fetchone()[0] == 1
        if journal_event is not None:
            raise ValueError("a journal event in the redemption's statement is PostgreSQL's")
        cursor.execute(_CONSUME_SQL, consume)
        if cursor.rowcount != 1:
            return False
        if refresh_hash:
            cursor.execute(_INSERT_REFRESH_SQL, [*refresh, code_id])
        cursor.execute(_REGISTER_FROM_CODE_SQL, [now_db, code_id])
        return True
