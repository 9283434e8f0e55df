"""Attack: using an activation twice (a replayed request, a reused code, two phones racing).

Activations are single use (conditional UPDATE on ``consumed_at`` with the registration, in one
transaction); signed requests are single use too (``jti``). A replay enrols nothing more and
does not disturb the device the first use enrolled.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client as HttpClient

from idp.audit.models import AuditEvent
from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from tests.authn.card.helpers import API, FakePhone
from tests.authn.card.test_activation import (
    COMPLETE,
    complete_self_service,
    complete_with_code,
    holder,
    new_device,
    sms_outbox,  # noqa: F401 (fixture)
    started_self_service,
)

pytestmark = pytest.mark.django_db

URL = API + COMPLETE


def test_the_same_signed_request_twice(client):
    issued = activation.issue_code(holder(), ActivationMethod.ADMIN, actor="admin:alice")
    phone = FakePhone()
    body = json.dumps(new_device(activation_code=issued.code)).encode()
    header = phone.authorization("POST", URL, body, registration=True)
    first = client.post(
        URL, body, content_type="application/json", secure=True, HTTP_AUTHORIZATION=header
    )
    again = client.post(
        URL, body, content_type="application/json", secure=True, HTTP_AUTHORIZATION=header
    )
    assert first.status_code == 201
    assert again.status_code == 401 and again.json()["error"] == "replayed_request"
    assert CardDevice.objects.count() == 1
    assert CardDevice.objects.get().kid == phone.kid
    assert AuditEvent.objects.filter(tag="authn:card:activated").count() == 1


def test_a_used_code_enrols_no_second_phone(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    first = FakePhone()
    assert (
        complete_self_service(client, first, activation_id, email_code, sms_code).status_code == 201
    )
    stored = CardActivation.objects.get(public_id=activation_id)
    intruder = FakePhone()
    replay = complete_self_service(client, intruder, activation_id, email_code, sms_code)
    assert replay.status_code == 400 and replay.json()["error"] == "activation_invalid"
    assert not CardDevice.objects.filter(kid=intruder.kid).exists()
    # Nothing else changed: the first device lives, the activation still points at it.
    assert first.call(client, "GET", "device").json()["status"] == "active"
    after = CardActivation.objects.get(public_id=activation_id)
    assert (after.consumed_at, after.device_id, after.attempts) == (
        stored.consumed_at,
        stored.device_id,
        stored.attempts,
    )
    failed = AuditEvent.objects.filter(tag="authn:card:activation_failed").last()
    assert failed.data["reason"] == "replayed"


def test_an_admin_code_works_once(client):
    issued = activation.issue_code(holder(), ActivationMethod.ADMIN, actor="admin:alice")
    assert complete_with_code(client, FakePhone(), issued.code).status_code == 201
    second = FakePhone()
    response = complete_with_code(client, second, issued.code)
    assert response.json()["error"] == "activation_invalid"
    assert CardDevice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent connections to one database: run with DATABASE_URL=postgres://…; "
    "SQLite serialises writers with BEGIN IMMEDIATE, there is no race to observe",
)
def test_two_phones_racing_with_one_code_enrol_one_device():
    issued = activation.issue_code(holder(), ActivationMethod.ADMIN, actor="admin:alice")
    barrier = threading.Barrier(2)
    results: list[int] = []
    lock = threading.Lock()

    def race() -> None:
        try:
            http = HttpClient()
            phone = FakePhone()
            barrier.wait()
            response = complete_with_code(http, phone, issued.code)
            with lock:
                results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201, 400]
    assert CardDevice.objects.count() == 1
    assert CardActivation.objects.get().device_id == CardDevice.objects.get().pk
