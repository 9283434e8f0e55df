"""Appending to the security journal: ``record(EventTag.X, actor=..., subject=..., data=...)``.

The event is appended in the caller's transaction when there is one: if the caller's work rolls
back, so does its audit event, and if the audit event cannot be written, the caller's work fails
with it. There is no action without its record.

Appending reads the chain head and writes the next link, so writers must be serialised:

* PostgreSQL: one statement, ``SELECT * FROM caducee_audit_append(events)`` (the function of
  migration 0003): it takes ``pg_advisory_xact_lock`` on a constant key, reads the head in a
  query of its own (a VOLATILE function takes a fresh snapshot per query, so under READ COMMITTED
  the head read after the lock is the one the previous writer committed:
  ``tests/audit/test_concurrency.py`` checks that a waiting writer reads the head committed
  meanwhile), stamps the events with the database's clock read after the lock, completes each
  event's canonical document prepared here (:func:`idp.audit.chain.canonical_pieces`), hashes it
  and inserts the rows. The hashes are those :func:`idp.audit.chain.compute_hash` gives, which
  ``audit_verify`` recomputes. The lock is released when the *outermost* transaction ends: call
  ``record()`` late in long transactions, every writer of the journal queues behind it until
  then. Per event: 1 round trip, inside a transaction or outside (autocommit makes the statement
  its own transaction).
* SQLite: the project opens transactions with ``BEGIN IMMEDIATE`` (``transaction_mode`` in
  settings), which takes the database write lock up front; writers queue. The head is read and
  the row inserted with raw SQL on the connection's cursor (columns from the model, values
  adapted by its fields, the hash by :func:`idp.audit.chain.compute_hash`): no ORM query
  compilation and no ``Model.save()``. Per event: 2 round trips inside a transaction, 4 outside
  (BEGIN, head, INSERT, COMMIT).

A caller whose work is itself one statement can append its event in that statement
(:func:`for_statement`, PostgreSQL): the token endpoint's code redemption and the card app's
approval do, outside any transaction, so that the work and its event are one implicit
transaction; a card challenge's creation does as the last write of its own transaction.

Inside a caller's atomic block no savepoint is made: a failing statement marks the caller's
transaction for rollback, which is what must happen to the caller's work anyway.

Whatever the locking, the unique ``sequence`` and ``prev_hash`` columns make a forked chain
impossible: a writer that raced would fail with an IntegrityError, never write a second link.

**Batches.** A request that records several events in one unit of work (a login opens the SSO
session, issues the code and records the method's own event) wraps it in :func:`batched`: the
block is one transaction, ``record()`` inside it prepares its event and queues it, and at the end
of the block, still inside that transaction, the queue is appended at once: one statement on
PostgreSQL (SQLite: one head read and one multi-row INSERT), however many events. The chain is
the same as with one ``record()`` each (same hashes, sequence in the order of the calls,
``occurred_at`` read after the lock); the lock is taken last, so it is held for the commit only.
If the block raises, nothing is appended and the caller's work rolls back with it. An event
recorded inside a nested ``atomic()`` (a savepoint, which could be rolled back on its own) is
appended at once, as outside a batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from django.utils import timezone

from idp.audit import chain
from idp.audit.models import (
    ACTOR_MAX_LENGTH,
    REQUEST_ID_MAX_LENGTH,
    SUBJECT_MAX_LENGTH,
    USER_AGENT_MAX_LENGTH,
    AuditEvent,
    check_tag,
)
from idp.audit.scrub import scrub
from idp.audit.tags import EventTag

# Key of the PostgreSQL advisory lock guarding the chain head: the first 8 bytes of
# SHA-256("caducee.audit.chain") as a signed 64-bit integer. Any constant works as long as
# nothing else in the database uses it. The append function (migration 0003) takes it; other
# code that must not interleave with appends (tests, maintenance) can take it too.
CHAIN_LOCK_KEY = 8_336_624_168_984_181_743

# Correlation id set by the reverse proxy (nginx: proxy_set_header X-Request-ID $request_id).
# Not trusted for anything; characters are restricted so the column stays printable.
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{REQUEST_ID_MAX_LENGTH}}}")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class _Prepared:
    """An event with everything that does not depend on the chain head done."""

    event: AuditEvent


@dataclass
class _Batch:
    using: str
    depth: int  # _savepoints() inside the batch's own atomic block
    queue: list[_Prepared]


_BATCH: ContextVar[_Batch | None] = ContextVar("audit_journal_batch", default=None)


def record(
    tag: EventTag,
    *,
    actor: str = "",
    subject: str = "",
    request: HttpRequest | None = None,
    data: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the journal and return it.

    ``actor`` is who did it (``"admin:alice"``, ``"system:rpps_sync"``, ``"professional:<sub>"``),
    ``subject`` what it is about. With ``request``, the client address (``REMOTE_ADDR`` only: a
    trusted-proxy middleware, not this function, decides whether X-Forwarded-For can be believed)
    and its user agent are recorded. ``data`` is scrubbed of secrets (:mod:`idp.audit.scrub`) and
    must be JSON-serialisable (datetimes, UUIDs and Decimals become strings).

    The returned event is the row as written (``_state.adding`` is false, as if read back). Inside
    :func:`batched`, it is filled in (sequence, time, hashes) when the batch is appended.
    """
    using = router.db_for_write(AuditEvent)
    connection = connections[using]
    prepared = _prepare(tag, actor, subject, request, data)
    batch = _BATCH.get()
    if (
        batch is not None
        and batch.using == using
        and _savepoints(connection) == batch.depth
        and connection.in_atomic_block
    ):
        batch.queue.append(prepared)
        return prepared.event
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One statement (the append function), which autocommit makes its own transaction:
        # no BEGIN and COMMIT round trips around it.
        _append(connection, [prepared])
        return prepared.event
    # savepoint=False: inside a caller's atomic block a savepoint would cost two round trips for
    # nothing. If a statement below fails, Django marks the caller's transaction for rollback
    # (its work and this event go together); outside one, this block is the transaction.
    with transaction.atomic(using=using, savepoint=False):
        _append(connection, [prepared])
    return prepared.event


#: The append function as an SQL expression (its rows), for :func:`for_statement`'s callers.
APPEND_FUNCTION_CALL = "caducee_audit_append(%s::jsonb)"


def append_if_any(cte: str) -> str:
    """An SQL expression appending :func:`for_statement`'s event (its one ``%s``) only if the
    common table expression ``cte`` of the same statement returned a row (the work was done);
    its value is the number of events appended. The scalar subquery is uncorrelated, so
    PostgreSQL runs it when the CASE first needs it: never on the ELSE branch."""
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {cte})"  # noqa: S608 (a CTE name of the caller's SQL)
        f" THEN (SELECT COUNT(*) FROM {APPEND_FUNCTION_CALL}) ELSE 0 END"
    )


def for_statement(
    tag: EventTag,
    *,
    actor: str = "",
    subject: str = "",
    request: HttpRequest | None = None,
    data: Mapping[str, Any] | None = None,
    in_transaction: bool = False,
) -> str | None:
    """The event, checked and cleaned as :func:`record` does, as the argument of
    :data:`APPEND_FUNCTION_CALL`: for a caller that writes its work and appends its event in one
    statement of its own (``SELECT … FROM caducee_audit_append(%s::jsonb)`` in the statement
    that does the work, e.g. ``code_store.redeem``), which autocommit makes one transaction:
    no BEGIN, COMMIT or separate append round trips. None where that cannot be: not
    PostgreSQL, or inside a transaction or a batch (:func:`record` it there, with the work).

    ``in_transaction``: the statement may also be one of the caller's transaction (the event
    then commits or rolls back with it, as :func:`record` there would), provided no batch is
    open (its queued events must keep their place before this one). The chain's lock is taken
    by that statement and held until the transaction ends: for the transaction's last write.
    """
    using = router.db_for_write(AuditEvent)
    connection = connections[using]
    if (
        connection.vendor != "postgresql"
        or (connection.in_atomic_block and not in_transaction)
        or _BATCH.get()
    ):
        return None
    return _function_argument([_prepare(tag, actor, subject, request, data)])


@contextmanager
def batched(using: str | None = None) -> Iterator[None]:
    """One transaction whose ``record()`` calls are appended together at its end (see above).

    Nested ``batched()`` blocks join the outermost one.
    """
    using = using or router.db_for_write(AuditEvent)
    outer = _BATCH.get()
    if outer is not None and outer.using == using:
        with transaction.atomic(using=using, savepoint=False):
            yield
        return
    connection = connections[using]
    # A savepoint when nested in a caller's transaction (a failing batch then undoes its own
    # work only); the outermost block of a request is BEGIN … COMMIT, with no savepoint to pay.
    with transaction.atomic(using=using):
        batch = _Batch(using=using, depth=_savepoints(connection), queue=[])
        token = _BATCH.set(batch)
        try:
            yield
        finally:
            _BATCH.reset(token)
        # A block that asked for its rollback (transaction.set_rollback) keeps nothing: its
        # events go with its work.
        if batch.queue and not connection.needs_rollback:
            _append(connection, batch.queue)


def _savepoints(connection: BaseDatabaseWrapper) -> int:
    """Savepoints open on ``connection`` (``atomic(savepoint=False)`` blocks push a None)."""
    return sum(1 for sid in connection.savepoint_ids if sid is not None)


def _prepare(
    tag: EventTag,
    actor: str,
    subject: str,
    request: HttpRequest | None,
    data: Mapping[str, Any] | None,
) -> _Prepared:
    """Check and clean the event's fields: everything that does not need the chain head."""
    tag = check_tag(tag)
    actor = _identifier("actor", actor, ACTOR_MAX_LENGTH)
    subject = _identifier("subject", subject, SUBJECT_MAX_LENGTH)
    ip, user_agent, request_id = _request_context(request)
    payload = _json_data(scrub(data, key=settings.SECRET_KEY)) if data else {}
    event = AuditEvent(
        tag=tag.value,
        actor=actor,
        subject=subject,
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
        data=payload,
    )
    return _Prepared(event=event)


def _append(connection: BaseDatabaseWrapper, batch: list[_Prepared]) -> None:
    """Link ``batch`` after the chain head and INSERT it, in the caller's transaction."""
    if connection.vendor == "postgresql":
        _append_in_database(connection, batch)
    else:
        _append_from_python(connection, batch)


#: idp/audit/migrations/0003_append_function.py
APPEND_FUNCTION_SQL = f"SELECT * FROM {APPEND_FUNCTION_CALL}"  # noqa: S608 (a constant)


def _append_in_database(connection: BaseDatabaseWrapper, batch: list[_Prepared]) -> None:
    """PostgreSQL: one statement locks the chain, reads its head, links, hashes and inserts the
    batch (the function of migration 0003), from the canonical documents prepared here."""
    with connection.cursor() as cursor:
        cursor.execute(APPEND_FUNCTION_SQL, [_function_argument(batch)])
        appended = cursor.fetchall()
    # One row per event, in order (strict: a mismatch raises rather than half-filling events).
    for prepared, (sequence, occurred_at, prev_hash, digest) in zip(batch, appended, strict=True):
        event = prepared.event
        event.sequence, event.occurred_at = sequence, occurred_at
        event.prev_hash, event.hash = prev_hash, digest
        event._state.adding, event._state.db = False, connection.alias


#: The fields the append function inserts as given (the rest comes from the chain head).
_GIVEN_FIELDS = ("tag", "actor", "subject", "ip", "user_agent", "request_id", "data")


def _function_argument(batch: list[_Prepared]) -> str:
    """The append function's argument: each event's fields and its canonical document around
    what the chain head gives (:func:`idp.audit.chain.canonical_pieces`), as JSON text."""
    events = []
    for prepared in batch:
        fields = {name: getattr(prepared.event, name) for name in _GIVEN_FIELDS}
        head, mid, tail = chain.canonical_pieces(**fields)
        events.append({**fields, "head": head, "mid": mid, "tail": tail})
    return json.dumps(events, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _append_from_python(connection: BaseDatabaseWrapper, batch: list[_Prepared]) -> None:
    """Other databases: read the head (SQLite: under BEGIN IMMEDIATE's write lock), then one
    INSERT with the hashes computed here."""
    head_sql, insert_sql = _statements(connection)
    with connection.cursor() as cursor:
        cursor.execute(head_sql)
        head = cursor.fetchone()
        last_sequence, prev_hash = head or (0, chain.GENESIS_HASH)
        occurred_at = timezone.now()
        occurred_param = _OCCURRED_AT_FIELD.get_db_prep_save(occurred_at, connection)
        params: list[Any] = []
        for prepared in batch:
            event = prepared.event
            last_sequence += 1
            digest = chain.compute_hash(
                sequence=last_sequence,
                occurred_at=occurred_at,
                tag=event.tag,
                actor=event.actor,
                subject=event.subject,
                ip=event.ip,
                user_agent=event.user_agent,
                request_id=event.request_id,
                data=event.data,
                prev_hash=prev_hash,
            )
            # Parameters in the order of _FIELDS (the model's concrete fields).
            params += [
                last_sequence,
                occurred_param,
                event.tag,
                event.actor,
                event.subject,
                _IP_FIELD.get_db_prep_save(event.ip, connection),
                event.user_agent,
                event.request_id,
                _DATA_FIELD.get_db_prep_save(event.data, connection),
                prev_hash,
                digest,
            ]
            event.sequence, event.occurred_at = last_sequence, occurred_at
            event.prev_hash, event.hash = prev_hash, digest
            event._state.adding, event._state.db = False, connection.alias
            prev_hash = digest
        cursor.execute(_insert_sql(insert_sql, len(batch)), params)


def _insert_sql(single_row: str, rows: int) -> str:
    """``INSERT … VALUES (…)`` for ``rows`` rows (SQL-92 row value lists, on every backend)."""
    if rows == 1:
        return single_row
    prefix, _, values = single_row.partition(" VALUES ")
    return f"{prefix} VALUES {', '.join([values] * rows)}"


# The INSERT is written from the model's fields, in their declared order; record() passes its
# values in that order, which this check pins down (a new field must be added to both).
_FIELDS = tuple(AuditEvent._meta.concrete_fields)
_ATTNAMES = tuple(field.attname for field in _FIELDS)
if _ATTNAMES != (
    "sequence",
    "occurred_at",
    "tag",
    "actor",
    "subject",
    "ip",
    "user_agent",
    "request_id",
    "data",
    "prev_hash",
    "hash",
):  # pragma: no cover (a model change without its counterpart here)
    raise ImportError(f"journal.record() does not write the AuditEvent fields {_ATTNAMES}")
_OCCURRED_AT_FIELD = AuditEvent._meta.get_field("occurred_at")
_IP_FIELD = AuditEvent._meta.get_field("ip")
_DATA_FIELD = AuditEvent._meta.get_field("data")
_STATEMENTS: dict[tuple[str, str], tuple[str, str]] = {}


def _statements(connection: BaseDatabaseWrapper) -> tuple[str, str]:
    """(read the head, insert an event) for ``connection`` (not PostgreSQL: its function)."""
    key = (connection.alias, connection.vendor)
    statements = _STATEMENTS.get(key)
    if statements is None:
        quote = connection.ops.quote_name
        table = quote(AuditEvent._meta.db_table)
        sequence = quote(AuditEvent._meta.get_field("sequence").column)
        hash_ = quote(AuditEvent._meta.get_field("hash").column)
        # Identifiers from the model's metadata, quoted; no value is ever formatted in.
        head = f"SELECT {sequence}, {hash_} FROM {table} ORDER BY {sequence} DESC"  # noqa: S608
        head += " LIMIT 1"
        # SQLite: BEGIN IMMEDIATE already holds the write lock. Other vendors rely on the unique
        # constraints: a concurrent append fails loudly instead of forking the chain.
        columns = ", ".join(quote(field.column) for field in _FIELDS)
        placeholders = ", ".join(["%s"] * len(_FIELDS))
        insert = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        statements = _STATEMENTS[key] = (head, insert)
    return statements


def _request_context(request: HttpRequest | None) -> tuple[str | None, str, str]:
    if request is None:
        return None, "", ""
    meta = request.META
    try:
        ip = chain.canonical_ip(meta.get("REMOTE_ADDR") or None)
    except ValueError:
        ip = None  # a unix socket path or garbage: better no address than a wrong one
    user_agent = _clean_text(str(meta.get("HTTP_USER_AGENT", "")))[:USER_AGENT_MAX_LENGTH]
    request_id = str(meta.get("HTTP_X_REQUEST_ID", ""))
    if not _REQUEST_ID.fullmatch(request_id):
        request_id = ""
    return ip, user_agent, request_id


def _identifier(name: str, value: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise TypeError(f"audit {name} must be a string, not {type(value).__name__}")
    value = _clean_text(value)
    if len(value) > max_length:
        # Truncating an identifier would make the journal name someone else: refuse instead.
        raise ValueError(f"audit {name} longer than {max_length} characters")
    return value


def _json_data(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` reduced to plain JSON types, so that what is hashed is exactly what is read back."""
    text = json.dumps(data, cls=DjangoJSONEncoder, allow_nan=False)
    return _clean_strings(json.loads(text))


def _clean_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value, keep_controls=True)
    if isinstance(value, dict):
        return {_clean_text(k, keep_controls=True): _clean_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_strings(item) for item in value]
    return value


def _clean_text(text: str, *, keep_controls: bool = False) -> str:
    """Text every database accepts: no NUL (PostgreSQL refuses it), no lone surrogates."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    if keep_controls:
        return text.replace("\x00", "\ufffd")
    return _CONTROL_CHARS.sub("\ufffd", text)
