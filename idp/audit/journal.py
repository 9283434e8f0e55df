"""Appending to the security journal: ``record(EventTag.X, actor=..., subject=..., data=...)``.

The event is appended in the caller's transaction when there is one: if the caller's work rolls
back, so does its audit event, and if the audit event cannot be written, the caller's work fails
with it. There is no action without its record.

Appending reads the chain head and writes the next link, so writers must be serialised:

* PostgreSQL: ``pg_advisory_xact_lock`` on a constant key, taken inside ``transaction.atomic()``
  before the head is read. Under READ COMMITTED each statement sees the rows committed before it
  started, so the head read after the lock is the one the previous writer committed. The lock is
  released when the *outermost* transaction ends: call ``record()`` late in long transactions.
* SQLite: the project opens transactions with ``BEGIN IMMEDIATE`` (``transaction_mode`` in
  settings), which takes the database write lock up front; writers queue.

Whatever the locking, the unique ``sequence`` and ``prev_hash`` columns make a forked chain
impossible: a writer that raced would fail with an IntegrityError, never write a second link.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
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
# nothing else in the database uses it.
CHAIN_LOCK_KEY = 8_336_624_168_984_181_743

# Correlation id set by the reverse proxy (nginx: proxy_set_header X-Request-ID $request_id).
# Not trusted for anything; characters are restricted so the column stays printable.
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{REQUEST_ID_MAX_LENGTH}}}")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


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
    """
    tag = check_tag(tag)
    actor = _identifier("actor", actor, ACTOR_MAX_LENGTH)
    subject = _identifier("subject", subject, SUBJECT_MAX_LENGTH)
    ip, user_agent, request_id = _request_context(request)
    payload = _json_data(scrub(data or {}, key=settings.SECRET_KEY))

    using = router.db_for_write(AuditEvent)
    with transaction.atomic(using=using):
        _lock_chain(using)
        head = (
            AuditEvent.objects.using(using)
            .order_by("-sequence")
            .values_list("sequence", "hash")
            .first()
        )
        last_sequence, prev_hash = head or (0, chain.GENESIS_HASH)
        event = AuditEvent(
            sequence=last_sequence + 1,
            occurred_at=timezone.now(),
            tag=tag.value,
            actor=actor,
            subject=subject,
            ip=ip,
            user_agent=user_agent,
            request_id=request_id,
            data=payload,
            prev_hash=prev_hash,
        )
        event.hash = event.compute_hash()
        event.save(using=using)
    return event


def _lock_chain(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    # SQLite: BEGIN IMMEDIATE already holds the write lock. Other vendors rely on the unique
    # constraints: a concurrent append fails loudly instead of forking the chain.


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
