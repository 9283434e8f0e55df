"""Telling the holder's phone that a challenge waits: Web Push (RFC 8030) with VAPID (RFC 8292).

Pluggable by ``IDP_CARD_PUSH_BACKEND``: ``webpush`` (pywebpush: RFC 8291 message encryption and
the VAPID signature), ``locmem`` (tests read :data:`outbox`), ``none`` (the app polls
``GET challenges``). The payload only says that something waits and for which service: the app
fetches the challenge over its signed API, so a push service never sees the numbers.

Delivery never delays the login page: it runs after the transaction commits, in a small thread
pool (:class:`idp.core.background.BackgroundAttempts`), with a bounded timeout; the push endpoint
(chosen by the app) must be a public HTTPS address (:mod:`idp.oidc.ssrf`). A transient failure
(network error, RFC 8030 §8.4 429 or a 5xx) is tried again, at most :data:`ATTEMPTS` times in
all, after the push service's ``Retry-After`` or a short back-off, and never once the message's
TTL (the challenge's lifetime) has passed: a late push is worth nothing. A subscription the push
service says is gone (404 or 410, RFC 8030 §7.3) is removed from the device, which then polls
until the app subscribes again (``PATCH device``). No retry is kept across a restart: the
challenge is short-lived and the app polls ``GET challenges`` all the same.
"""

from __future__ import annotations

import enum
import functools
import http.client
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card.models import CardDevice
from idp.core.background import BackgroundAttempts
from idp.oidc import ssrf

logger = logging.getLogger(__name__)

_TIMEOUT_SECONDS = 5
_TTL_SECONDS = 120
# RFC 8292 §2: the VAPID JWT expires within 24 hours; a short one is enough for one push.
_VAPID_SECONDS = 600
#: Attempts per message in all, and the waits between them when the push service names none.
ATTEMPTS = 3
_BACKOFF_SECONDS = (1.0, 3.0)
#: A push service's Retry-After is honoured up to this (longer: the holder has moved on).
_RETRY_AFTER_CAP_SECONDS = 10.0
outbox: list[dict[str, Any]] = []
_background = BackgroundAttempts("card-push", workers=4)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # network error, 429, 5xx: may work in a moment
    GONE = "gone"  # 404/410: the subscription no longer exists
    REFUSED = "refused"  # anything else: trying again would change nothing


def valid_subscription(value: Any) -> dict[str, Any] | None:
    """A Web Push subscription as the app sends it (PushSubscription.toJSON()), or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("push must be an object")
    endpoint = value.get("endpoint")
    keys = value.get("keys")
    if (
        not isinstance(endpoint, str)
        or urlsplit(endpoint).scheme != "https"
        or len(endpoint) > 1000
    ):
        raise ValueError("push.endpoint must be an https URL")
    if not isinstance(keys, dict) or not all(
        isinstance(keys.get(k), str) and 0 < len(keys[k]) < 200 for k in ("p256dh", "auth")
    ):
        raise ValueError("push.keys needs p256dh and auth")
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


@dataclass(frozen=True)
class Target:
    """One device's subscription: where a push goes, and which device to tell if it is gone."""

    device_id: int
    subscription: dict[str, Any]


def notify(targets: list[Target], payload: dict[str, Any]) -> None:
    """Send ``payload`` to each target once the current transaction commits."""
    backend = settings.IDP_CARD_PUSH_BACKEND
    if backend == "none" or not targets:
        return
    data = json.dumps(payload, separators=(",", ":"))
    if backend == "locmem":
        transaction.on_commit(
            lambda: outbox.extend({"subscription": t.subscription, "data": data} for t in targets)
        )
        return
    send = functools.partial(deliver, data=data, deadline=time.monotonic() + _TTL_SECONDS)
    # One phone's push service failing does not stop the others (each is its own attempt).
    transaction.on_commit(lambda: _background.submit(send, list(targets)))


def wait_for_background_deliveries(timeout: float = 10.0) -> bool:
    """Wait until the pushes started so far are done (tests, graceful shutdown); a retry waiting
    for its time is not counted until it starts."""
    return _background.wait(timeout)


Schedule = Callable[[float, Callable[[], Outcome]], Outcome]


def _later(wait: float, retry: Callable[[], Outcome]) -> Outcome:
    """Run ``retry`` in the pool after ``wait`` seconds: no pool thread sleeps meanwhile (a push
    service slow to recover must not hold up the pushes of other logins)."""
    timer = threading.Timer(wait, lambda: _background.submit(lambda _item: retry(), [None]))
    timer.daemon = True
    timer.start()
    return Outcome.RETRY


def deliver(
    target: Target,
    *,
    data: str,
    deadline: float,
    attempt: int = 1,
    schedule: Schedule = _later,
) -> Outcome:
    """Attempt ``attempt`` of sending ``data`` to ``target``: a transient failure is scheduled
    again (``schedule``), never past ``deadline`` (``time.monotonic()``); a gone subscription is
    removed from its device. Returns this attempt's outcome, or what ``schedule`` returns."""
    if time.monotonic() >= deadline:  # queued behind an outage: the challenge is over
        logger.warning("card push dropped: its TTL passed before attempt %d", attempt)
        return Outcome.RETRY
    try:
        outcome, retry_after = _send(target.subscription, data, deadline)
    except (OSError, http.client.HTTPException) as exc:
        # Refused connection, timeout, TLS, a broken answer: the service may be back soon.
        logger.warning("card push attempt %d failed: %s", attempt, type(exc).__name__)
        outcome, retry_after = Outcome.RETRY, None
    except Exception as exc:  # a malformed subscription key, say: never log the subscription
        logger.warning("card push to device %s failed: %s", target.device_id, type(exc).__name__)
        return Outcome.REFUSED
    if outcome is Outcome.GONE:
        _forget(target)
    if outcome is not Outcome.RETRY:
        return outcome
    if attempt < ATTEMPTS:
        backoff = _BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS)) - 1]
        wait = min(retry_after or backoff, _RETRY_AFTER_CAP_SECONDS)
        if time.monotonic() + wait < deadline:
            retry = functools.partial(
                deliver,
                target,
                data=data,
                deadline=deadline,
                attempt=attempt + 1,
                schedule=schedule,
            )
            return schedule(wait, retry)
    logger.warning("card push to device %s not delivered (%d attempts)", target.device_id, attempt)
    return outcome


def _forget(target: Target) -> None:
    """The push service says the subscription is gone (RFC 8030 §7.3): the device stops using
    it, unless the app has subscribed again meanwhile; journaled, as every change to a device."""
    endpoint = target.subscription["endpoint"]
    with transaction.atomic():
        kid = (
            CardDevice.objects.filter(pk=target.device_id, push__endpoint=endpoint)
            .values_list("kid", flat=True)
            .first()
        )
        if kid is None:
            return
        CardDevice.objects.filter(pk=target.device_id).update(push=None)
        journal.record(
            EventTag.AUTHN_CARD_PUSH_GONE,
            actor="system:push",
            subject=f"card_device:{kid}",
            data={"push_service": urlsplit(endpoint).netloc[:200]},
        )


def _retry_after(status: int, answer: dict[str, str]) -> float | None:
    """Seconds of a 429/503's ``Retry-After: <seconds>`` (RFC 9110 §10.2.3), else None (an
    HTTP-date is not worth parsing for a push that expires in two minutes: the back-off
    applies)."""
    if status not in (429, 503):
        return None
    try:
        seconds = float(answer["retry-after"])
    except (KeyError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _send(
    subscription: dict[str, Any], data: str, deadline: float | None = None
) -> tuple[Outcome, float | None]:
    """Encrypt (RFC 8291, aes128gcm) and sign (VAPID, RFC 8292) with pywebpush and py-vapid,
    then POST through :func:`idp.oidc.ssrf.post`: the endpoint's address is checked once and the
    connection pinned to it (no DNS rebinding), and a redirect is never followed."""
    from py_vapid import Vapid
    from pywebpush import WebPusher

    endpoint = subscription["endpoint"]
    parts = urlsplit(endpoint)
    encrypted = WebPusher(subscription).encode(data.encode(), "aes128gcm")
    claims = {
        "sub": settings.IDP_CARD_VAPID_SUBJECT,
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + _VAPID_SECONDS,
    }
    headers = {
        **Vapid.from_file(settings.IDP_CARD_VAPID_PRIVATE_KEY).sign(claims),
        "Content-Type": "application/octet-stream",
        "Content-Encoding": "aes128gcm",
        # RFC 8030 §5.2: what is left of the message's life (a retry's is shorter).
        "TTL": str(_TTL_SECONDS if deadline is None else max(int(deadline - time.monotonic()), 0)),
        "Urgency": "high",
    }
    answer: dict[str, str] = {}
    try:
        status, _body = ssrf.post(
            endpoint,
            encrypted["body"],
            headers,
            timeout=_TIMEOUT_SECONDS,
            allow_private=settings.IDP_BACKCHANNEL_ALLOW_PRIVATE,
            answer_headers=answer,
        )
    except ssrf.UnsafeDestination:
        logger.warning("card push endpoint refused (not a public address)")
        return Outcome.REFUSED, None
    if 200 <= status < 300:  # RFC 8030 §5: 201 Created
        return Outcome.DELIVERED, None
    logger.warning("card push refused by the push service: HTTP %s", status)
    if status in (404, 410):
        return Outcome.GONE, None
    if status == 429 or status >= 500:
        return Outcome.RETRY, _retry_after(status, answer)
    return Outcome.REFUSED, None
