"""The revocation list (idp.oidc.revocation): database as the truth, cache markers for speed."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idp.oidc import revocation
from idp.oidc.models import RefreshToken, RevokedAccessToken, RevokedGrant
from tests.oidc.factories import make_doctor_with_two_activities
from tests.oidc.grant_helpers import make_session

pytestmark = pytest.mark.django_db


def _queries(fn) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as queries:
        result = fn()
    return result, len(queries.captured_queries)


def test_nothing_revoked():
    assert not revocation.is_revoked(jti="a", gid="b")


def test_revoke_access_token_until_it_expires():
    exp = int(time.time()) + 60
    revocation.revoke_access_token("jti-1", exp)
    revocation.revoke_access_token("jti-1", exp)  # idempotent
    assert RevokedAccessToken.objects.get().jti == "jti-1"
    assert revocation.is_revoked(jti="jti-1")
    assert not revocation.is_revoked(jti="jti-2")
    revocation.revoke_access_token("jti-old", int(time.time()) - 1)
    assert not RevokedAccessToken.objects.filter(jti="jti-old").exists()


def test_revoke_grant_revokes_its_refresh_tokens():
    session = make_session(make_doctor_with_two_activities())
    now = timezone.now()
    for n, grant in enumerate(["g1", "g1", "g2"]):
        RefreshToken.objects.create(
            token_hash=f"h{n}",
            grant_id=grant,
            client_id="c",
            professional=session.professional,
            session=session,
            scope="openid",
            acr="eidas1",
            auth_time=now,
            issued_at=now,
            expires_at=now + timedelta(minutes=5),
        )
    assert revocation.revoke_grant("g1", "test") == 2
    assert revocation.revoke_grant("g1", "test") == 0
    assert RevokedGrant.objects.get().grant_id == "g1"
    assert revocation.is_revoked(gid="g1")
    assert not revocation.is_revoked(gid="g2")
    assert RefreshToken.objects.filter(revoked_at__isnull=True).get().grant_id == "g2"


def test_ended_session():
    from idp.oidc import sessions

    session = make_session(make_doctor_with_two_activities())
    assert not revocation.is_revoked(jti="x", sid=session.sid)
    sessions.end(session, "test")
    result, count = _queries(lambda: revocation.is_revoked(jti="x", sid=session.sid))
    assert result is True and count == 0


def test_ended_session_is_known_after_a_cache_flush():
    session = make_session(make_doctor_with_two_activities())
    session.ended_at = timezone.now()
    session.save(update_fields=["ended_at"])  # as the database holds it; the cache lost it
    cache.clear()
    assert revocation.is_revoked(sid=session.sid)  # the database answers, markers reload
    result, count = _queries(lambda: revocation.is_revoked(sid=session.sid))
    assert result is True and count == 0


def test_warm_markers_answer_without_a_query():
    revocation.revoke_grant("g-warm", "test")
    revocation.is_revoked(jti="j")  # first check: asks the database, loads the markers
    result, count = _queries(lambda: revocation.is_revoked(jti="j", gid="g-warm"))
    assert result is True and count == 0
    result, count = _queries(lambda: revocation.is_revoked(jti="j", gid="other"))
    assert result is False and count == 0


def test_a_flushed_cache_falls_back_to_the_database():
    revocation.revoke_access_token("jti-db", int(time.time()) + 60)
    revocation.revoke_grant("g-db", "test")
    cache.clear()  # Redis restarted: markers and warm flag gone
    result, count = _queries(lambda: revocation.is_revoked(jti="jti-db"))
    assert result is True and count >= 1
    # Reloaded from the database: answered from the cache again.
    result, count = _queries(lambda: revocation.is_revoked(gid="g-db"))
    assert result is True and count == 0


def test_purge_expired_keeps_what_still_matters():
    from idp.oidc.models import UsedClientAssertion

    now = timezone.now()
    RevokedGrant.objects.create(grant_id="old", reason="t", purge_after=now - timedelta(seconds=1))
    RevokedGrant.objects.create(grant_id="new", reason="t", purge_after=now + timedelta(hours=1))
    RevokedAccessToken.objects.create(jti="old", purge_after=now - timedelta(seconds=1))
    UsedClientAssertion.objects.create(client_id="c", jti="j", purge_after=now - timedelta(1))
    session = make_session(make_doctor_with_two_activities())
    for name, expires in (("stale", now - timedelta(days=2)), ("recent", now - timedelta(hours=1))):
        RefreshToken.objects.create(
            token_hash=name,
            grant_id=name,
            client_id="c",
            professional=session.professional,
            session=session,
            scope="openid",
            acr="eidas1",
            auth_time=now,
            issued_at=now - timedelta(days=3),
            expires_at=expires,
        )
    counts = revocation.purge_expired()
    assert counts["revoked_grants"] == 1 and counts["revoked_access_tokens"] == 1
    assert counts["used_client_assertions"] == 1 and counts["refresh_tokens"] == 1
    assert list(RevokedGrant.objects.values_list("grant_id", flat=True)) == ["new"]
    assert list(RefreshToken.objects.values_list("token_hash", flat=True)) == ["recent"]
