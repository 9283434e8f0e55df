"""CIBA ping notifications (OpenID CIBA Core 1.0 §10.2): telling a ping-mode client that its
request was answered, so that it calls the token endpoint.

When the card challenge of a ping-mode request is approved, denied or failed (the card app's
``challenge_answered`` signal), the request's row becomes due; once the answering transaction
commits, a small in-process thread pool makes the first attempt. Each attempt is one

    POST <client's backchannel_client_notification_endpoint>
    Authorization: Bearer <client_notification_token>
    Content-Type: application/json

    {"auth_req_id": "..."}

through :mod:`idp.oidc.ssrf` (checked and pinned address, https, no redirects, bounded timeout;
private addresses only with ``IDP_BACKCHANNEL_ALLOW_PRIVATE``). 200 and 204 are success (§10.2:
the client answers 204; 200 accepted too); anything else is retried with the back-channel
logout's backoff and ``IDP_BACKCHANNEL_MAX_ATTEMPTS`` by the same worker
(``manage.py deliver_logouts``), and abandoned once the request has expired (its result could no
longer be redeemed). The clear ``auth_req_id`` and notification token are wiped from the row once
the ping is delivered or abandoned. Each attempt is journaled (``oidc:ciba:ping_*``).

A row is claimed before each attempt by a conditional UPDATE moving ``ping_next_attempt_at``
forward (architecture.md habit 4): the pool and the workers never send the same attempt twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.authn.card.challenges import challenge_answered
from idp.authn.card.models import CardChallenge, ChallengePurpose
from idp.core.background import BackgroundAttempts, attempt_each
from idp.core.crypto import DecryptionError
from idp.oidc import ssrf
from idp.oidc.backchannel import backoff
from idp.oidc.models import CibaRequest
from idp.oidc.protocol import ciba
from relying_parties.registry import get_client

logger = logging.getLogger(__name__)

_POOL_WORKERS = 2
_background = BackgroundAttempts("ciba-ping", workers=_POOL_WORKERS)


@receiver(challenge_answered, dispatch_uid="idp.oidc.ciba_delivery.on_answered")
def on_answered(sender: Any, challenge: CardChallenge, **kwargs: Any) -> None:
    """A ping-mode request's challenge was answered: make its ping due, send it after commit."""
    if challenge.purpose != ChallengePurpose.CIBA:
        return
    schedule(challenge)


def schedule(challenge: CardChallenge) -> int | None:
    """Make the ping of the request behind ``challenge`` due (once); return its row id."""
    row = (
        CibaRequest.objects.filter(challenge_id=challenge.pk, mode=CibaRequest.Mode.PING)
        .only("pk")
        .first()
    )
    if row is None:
        return None
    due = CibaRequest.objects.filter(pk=row.pk, ping_next_attempt_at__isnull=True).update(
        ping_next_attempt_at=timezone.now()
    )
    if due != 1:
        return None  # already scheduled: a challenge is answered once
    transaction.on_commit(lambda: _background.submit(attempt, [row.pk]))
    return row.pk


def _claim(row_id: int, now: datetime) -> CibaRequest | None:
    """Take the row for one attempt, or None if it is not due or someone else took it."""
    lease = now + timedelta(seconds=settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS * 3 + 5)
    taken = CibaRequest.objects.filter(
        pk=row_id,
        ping_delivered_at__isnull=True,
        ping_abandoned_at__isnull=True,
        ping_next_attempt_at__lte=now,
    ).update(ping_next_attempt_at=lease)
    if taken != 1:
        return None
    return CibaRequest.objects.get(pk=row_id)


def attempt(row_id: int, *, now: datetime | None = None) -> bool | None:
    """One ping attempt if due: True delivered, False failed (retried or abandoned), None not
    due."""
    now = now or timezone.now()
    row = _claim(row_id, now)
    if row is None:
        return None
    status: int | None = None
    error = ""
    final = False
    client = get_client(row.client_id)
    if row.expires_at <= now:
        error, final = "request expired", True
    elif client is None:
        error, final = "client no longer active", True
    elif client.ciba_mode != "ping" or not client.ciba_notification_endpoint:
        error, final = "client no longer registered for ping", True
    else:
        try:
            auth_req_id, token = ciba.ping_secrets(row)
        except (DecryptionError, ValueError, KeyError):
            auth_req_id, token = "", ""
        if not auth_req_id or not token:
            error, final = "no notification secrets", True
        else:
            status, error = _send(client.ciba_notification_endpoint, auth_req_id, token)
    return _finish(row, now=now, error=error, status=status, final=final)


def _send(endpoint: str, auth_req_id: str, token: str) -> tuple[int | None, str]:
    try:
        status, _body = ssrf.post_json(
            endpoint,
            {"auth_req_id": auth_req_id},
            bearer=token,
            timeout=settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS,
            allow_private=settings.IDP_BACKCHANNEL_ALLOW_PRIVATE,
        )
    except ssrf.UnsafeDestination as exc:
        return None, f"refused destination: {exc}"
    except Exception as exc:  # timeouts, refused connections, TLS, http.client errors: retried
        return None, f"{type(exc).__name__}: {exc}"
    if status not in (200, 204):
        return status, f"HTTP {status}"  # 3xx are never followed
    return status, ""


def _finish(
    row: CibaRequest, *, now: datetime, error: str, status: int | None, final: bool
) -> bool:
    attempts = row.ping_attempts + 1
    data = {
        "client_id": row.client_id,
        "grant_id": row.grant_id,
        "attempt": attempts,
        "status": status,
    }
    subject = f"professional:{row.professional_id}"
    with transaction.atomic():
        if not error:
            CibaRequest.objects.filter(pk=row.pk).update(
                ping_attempts=attempts,
                ping_delivered_at=timezone.now(),
                ping_last_error="",
                ping_secrets_encrypted="",
            )
            record(
                EventTag.OIDC_CIBA_PING_DELIVERED,
                actor="system:ciba",
                subject=subject,
                data=data,
            )
            return True
        final = final or attempts >= settings.IDP_BACKCHANNEL_MAX_ATTEMPTS
        next_attempt = now + backoff(attempts)
        if not final and next_attempt >= row.expires_at:
            final = True  # the next try would come after the request expired
        update: dict[str, Any] = {
            "ping_attempts": attempts,
            "ping_last_error": error[:300],
            "ping_next_attempt_at": next_attempt,
        }
        if final:
            update["ping_abandoned_at"] = timezone.now()
            update["ping_secrets_encrypted"] = ""
        CibaRequest.objects.filter(pk=row.pk).update(**update)
        record(
            EventTag.OIDC_CIBA_PING_FAILED,
            actor="system:ciba",
            subject=subject,
            data={**data, "error": error[:300], "abandoned": final},
        )
    logger.warning("CIBA ping to %s failed (attempt %d): %s", row.client_id, attempts, error)
    return False


def due_ids(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Ping notifications waiting for an attempt, oldest first."""
    return list(
        CibaRequest.objects.filter(
            ping_next_attempt_at__isnull=False,
            ping_delivered_at__isnull=True,
            ping_abandoned_at__isnull=True,
            ping_next_attempt_at__lte=now or timezone.now(),
        )
        .order_by("ping_next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_due(*, now: datetime | None = None, limit: int = 100) -> tuple[int, int]:
    """Attempt every due ping once (the worker); return (delivered, failed)."""
    return attempt_each(due_ids(now=now, limit=limit), lambda row_id: attempt(row_id, now=now))


# --- the in-process first attempt -----------------------------------------------------------------
def wait_for_background_deliveries(timeout: float = 10.0) -> bool:
    """Wait until the in-process attempts started so far are done (tests, graceful shutdown)."""
    return _background.wait(timeout)
