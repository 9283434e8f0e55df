"""CIBA ping delivery (CIBA Core §10.2) to a real local endpoint: scheduling on the card app's
answer, retries with backoff by the worker command, abandonment, secrets wiped, journal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.oidc import backchannel, ciba_delivery
from idp.oidc.models import CibaRequest
from relying_parties.models import Client
from tests.oidc.ciba import (
    NotificationReceiver,
    approve,
    challenge_of,
    make_ciba_client,
    make_holder,
    row,
    start,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS = 1
    server = NotificationReceiver()
    yield server
    server.close()


def _answered_ping_request(client, receiver, serial: int, callbacks) -> CibaRequest:
    model, secret = make_ciba_client("ping", ciba_notification_endpoint=receiver.url())
    professional, device, phone = make_holder(serial)
    auth_req_id = start(
        client, model, secret, professional, binding_message="12", client_notification_token="t0k"
    )
    with callbacks() as scheduled:
        approve(client, device, phone, challenge_of(auth_req_id).public_id, number="12")
    assert len(scheduled) == 1  # the first attempt waits for the commit
    return row(auth_req_id)


def test_answer_schedules_one_ping_after_commit(
    client, receiver, django_capture_on_commit_callbacks
):
    request = _answered_ping_request(client, receiver, 31, django_capture_on_commit_callbacks)
    assert request.ping_next_attempt_at is not None
    assert receiver.received == []
    # Scheduling again (a second signal) changes nothing.
    assert ciba_delivery.schedule(request.challenge) is None


def test_poll_mode_answer_schedules_nothing(client, django_capture_on_commit_callbacks):
    model, secret = make_ciba_client("poll")
    professional, device, phone = make_holder(32)
    auth_req_id = start(client, model, secret, professional, binding_message="12")
    with django_capture_on_commit_callbacks() as scheduled:
        approve(client, device, phone, challenge_of(auth_req_id).public_id, number="12")
    assert scheduled == []
    assert row(auth_req_id).ping_next_attempt_at is None


def test_retry_with_backoff_after_500_then_the_worker_delivers(
    client, receiver, django_capture_on_commit_callbacks, settings
):
    settings.IDP_CARD_CHALLENGE_SECONDS = 600
    receiver.script.append(500)
    request = _answered_ping_request(client, receiver, 33, django_capture_on_commit_callbacks)
    now = timezone.now()

    assert ciba_delivery.attempt(request.pk, now=now) is False
    request.refresh_from_db()
    assert request.ping_attempts == 1 and request.ping_last_error == "HTTP 500"
    assert request.ping_next_attempt_at == now + backchannel.backoff(1)
    assert request.ping_delivered_at is None and request.ping_abandoned_at is None
    assert request.ping_secrets_encrypted  # kept for the retry
    failed = AuditEvent.objects.get(tag="oidc:ciba:ping_failed")
    assert failed.data["abandoned"] is False and failed.data["status"] == 500
    # Not due yet.
    assert ciba_delivery.deliver_due(now=now + timedelta(seconds=1)) == (0, 0)

    later = now + backchannel.backoff(1)
    assert ciba_delivery.deliver_due(now=later) == (1, 0)
    request.refresh_from_db()
    assert request.ping_delivered_at is not None and request.ping_secrets_encrypted == ""
    assert len(receiver.received) == 2


def test_worker_command_delivers_due_pings(client, receiver, django_capture_on_commit_callbacks):
    request = _answered_ping_request(client, receiver, 34, django_capture_on_commit_callbacks)

    call_command("deliver_logouts", "--once")

    request.refresh_from_db()
    assert request.ping_delivered_at is not None
    assert len(receiver.received) == 1
    assert AuditEvent.objects.filter(tag="oidc:ciba:ping_delivered").count() == 1


def test_abandoned_when_the_next_try_would_come_after_expiry(
    client, receiver, django_capture_on_commit_callbacks
):
    receiver.script.append(503)
    request = _answered_ping_request(client, receiver, 35, django_capture_on_commit_callbacks)
    CibaRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() + timedelta(seconds=10)
    )

    assert ciba_delivery.attempt(request.pk) is False

    request.refresh_from_db()
    assert request.ping_abandoned_at is not None
    assert request.ping_secrets_encrypted == ""
    assert ciba_delivery.due_ids() == []


def test_expired_request_is_abandoned_without_sending(
    client, receiver, django_capture_on_commit_callbacks
):
    request = _answered_ping_request(client, receiver, 36, django_capture_on_commit_callbacks)
    CibaRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert ciba_delivery.attempt(request.pk) is False

    assert receiver.received == []
    request.refresh_from_db()
    assert request.ping_abandoned_at is not None and request.ping_last_error == "request expired"


def test_deactivated_client_is_not_pinged(client, receiver, django_capture_on_commit_callbacks):
    request = _answered_ping_request(client, receiver, 37, django_capture_on_commit_callbacks)
    Client.objects.filter(client_id=request.client_id).update(is_active=False)
    from relying_parties import registry

    registry.forget()

    assert ciba_delivery.attempt(request.pk) is False
    assert receiver.received == []


def test_max_attempts(client, receiver, django_capture_on_commit_callbacks, settings):
    settings.IDP_BACKCHANNEL_MAX_ATTEMPTS = 2
    settings.IDP_CARD_CHALLENGE_SECONDS = 3600
    receiver.script.extend([500, 500])
    request = _answered_ping_request(client, receiver, 38, django_capture_on_commit_callbacks)
    CibaRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    now = timezone.now()
    assert ciba_delivery.attempt(request.pk, now=now) is False
    assert ciba_delivery.attempt(request.pk, now=now + backchannel.backoff(1)) is False
    request.refresh_from_db()
    assert request.ping_abandoned_at is not None and request.ping_attempts == 2


def test_a_leased_ping_is_not_sent_twice(client, receiver, django_capture_on_commit_callbacks):
    request = _answered_ping_request(client, receiver, 39, django_capture_on_commit_callbacks)
    now = timezone.now()
    assert ciba_delivery._claim(request.pk, now) is not None
    assert ciba_delivery.attempt(request.pk, now=now) is None
    assert receiver.received == []
