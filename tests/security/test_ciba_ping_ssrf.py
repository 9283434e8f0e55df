"""Attack: a ping-mode client registers a notification endpoint naming an internal address, so
that the provider POSTs into its own network when the card app answers (SSRF, CIBA §10.2).

The delivery goes through idp.oidc.ssrf: refused before any connection, journaled, nothing sent,
and the request itself is untouched (the client may still poll for its tokens).
"""

from __future__ import annotations

import pytest

from idp.audit.models import AuditEvent
from idp.oidc import ciba_delivery
from tests.oidc.ciba import (
    NotificationReceiver,
    approve,
    challenge_of,
    make_ciba_client,
    make_holder,
    poll,
    row,
    start,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def internal_service(settings):
    """A real listener on 127.0.0.1: what the attacker wants the provider to reach."""
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = False
    settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS = 1
    server = NotificationReceiver()
    yield server
    server.close()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1:{port}/internal",
        "https://localhost:{port}/internal",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/admin",
        "https://[::1]:{port}/internal",
    ],
)
def test_ping_to_a_private_address_is_refused(
    client, internal_service, django_capture_on_commit_callbacks, endpoint
):
    port = internal_service.server.server_address[1]
    model, secret = make_ciba_client("ping", ciba_notification_endpoint=endpoint.format(port=port))
    professional, device, phone = make_holder(53)
    auth_req_id = start(
        client, model, secret, professional, binding_message="90", client_notification_token="x1"
    )
    with django_capture_on_commit_callbacks():
        approve(client, device, phone, challenge_of(auth_req_id).public_id, number="90")
    pending = row(auth_req_id)

    assert ciba_delivery.attempt(pending.pk) is False

    assert internal_service.received == []
    stored = row(auth_req_id)
    assert stored.ping_delivered_at is None
    assert stored.ping_last_error.startswith("refused destination")
    event = AuditEvent.objects.get(tag="oidc:ciba:ping_failed")
    assert event.data["client_id"] == model.client_id
    # Nothing else changed: the request is still redeemable by its client.
    assert stored.issued_at is None and stored.challenge.consumed_at is None
    assert poll(client, model, secret, auth_req_id).status_code == 200


def test_plain_http_endpoint_is_refused_outside_closed_networks(
    client, internal_service, django_capture_on_commit_callbacks
):
    port = internal_service.server.server_address[1]
    model, secret = make_ciba_client(
        "ping", ciba_notification_endpoint=f"http://127.0.0.1:{port}/internal"
    )
    professional, device, phone = make_holder(54)
    auth_req_id = start(client, model, secret, professional, client_notification_token="x2")
    with django_capture_on_commit_callbacks():
        approve(
            client,
            device,
            phone,
            challenge_of(auth_req_id).public_id,
            number=challenge_of(auth_req_id).number,
        )

    assert ciba_delivery.attempt(row(auth_req_id).pk) is False
    assert internal_service.received == []
    assert "scheme" in row(auth_req_id).ping_last_error
