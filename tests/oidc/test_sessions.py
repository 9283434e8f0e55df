"""SSO sessions: liveness limits, idle touch, ending (refresh tokens revoked), status signal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from idp.accounts import services
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc import sessions
from idp.oidc.models import RefreshToken, SsoSession
from tests.oidc.factories import make_professional, rpps

pytestmark = pytest.mark.django_db


def _start(professional, **kwargs) -> SsoSession:
    return sessions.start(
        None, professional=professional, acr="eidas1", amr=["test"], auth_mode="TEST", **kwargs
    )


def _request_with_cookie(session: SsoSession):
    response = HttpResponse()
    sessions.set_cookie(response, session)
    request = RequestFactory().get("/")
    request.COOKIES[sessions.COOKIE_NAME] = response.cookies[sessions.COOKIE_NAME].value
    return request


def _refresh_token(session: SsoSession, suffix: str) -> RefreshToken:
    now = timezone.now()
    return RefreshToken.objects.create(
        token_hash=f"hash-{suffix}",
        grant_id=f"grant-{suffix}",
        client_id="rp",
        professional=session.professional,
        session=session,
        scope="openid",
        acr=session.acr,
        amr=session.amr,
        auth_time=session.auth_time,
        issued_at=now,
        expires_at=now + timedelta(minutes=30),
    )


@pytest.fixture
def pro():
    return make_professional()


def test_start_records_what_happened(pro):
    session = _start(pro)
    assert session.acr == "eidas1" and session.amr == ["test"] and session.auth_mode == "TEST"
    assert abs((session.auth_time - timezone.now()).total_seconds()) < 5
    assert session.expires_at - session.auth_time == timedelta(seconds=4 * 3600)
    event = AuditEvent.objects.get(tag=EventTag.OIDC_SESSION_STARTED.value)
    assert event.subject == session.sid and event.actor == f"professional:{pro.sub}"


def test_cookie_holds_only_a_signed_reference(pro):
    session = _start(pro)
    response = HttpResponse()
    sessions.set_cookie(response, session)
    cookie = response.cookies[sessions.COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert cookie.value.startswith(session.sid + ":")  # sid + signature, nothing else
    request = RequestFactory().get("/")
    request.COOKIES[sessions.COOKIE_NAME] = session.sid  # unsigned: refused
    assert sessions.current(request) is None
    request.COOKIES[sessions.COOKIE_NAME] = cookie.value[:-2] + "xx"
    assert sessions.current(request) is None
    assert sessions.current(_request_with_cookie(session)) == session


def test_cookie_secure_outside_debug(pro, settings):
    settings.DEBUG = False
    response = HttpResponse()
    sessions.set_cookie(response, _start(pro))
    assert response.cookies[sessions.COOKIE_NAME]["secure"]


def test_absolute_limit(pro):
    session = _start(pro)
    request = _request_with_cookie(session)
    SsoSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sessions.current(request) is None


def test_idle_limit_and_touch(pro, settings):
    session = _start(pro)
    request = _request_with_cookie(session)
    idle = timedelta(seconds=settings.IDP_SSO_SESSION_IDLE_SECONDS)
    # Used 30 s ago: live, and not written again (at most one write a minute).
    recent = timezone.now() - timedelta(seconds=30)
    SsoSession.objects.filter(pk=session.pk).update(last_active_at=recent)
    assert sessions.current(request) is not None
    assert SsoSession.objects.get(pk=session.pk).last_active_at == recent
    # Used 10 min ago: live, and touched.
    older = timezone.now() - timedelta(minutes=10)
    SsoSession.objects.filter(pk=session.pk).update(last_active_at=older)
    assert sessions.current(request) is not None
    assert SsoSession.objects.get(pk=session.pk).last_active_at > older
    # Idle beyond the limit: gone.
    SsoSession.objects.filter(pk=session.pk).update(last_active_at=timezone.now() - idle)
    assert sessions.current(request) is None


def test_end_revokes_refresh_tokens_and_is_idempotent(pro):
    session = _start(pro)
    other = _start(pro)
    token = _refresh_token(session, "a")
    untouched = _refresh_token(other, "b")
    sessions.end(session, "logout")
    session.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == "logout"
    token.refresh_from_db()
    untouched.refresh_from_db()
    assert token.revoked_at is not None and untouched.revoked_at is None
    assert sessions.current(_request_with_cookie(session)) is None
    ended = AuditEvent.objects.filter(tag=EventTag.OIDC_SESSION_ENDED.value)
    assert ended.count() == 1 and ended.get().data["reason"] == "logout"
    first_end = session.ended_at
    sessions.end(session, "again")
    session.refresh_from_db()
    assert session.ended_at == first_end and session.end_reason == "logout"
    assert ended.count() == 1


def test_end_all_and_list_for(pro):
    other_pro = make_professional("8" + rpps(2))
    a, b = _start(pro), _start(pro)
    mine = _start(other_pro)
    SsoSession.objects.filter(pk=b.pk).update(last_active_at=timezone.now() - timedelta(hours=1))
    assert [s.pk for s in sessions.list_for(pro)] == [a.pk]
    assert sessions.end_all(pro, "logout") == 2
    assert sessions.list_for(pro) == []
    assert [s.pk for s in sessions.list_for(other_pro)] == [mine.pk]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: services.suspend(p, by="admin:alice", reason="fraud"), "account_suspended"),
        (
            lambda p: services.deactivate(p, by="system:rpps_sync", reason="left"),
            "account_deactivated",
        ),
    ],
)
def test_status_change_ends_all_sessions(pro, django_capture_on_commit_callbacks, change, reason):
    session = _start(pro)
    token = _refresh_token(session, "a")
    with django_capture_on_commit_callbacks(execute=True):
        change(pro)
    session.refresh_from_db()
    token.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == reason
    assert token.revoked_at is not None


def test_reactivation_ends_nothing(pro, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend(pro, by="admin:alice", reason="check")
    session = _start(pro)  # (not reachable through login, but the signal must not touch it)
    with django_capture_on_commit_callbacks(execute=True):
        services.reactivate(pro, by="admin:alice", reason="ok")
    session.refresh_from_db()
    assert session.ended_at is None


def test_end_publishes_the_revocation_marker_at_once(pro, django_capture_on_commit_callbacks):
    from idp.oidc import revocation

    session = _start(pro)
    assert not revocation.is_revoked(sid=session.sid)
    with django_capture_on_commit_callbacks(execute=False):
        sessions.end(session, "logout")
        # Refused before the commit: a revocation errs on the side of refusing.
        assert revocation.is_revoked(sid=session.sid)
