"""Telling the holder's phone that a challenge waits: Web Push (RFC 8030) with VAPID (RFC 8292).

Pluggable by ``IDP_CARD_PUSH_BACKEND``: ``webpush`` (pywebpush: RFC 8291 message encryption and
the VAPID signature), ``locmem`` (tests read :data:`outbox`), ``none`` (the app polls
``GET challenges``). The payload only says that something waits and for which service: the app
fetches the challenge over its signed API, so a push service never sees the numbers.

Delivery is best effort and never delays the login page: it runs after the transaction commits,
in a small thread pool, with a bounded timeout; the push endpoint (chosen by the app) must be a
public HTTPS address (:mod:`idp.oidc.ssrf`).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from idp.oidc import ssrf

logger = logging.getLogger(__name__)

_TIMEOUT_SECONDS = 5
_TTL_SECONDS = 120
# RFC 8292 §2: the VAPID JWT expires within 24 hours; a short one is enough for one push.
_VAPID_SECONDS = 600
outbox: list[dict[str, Any]] = []
_executor: ThreadPoolExecutor | None = None


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
    transaction.on_commit(lambda: _pool().submit(_send_all, list(subscriptions), data))


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="card-push")
    return _executor


def _send_all(subscriptions: list[dict[str, Any]], data: str) -> None:
    for subscription in subscriptions:
        try:
            _send(subscription, data)
        except Exception:  # one phone's push service failing must not stop the others
            logger.warning("card push failed", exc_info=True)


def _send(subscription: dict[str, Any], data: str) -> None:
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
    try:
        status, _answer = ssrf.post(
            endpoint,
            encrypted["body"],
            headers,
            timeout=_TIMEOUT_SECONDS,
            allow_private=settings.IDP_BACKCHANNEL_ALLOW_PRIVATE,
        )
    except ssrf.UnsafeDestination:
        logger.warning("card push endpoint refused (not a public address)")
        return
    if not 200 <= status < 300:
        # RFC 8030 §5: 201 Created; a 404/410 means the subscription is gone.
        logger.warning("card push refused by the push service: HTTP %s", status)
