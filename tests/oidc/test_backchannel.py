"""Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0) to a real local server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from idp.accounts import services
from idp.audit.models import AuditEvent
from idp.oidc import backchannel, sessions
from idp.oidc.models import LogoutDelivery
from tests.oidc.factories import make_client, make_professional, rpps
from tests.oidc.issued import issue, open_session
from tests.oidc.logout_receiver import LogoutReceiver, verify_logout_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS = 1
    server = LogoutReceiver()
    yield server
    server.close()


def _tags(tag: str) -> int:
    return AuditEvent.objects.filter(tag=tag).count()


def test_schedule_creates_one_delivery_per_client_with_a_backchannel_uri(receiver):
    professional = make_professional("8" + rpps(1))
    with_uri, _ = make_client(client_id="rp-a", backchannel_logout_uri=receiver.url())
    without_uri, _ = make_client(client_id="rp-b")
    session = open_session(professional)
    issue(with_uri, professional, session=session)
    issue(without_uri, professional, session=session)

    backchannel.schedule_logout(session)

    deliveries = list(LogoutDelivery.objects.all())
    assert [(d.client_id, d.uri, d.sid, d.sub) for d in deliveries] == [
        ("rp-a", receiver.url(), session.sid, professional.sub)
    ]
    assert receiver.received == []  # nothing sent before the transaction commits


def test_delivered_logout_token_is_signed_and_shaped_per_section_2_4(receiver, settings):
    professional = make_professional("8" + rpps(2))
    client, _ = make_client(
        client_id="rp-es",
        backchannel_logout_uri=receiver.url(),
        id_token_signed_response_alg="ES256",
    )
    session = open_session(professional)
    issue(client, professional, session=session)
    backchannel.schedule_logout(session)
    delivery = LogoutDelivery.objects.get()

    assert backchannel.attempt(delivery.pk) is True

    [request] = receiver.received
    assert request.path == "/backchannel-logout"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    header, claims = verify_logout_token(request.form["logout_token"][0])
    assert header["typ"] == "logout+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"]
    assert claims["iss"] == settings.IDP_ISSUER
    assert claims["aud"] == "rp-es"
    assert claims["sub"] == professional.sub
    assert claims["sid"] == session.sid
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    assert claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 120
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None and delivery.attempts == 1
    assert _tags("oidc:backchannel:delivered") == 1
    # Delivered: never sent again.
    assert backchannel.attempt(delivery.pk) is None
    assert len(receiver.received) == 1


def test_204_is_success(receiver):
    receiver.script.append((204, 0, {}))
    professional = make_professional("8" + rpps(3))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)
    backchannel.schedule_logout(session)
    assert backchannel.attempt(LogoutDelivery.objects.get().pk) is True


def test_retry_with_backoff_after_500_then_success(receiver):
    receiver.script.append((500, 0, {}))
    professional = make_professional("8" + rpps(4))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)
    backchannel.schedule_logout(session)
    delivery = LogoutDelivery.objects.get()
    now = timezone.now()

    assert backchannel.attempt(delivery.pk, now=now) is False
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_error == "HTTP 500"
    assert delivery.next_attempt_at == now + timedelta(seconds=backchannel.BACKOFF_BASE_SECONDS)
    assert delivery.delivered_at is None and delivery.abandoned_at is None
    assert _tags("oidc:backchannel:failed") == 1
    # Not due yet: the worker leaves it alone.
    assert backchannel.deliver_due(now=now + timedelta(seconds=1)) == (0, 0)

    later = now + timedelta(seconds=backchannel.BACKOFF_BASE_SECONDS)
    assert backchannel.deliver_due(now=later) == (1, 0)
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None and delivery.attempts == 2
    assert len(receiver.received) == 2


def test_backoff_doubles_and_is_capped():
    assert [backchannel.backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backchannel.backoff(30).total_seconds() == backchannel.BACKOFF_CAP_SECONDS


def test_abandoned_after_max_attempts(receiver, settings):
    settings.IDP_BACKCHANNEL_MAX_ATTEMPTS = 2
    receiver.script.extend([(500, 0, {}), (503, 0, {})])
    professional = make_professional("8" + rpps(5))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)
    backchannel.schedule_logout(session)
    delivery = LogoutDelivery.objects.get()
    now = timezone.now()

    assert backchannel.attempt(delivery.pk, now=now) is False
    assert backchannel.attempt(delivery.pk, now=now + timedelta(hours=2)) is False
    delivery.refresh_from_db()
    assert delivery.abandoned_at is not None and delivery.attempts == 2
    assert backchannel.deliver_due(now=now + timedelta(days=1)) == (0, 0)
    assert len(receiver.received) == 2
    abandoned = AuditEvent.objects.filter(tag="oidc:backchannel:failed").order_by("sequence")
    assert [e.data["abandoned"] for e in abandoned] == [False, True]


def test_timeout_is_a_failure(receiver):
    receiver.script.append((200, 2.5, {}))  # answers after the 1 s timeout
    professional = make_professional("8" + rpps(6))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)
    backchannel.schedule_logout(session)
    delivery = LogoutDelivery.objects.get()

    assert backchannel.attempt(delivery.pk) is False
    delivery.refresh_from_db()
    assert "timed out" in delivery.last_error.lower() or "timeout" in delivery.last_error.lower()
    assert delivery.delivered_at is None


def test_a_claimed_delivery_is_not_attempted_twice(receiver):
    professional = make_professional("8" + rpps(7))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)
    backchannel.schedule_logout(session)
    delivery = LogoutDelivery.objects.get()
    now = timezone.now()
    assert backchannel._claim(delivery.pk, now) is not None
    # A concurrent worker finds it leased.
    assert backchannel.attempt(delivery.pk, now=now) is None
    assert receiver.received == []


def test_worker_command_once(receiver):
    professional = make_professional("8" + rpps(8))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)
    backchannel.schedule_logout(session)

    call_command("deliver_logouts", "--once")

    assert LogoutDelivery.objects.get().delivered_at is not None
    assert len(receiver.received) == 1


def test_ending_a_session_schedules_the_logout(receiver, django_capture_on_commit_callbacks):
    professional = make_professional("8" + rpps(9))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)

    with django_capture_on_commit_callbacks() as callbacks:
        sessions.end(session, "rp_logout")

    assert LogoutDelivery.objects.filter(sid=session.sid, client_id="rp").count() == 1
    assert len(callbacks) >= 1  # delivery is triggered after commit, not before


def test_suspending_a_professional_schedules_logout_to_each_client_of_live_sessions(
    receiver, django_capture_on_commit_callbacks
):
    professional = make_professional("8" + rpps(10))
    rp_a, _ = make_client(client_id="rp-a", backchannel_logout_uri=receiver.url("/a"))
    rp_b, _ = make_client(client_id="rp-b", backchannel_logout_uri=receiver.url("/b"))
    rp_c, _ = make_client(client_id="rp-c")  # no back-channel URI: nothing to send
    first, second = open_session(professional), open_session(professional)
    issue(rp_a, professional, session=first)
    issue(rp_c, professional, session=first)
    issue(rp_b, professional, session=second)
    ended_before = open_session(professional)
    issue(rp_a, professional, session=ended_before)
    sessions.end(ended_before, "logout")
    LogoutDelivery.objects.all().delete()

    # The status signal is sent on commit; capturing callbacks runs it in this test.
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend(professional, by="admin:alice", reason="Radiation ordinale")

    rows = sorted(LogoutDelivery.objects.values_list("client_id", "sid", "uri"))
    assert rows == sorted(
        [("rp-a", first.sid, receiver.url("/a")), ("rp-b", second.sid, receiver.url("/b"))]
    )


@pytest.mark.django_db(transaction=True)
def test_first_attempt_runs_in_the_background_after_commit(receiver):
    professional = make_professional("8" + rpps(11))
    client, _ = make_client(client_id="rp", backchannel_logout_uri=receiver.url())
    session = open_session(professional)
    issue(client, professional, session=session)

    sessions.end(session, "rp_logout")  # autocommit: on_commit runs at once, delivery in a thread

    assert backchannel.wait_for_background_deliveries(timeout=10)
    assert len(receiver.received) == 1
    _header, claims = verify_logout_token(receiver.received[0].form["logout_token"][0])
    assert claims["sid"] == session.sid
    assert LogoutDelivery.objects.get().delivered_at is not None
