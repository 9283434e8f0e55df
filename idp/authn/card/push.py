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
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

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


def notify(subscriptions: list[dict[str, Any]], payload: dict[str, Any]) -> None:
    """Send ``payload`` to each subscription once the current transaction commits."""
    backend = settings.IDP_CARD_PUSH_BACKEND
    if backend == "none" or not subscriptions:
        return
    data = json.dumps(payload, separators=(",", ":"))
    if backend == "locmem":
        transaction.on_commit(
            lambda: outbox.extend({"subscription": s, "data": data} for s in subscriptions)
        )
        return
    send = functools.partial(deliver, data=data, deadline=time.monotonic() + _TTL_SECONDS)
    # One phone's push service failing does not stop the others (each is its own attempt).
    transaction.on_commit(lambda: _background.submit(send, list(subscriptions)))


def wait_for_background_deliveries(timeout: float = 10.0) -> bool:
    """Wait until the pushes started so far are done (tests, graceful shutdown)."""
    return _background.wait(timeout)


def deliver(
    subscription: dict[str, Any],
    *,
    data: str,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send ``data`` to one subscription, trying a transient failure again before ``deadline``
    (``time.monotonic()``); forget a subscription that is gone."""
    outcome, sent = Outcome.RETRY, 0
    for attempt in range(ATTEMPTS):
        if time.monotonic() >= deadline:  # queued behind an outage: the challenge is over
            logger.warning("card push dropped: its TTL passed before it could be sent")
            break
        sent += 1
        try:
            outcome, retry_after = _send(subscription, data)
        except (OSError, http.client.HTTPException) as exc:
            # Refused connection, timeout, TLS, a broken answer: the service may be back soon.
            logger.warning("card push attempt %d failed: %s", attempt + 1, exc)
            outcome, retry_after = Outcome.RETRY, None
        if outcome is Outcome.GONE:
            _forget(subscription["endpoint"])
        if outcome is not Outcome.RETRY or attempt + 1 == ATTEMPTS:
            break
        wait = min(retry_after or _BACKOFF_SECONDS[attempt], _RETRY_AFTER_CAP_SECONDS)
        if time.monotonic() + wait >= deadline:
            break
        sleep(wait)
    if outcome is Outcome.RETRY:
        logger.warning("card push not delivered (%d attempt(s))", sent)
    return outcome


def _forget(endpoint: str) -> None:
    """The push service says this subscription is gone: its device stops pushing to it."""
    forgotten = CardDevice.objects.filter(push__endpoint=endpoint).update(push=None)
    logger.info("card push subscription gone: removed from %d device(s)", forgotten)


def _retry_after(answer: dict[str, str]) -> float | None:
    """Seconds of a ``Retry-After: <seconds>`` header (RFC 9110 §10.2.3), else None (an
    HTTP-date is not worth parsing for a push that expires in two minutes: the back-off
    applies)."""
    try:
        return max(float(answer["retry-after"]), 0.0)
    except (KeyError, ValueError):
        return None


def _send(subscription: dict[str, Any], data: str) -> tuple[Outcome, float | None]:
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
        "TTL": str(_TTL_SECONDS),
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
        return Outcome.RETRY, _retry_after(answer)
    return Outcome.REFUSED, None
