"""Attack: read the database (a dump, a backup) to redeem CIBA requests or impersonate the
provider to a client's notification endpoint.

Only a keyed hash of the auth_req_id is stored for lookup (the key is not in the database); in
ping mode the auth_req_id and client_notification_token are encrypted until the ping is sent,
then wiped. Nothing in the rows, the challenge or the journal gives either value back.
"""

from __future__ import annotations

import json

import pytest
from django.core import serializers

from idp.audit.models import AuditEvent
from idp.authn.card.models import CardChallenge
from idp.oidc import ciba_delivery
from idp.oidc.models import CibaRequest
from tests.oidc.ciba import (
    NotificationReceiver,
    approve,
    challenge_of,
    make_ciba_client,
    make_holder,
    poll,
    start,
)

pytestmark = pytest.mark.django_db

TOKEN = "c2VjcmV0LW5vdGlmaWNhdGlvbi10b2tlbg"


def _dump() -> str:
    rows = [*CibaRequest.objects.all(), *CardChallenge.objects.all(), *AuditEvent.objects.all()]
    return serializers.serialize("json", rows)


def test_no_secret_in_clear_in_the_database(client, settings, django_capture_on_commit_callbacks):
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    receiver = NotificationReceiver()
    try:
        model, secret = make_ciba_client("ping", ciba_notification_endpoint=receiver.url())
        professional, device, phone = make_holder(55)
        auth_req_id = start(
            client,
            model,
            secret,
            professional,
            binding_message="27",
            client_notification_token=TOKEN,
        )
        dump = _dump()
        assert auth_req_id not in dump and TOKEN not in dump
        assert json.loads(dump)  # a real dump was searched

        with django_capture_on_commit_callbacks():
            approve(client, device, phone, challenge_of(auth_req_id).public_id, number="27")
        assert ciba_delivery.deliver_due() == (1, 0)
        assert CibaRequest.objects.get().ping_secrets_encrypted == ""
        assert poll(client, model, secret, auth_req_id).status_code == 200
        dump = _dump()
        assert auth_req_id not in dump and TOKEN not in dump
    finally:
        receiver.close()


def test_a_stored_hash_is_not_an_auth_req_id(client):
    model, secret = make_ciba_client("poll")
    professional, device, phone = make_holder(56)
    auth_req_id = start(client, model, secret, professional, binding_message="27")
    approve(client, device, phone, challenge_of(auth_req_id).public_id, number="27")
    stored_hash = CibaRequest.objects.get().auth_req_id_hash

    response = poll(client, model, secret, stored_hash)

    assert response.json()["error"] == "invalid_grant"
    assert CibaRequest.objects.get().issued_at is None
