"""Back-channel logout: telling relying parties that a session ended (OIDC Back-Channel Logout 1.0).

``schedule_logout(session)`` writes one :class:`LogoutDelivery` per client of the session that
registered a ``backchannel_logout_uri`` (§2.2), in the caller's transaction, and asks for delivery
once that transaction commits: the user's request never waits for a relying party, and no logout
is announced for an ending that rolled back.

Delivery (§2.5) is one POST ``logout_token=<JWT>`` per row, through :mod:`idp.oidc.ssrf` (checked
and pinned address, no redirects). 200 and 204 are success; anything else is retried with
exponential backoff until ``IDP_BACKCHANNEL_MAX_ATTEMPTS``, then abandoned. The first attempt runs
in a small in-process thread pool right after commit; later attempts (and anything lost when a
worker stopped) are made by ``manage.py deliver_logouts``, which deployments run periodically.

A row is *claimed* before each attempt by a conditional UPDATE moving ``next_attempt_at`` forward
(architecture.md habit 4), so the thread pool and any number of workers never send the same
attempt twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.core.background import BackgroundAttempts, attempt_each
from idp.oidc import jwt, ssrf
from idp.oidc.models import LogoutDelivery, SessionClient, SsoSession
from relying_parties.registry import get_client

logger = logging.getLogger(__name__)

#: §2.4: the ``events`` member of a logout token.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4 and RFC 8725 §3.11: explicit typing of logout tokens.
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 (a media type)
#: A logout token is consumed at once; §2.4 asks for a short lifetime.
LOGOUT_TOKEN_SECONDS = 120
#: Backoff after the n-th failed attempt: BASE * 2**(n-1), at most CAP.
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600

_POOL_WORKERS = 4
_background = BackgroundAttempts("backchannel-logout", workers=_POOL_WORKERS)


def schedule_logout(session: SsoSession) -> None:
    """Queue a logout token for every client of ``session`` with a back-channel URI (§2.5).

    Call it inside the transaction that ends the session (``sessions.end``); delivery starts after
    commit, in the background.
    """
    client_ids = SessionClient.objects.filter(session=session).values_list("client_id", flat=True)
    now = timezone.now()
    rows = []
    for client_id in sorted(set(client_ids)):
        client = get_client(client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        rows.append(
            LogoutDelivery(
                client_id=client_id,
                uri=client.backchannel_logout_uri,
                sid=session.sid,
                sub=session.professional.sub,
                next_attempt_at=now,
            )
        )
    if not rows:
        return
    created = LogoutDelivery.objects.bulk_create(rows)
    ids = [row.pk for row in created if row.pk is not None]
    if not ids:  # backends that do not return primary keys from bulk_create
        ids = list(
            LogoutDelivery.objects.filter(sid=session.sid, delivered_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
    transaction.on_commit(lambda: _background.submit(attempt, ids))


def logout_token(
    *, client_id: str, alg: str, sub: str, sid: str, now: datetime | None = None
) -> str:
    """A signed logout token (§2.4): iss, aud, iat, exp, jti, sub, sid, events; never a nonce.

    Signed with the client's ID token algorithm, since the relying party validates it like an
    ID token (§2.6 step 3); ``typ`` is ``logout+jwt`` so it cannot pass for an ID token.
    """
    issued = int((now or timezone.now()).timestamp())
    claims = {
        "iss": settings.IDP_ISSUER,
        "aud": client_id,
        "iat": issued,
        "exp": issued + LOGOUT_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
        "sub": sub,
        # Sent even to clients that do not require it: §2.4 allows it and it lets a relying party
        # end exactly the session concerned.
        "sid": sid,
        "events": {LOGOUT_EVENT: {}},
    }
    return jwt.sign(claims, alg=alg, typ=LOGOUT_TOKEN_TYPE)


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures (exponential, capped)."""
    return timedelta(
        seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)
    )


def _claim(delivery_id: int, now: datetime) -> LogoutDelivery | None:
    """Take the row for one attempt, or None if it is not due or someone else took it."""
    # While an attempt is in flight the row is not due: a crash leaves it for a later retry.
    lease = now + timedelta(seconds=settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS * 3 + 5)
    taken = LogoutDelivery.objects.filter(
        pk=delivery_id,
        delivered_at__isnull=True,
        abandoned_at__isnull=True,
        next_attempt_at__lte=now,
    ).update(next_attempt_at=lease)
    if taken != 1:
        return None
    return LogoutDelivery.objects.get(pk=delivery_id)


def attempt(delivery_id: int, *, now: datetime | None = None) -> bool | None:
    """Make one delivery attempt if it is due: True delivered, False failed, None not due."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    client = get_client(delivery.client_id)
    error = ""
    status = None
    if client is None:
        error = "client no longer active"
    else:
        try:
            token = logout_token(
                client_id=client.client_id,
                alg=client.id_token_signed_response_alg,
                sub=delivery.sub,
                sid=delivery.sid,
                now=now,
            )
            status, _body = ssrf.post_form(
                delivery.uri,
                {"logout_token": token},
                timeout=settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS,
                allow_private=settings.IDP_BACKCHANNEL_ALLOW_PRIVATE,
            )
            if status not in (200, 204):
                # §2.8: 400 is the relying party refusing the token; 3xx are never followed.
                error = f"HTTP {status}"
        except ssrf.UnsafeDestination as exc:
            error = f"refused destination: {exc}"
        except (OSError, ValueError) as exc:  # timeouts, refused connections, TLS, bad responses
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # http.client.HTTPException and the unexpected: retried too
            error = f"{type(exc).__name__}: {exc}"
    return _finish(delivery, now=now, error=error, status=status)


def _finish(delivery: LogoutDelivery, *, now: datetime, error: str, status: int | None) -> bool:
    attempts = delivery.attempts + 1
    data = {
        "client_id": delivery.client_id,
        "sid": delivery.sid,
        "attempt": attempts,
        "status": status,
    }
    with transaction.atomic():
        if not error:
            LogoutDelivery.objects.filter(pk=delivery.pk).update(
                attempts=attempts, delivered_at=timezone.now(), last_error=""
            )
            record(
                EventTag.OIDC_BACKCHANNEL_DELIVERED,
                actor="system:backchannel",
                subject=delivery.sub,
                data=data,
            )
            return True
        final = attempts >= settings.IDP_BACKCHANNEL_MAX_ATTEMPTS
        LogoutDelivery.objects.filter(pk=delivery.pk).update(
            attempts=attempts,
            last_error=error[:300],
            next_attempt_at=now + backoff(attempts),
            abandoned_at=timezone.now() if final else None,
        )
        record(
            EventTag.OIDC_BACKCHANNEL_FAILED,
            actor="system:backchannel",
            subject=delivery.sub,
            data={**data, "error": error[:300], "abandoned": final},
        )
    logger.warning(
        "back-channel logout to %s failed (attempt %d): %s", delivery.client_id, attempts, error
    )
    return False


def due_ids(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Deliveries waiting for an attempt, oldest first."""
    return list(
        LogoutDelivery.objects.filter(
            delivered_at__isnull=True,
            abandoned_at__isnull=True,
            next_attempt_at__lte=now or timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_due(*, now: datetime | None = None, limit: int = 100) -> tuple[int, int]:
    """Attempt every due delivery once (the worker command); return (delivered, failed)."""
    return attempt_each(due_ids(now=now, limit=limit), lambda row_id: attempt(row_id, now=now))


# --- the in-process first attempt -----------------------------------------------------------------
def wait_for_background_deliveries(timeout: float = 10.0) -> bool:
    """Wait until the in-process attempts started so far are done (tests, graceful shutdown)."""
    return _background.wait(timeout)
