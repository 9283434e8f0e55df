"""What invalidates a token early: a revoked ``jti``, grant (``gid``) or ended session (``sid``).

Access tokens are self-contained JWTs, checked on every UserInfo and introspection call, so the
revocation check sits on the hottest path of the provider. Design:

* **The database is the source of truth.** Every revocation is written there first
  (``RevokedAccessToken``, ``RevokedGrant``, ``SsoSession.ended_at``).
* **Django's cache (Redis in production) holds a marker per revoked item**, written with the
  database row and expiring when no token it could concern is still valid. A check is then one
  ``get_many`` round trip (the three markers plus a "warm" flag), no query.
* **The "warm" flag says the markers are complete.** It is set after all current revocations were
  loaded from the database, and expires every ``WARM_SECONDS``: when it is missing (cache flushed,
  Redis restarted, first request) the check asks the database (one query) and one caller reloads
  the markers (every revocation still within its purge window: a few set_many calls).
* **Ended sessions** are ended only by :func:`idp.oidc.sessions.end`, which publishes a ``sid``
  marker after commit (:func:`mark_session_ended`); the warm-up loads recently ended sessions too.

Trade-off: a revocation is visible everywhere as soon as its marker is written (with the
database write, before the commit: a rolled-back revocation may refuse a token for a while,
never the reverse); if the cache loses one marker without losing the warm flag (eviction under
memory pressure: configure Redis with ``maxmemory-policy volatile-ttl`` or ``noeviction``), the
revoked token stays accepted for at most ``WARM_SECONDS`` or its own remaining lifetime, whichever
is shorter. If the cache is down, every check falls back to the database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from idp.oidc.models import RefreshToken, RevokedAccessToken, RevokedGrant, SsoSession

logger = logging.getLogger(__name__)

WARM_SECONDS = 30
_BUCKET_SECONDS = 600
_WARM_KEY = "oidc:rev:warm"
_WARMING_KEY = "oidc:rev:warming"
# Beyond this, no token of a revoked grant can still be valid (a grant lives at most as long as
# its SSO session; access tokens may outlive the last refresh by their own lifetime).
_GRANT_MARKER_EXTRA = timedelta(days=1)


def _key(kind: str, value: str) -> str:
    return f"oidc:rev:{kind}:{value}"


def _grant_purge_after(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.IDP_SSO_SESSION_MAX_SECONDS) + _GRANT_MARKER_EXTRA


def _set_marker(kind: str, value: str, until: datetime) -> None:
    """Write the marker now, not at commit: should the transaction roll back, a token is refused
    that could have been accepted (fail closed), never the reverse."""
    seconds = int((until - timezone.now()).total_seconds()) + 1
    if seconds <= 0:
        return
    try:
        cache.set(_key(kind, value), 1, seconds)
    except Exception:  # cache down: the database still answers, see is_revoked
        logger.warning("revocation marker not cached: %s", kind, exc_info=True)
        _forget_warm()


def _forget_warm() -> None:
    try:
        cache.delete(_WARM_KEY)
    except Exception:
        logger.warning("revocation cache unavailable", exc_info=True)


def revoke_grant(grant_id: str, reason: str) -> int:
    """Invalidate every token of a grant: its refresh tokens and (by ``gid``) its access tokens.

    RFC 6749 §4.1.2 (code replay: "SHOULD revoke all tokens previously issued based on that
    code"), OAuth 2.0 Security BCP §4.14 (refresh token reuse), RFC 7009 §2.1 (revoking a refresh
    token "SHOULD also invalidate all access tokens based on the same authorization grant").
    Returns the number of refresh tokens revoked. Idempotent.
    """
    now = timezone.now()
    purge_after = _grant_purge_after(now)
    with transaction.atomic():
        RevokedGrant.objects.bulk_create(
            [RevokedGrant(grant_id=grant_id, reason=reason[:40], purge_after=purge_after)],
            ignore_conflicts=True,
        )
        count = RefreshToken.objects.filter(grant_id=grant_id, revoked_at__isnull=True).update(
            revoked_at=now
        )
        _set_marker("gid", grant_id, purge_after)
    return count


def revoke_access_token(jti: str, exp: int | datetime) -> None:
    """Invalidate one access token until it expires anyway (RFC 7009 §2.1)."""
    until = exp if isinstance(exp, datetime) else datetime.fromtimestamp(exp, tz=UTC)
    if until <= timezone.now():
        return  # already expired: nothing to remember
    with transaction.atomic():
        RevokedAccessToken.objects.bulk_create(
            [RevokedAccessToken(jti=jti, purge_after=until)], ignore_conflicts=True
        )
        _set_marker("jti", jti, until)


def mark_session_ended(sid: str, expires_at: datetime | None = None) -> None:
    """Publish that a session ended (call after ``SsoSession.ended_at`` is written)."""
    _set_marker("sid", sid, expires_at or _grant_purge_after(timezone.now()))


def is_revoked(*, jti: str = "", gid: str = "", sid: str = "") -> bool:
    """Whether a token with this ``jti``, grant id and session id was revoked or its session ended.

    One cache round trip when the markers are warm, else one query (and a reload of the markers).
    """
    return is_revoked_and_read(jti=jti, gid=gid, sid=sid)[0]


def is_revoked_and_read(
    *, jti: str = "", gid: str = "", sid: str = "", read: Sequence[str] = ()
) -> tuple[bool, dict[str, Any]]:
    """:func:`is_revoked`, and the cache entries named by ``read`` fetched in the same round trip.

    Why: UserInfo needs the revocation markers and its cached document; one ``get_many`` for both
    saves a round trip on the provider's hottest endpoint. The entries found are returned as
    ``get_many`` gives them (missing keys absent; all absent if the cache is down), whatever the
    revocation answer.
    """
    pairs = (("jti", jti), ("gid", gid), ("sid", sid))
    keys = [_key(kind, value) for kind, value in pairs if value]
    try:
        found = cache.get_many([*keys, _WARM_KEY, *read])
    except Exception:  # cache down
        logger.warning("revocation cache unavailable, asking the database", exc_info=True)
        return _revoked_in_database(jti, gid, sid), {}
    entries = {key: found[key] for key in read if key in found}
    if any(key in found for key in keys):
        return True, entries
    if _WARM_KEY in found:
        return False, entries
    revoked = _revoked_in_database(jti, gid, sid)
    _warm()
    return revoked, entries


def _revoked_in_database(jti: str, gid: str, sid: str) -> bool:
    """One query: does any of the three say "revoked"?"""
    parts = []
    if jti:
        parts.append(RevokedAccessToken.objects.filter(jti=jti).values_list("id"))
    if gid:
        parts.append(RevokedGrant.objects.filter(grant_id=gid).values_list("id"))
    if sid:
        parts.append(SsoSession.objects.filter(sid=sid, ended_at__isnull=False).values_list("id"))
    if not parts:
        return False
    query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return bool(list(query[:1]))


def _warm() -> None:
    """Load every current revocation into the cache, then set the warm flag (one caller at once).

    A revocation is never undone, so a marker may outlive its need: timeouts are rounded up to
    ``_BUCKET_SECONDS`` to write the markers in a few ``set_many`` calls.
    """
    try:
        if not cache.add(_WARMING_KEY, 1, 10):
            return
        now = timezone.now()
        buckets: dict[int, list[str]] = {}

        def add(kind: str, value: str, until: datetime) -> None:
            seconds = int((until - now).total_seconds()) + 1
            bucket = -(-seconds // _BUCKET_SECONDS) * _BUCKET_SECONDS
            buckets.setdefault(bucket, []).append(_key(kind, value))

        live_jti = RevokedAccessToken.objects.filter(purge_after__gt=now)
        for jti, until in live_jti.values_list("jti", "purge_after").iterator():
            add("jti", jti, until)
        live_gid = RevokedGrant.objects.filter(purge_after__gt=now)
        for gid, until in live_gid.values_list("grant_id", "purge_after").iterator():
            add("gid", gid, until)
        ended = SsoSession.objects.filter(ended_at__gt=now - _GRANT_MARKER_EXTRA)
        for sid, expires_at in ended.values_list("sid", "expires_at").iterator():
            add("sid", sid, max(expires_at, now) + _GRANT_MARKER_EXTRA)
        for timeout, keys in buckets.items():
            cache.set_many(dict.fromkeys(keys, 1), timeout)
        cache.set(_WARM_KEY, 1, WARM_SECONDS)
        cache.delete(_WARMING_KEY)
    except Exception:  # cache down: checks keep asking the database
        logger.warning("revocation markers not loaded", exc_info=True)


#: Codes and refresh tokens are kept this long after they expire, so that a late replay is still
#: recognised as one (and journaled) rather than as an unknown value.
KEEP_EXPIRED = timedelta(days=1)


def purge_expired(now: datetime | None = None) -> dict[str, int]:
    """Delete what can no longer matter: revocations past ``purge_after``, used assertion ids
    past their assertion's expiry, codes and refresh tokens expired for ``KEEP_EXPIRED``.

    For a periodic job (a management command or a timer); returns counts per table.
    """
    from idp.oidc.models import AuthorizationCode, CibaRequest, UsedClientAssertion

    now = now or timezone.now()
    old = now - KEEP_EXPIRED
    counts = {
        "revoked_grants": RevokedGrant.objects.filter(purge_after__lt=now).delete()[0],
        "revoked_access_tokens": RevokedAccessToken.objects.filter(purge_after__lt=now).delete()[0],
        "used_client_assertions": UsedClientAssertion.objects.filter(purge_after__lt=now).delete()[
            0
        ],
        "authorization_codes": AuthorizationCode.objects.filter(expires_at__lt=old).delete()[0],
        "refresh_tokens": RefreshToken.objects.filter(expires_at__lt=old).delete()[0],
        "ciba_requests": CibaRequest.objects.filter(expires_at__lt=old).delete()[0],
    }
    return counts
