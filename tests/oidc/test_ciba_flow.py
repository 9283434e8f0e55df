"""CIBA end to end through HTTP (OpenID CIBA Core 1.0): poll mode, and ping mode with a real
notification endpoint on 127.0.0.1. The professional answers on a phone with a real key."""

from __future__ import annotations

import json

import pytest
from django.test import Client as HttpClient

from idp.audit.models import AuditEvent
from idp.authn.card.models import ChallengeStatus
from idp.oidc import ciba_delivery, jwt, tokens
from idp.oidc.models import RefreshToken, SessionClient, SsoSession
from tests.oidc.ciba import (
    CIBA_URL,
    NotificationReceiver,
    allow_next_poll,
    approve,
    challenge_of,
    deny,
    make_ciba_client,
    make_holder,
    pending_challenge,
    poll,
    row,
    start,
)
from tests.oidc.grant_helpers import basic, jwt_claims, refresh


@pytest.mark.django_db
def test_poll_mode_pending_then_tokens_of_a_card_app_approval(client, settings):
    model, secret = make_ciba_client("poll")
    professional, device, phone = make_holder()
    phone_http = HttpClient()

    response = client.post(
        CIBA_URL,
        "scope=openid+scope_all+unknown&login_hint="
        + professional.id_nat
        + "&binding_message=42&acr_values=eidas1&channel=MOBILE",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(model.client_id, secret),
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    assert body["interval"] == 5
    assert 0 < body["expires_in"] <= settings.IDP_CARD_CHALLENGE_SECONDS
    auth_req_id = body["auth_req_id"]
    assert len(auth_req_id) >= 22  # ≥ 128 bits

    # Only a keyed hash is stored; the challenge carries the same reference and the client's
    # binding message, which is the number the holder must pick.
    stored = row(auth_req_id)
    assert auth_req_id not in (stored.auth_req_id_hash, stored.challenge.reference)
    assert stored.challenge.reference == stored.auth_req_id_hash
    assert stored.scope == "openid scope_all"
    assert stored.ping_secrets_encrypted == ""
    assert AuditEvent.objects.filter(tag="authn:card:ciba_requested").count() == 1

    pending = poll(client, model, secret, auth_req_id)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    assert pending["Cache-Control"] == "no-store"

    shown = pending_challenge(phone_http, phone)
    assert shown["purpose"] == "ciba"
    assert shown["binding_message"] == "42"
    assert shown["client_name"] == "Logiciel de cabinet"
    assert "42" in shown["choices"] and len(shown["choices"]) == 3
    answered = approve(phone_http, device, phone, shown["id"], number="42")
    assert answered.status_code == 200 and answered.json() == {"status": "approved"}
    assert challenge_of(auth_req_id).status == ChallengeStatus.APPROVED

    allow_next_poll(auth_req_id)
    response = poll(client, model, secret, auth_req_id)
    assert response.status_code == 200, response.content
    issued = response.json()
    assert list(issued) == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
        "token_type",
        "id_token",
        "not-before-policy",
        "session_state",
        "scope",
    ]
    assert issued["scope"] == "openid scope_all"
    access = tokens.validate_access_token(issued["access_token"])
    assert access.sub == professional.sub and access.client_id == model.client_id
    assert access.acr == "eidas2"
    assert access.claims["authMode"] == "MOBILE"
    assert access.gid == stored.grant_id
    id_claims = jwt.verify(issued["id_token"], typ="JWT")
    assert id_claims["aud"] == model.client_id
    assert id_claims["acr"] == "eidas2"
    assert id_claims["amr"] == ["pop", "pin", "mfa"]
    assert "nonce" not in id_claims
    assert id_claims["sid"] == issued["session_state"]
    session = SsoSession.objects.get(sid=issued["session_state"])
    assert (session.acr, session.amr, session.auth_mode) == (
        "eidas2",
        ["pop", "pin", "mfa"],
        "MOBILE",
    )
    assert session.professional == professional
    assert SessionClient.objects.filter(session=session, client_id=model.client_id).exists()
    assert RefreshToken.objects.get(grant_id=stored.grant_id).acr == "eidas2"
    assert challenge_of(auth_req_id).consumed_at is not None
    assert AuditEvent.objects.filter(tag="oidc:token:issued").count() == 1

    # The refresh token works like any other, and keeps what the card app proved.
    refreshed = refresh(client, model.client_id, secret, issued["refresh_token"])
    assert refreshed.status_code == 200
    assert jwt_claims(refreshed.json()["id_token"])["amr"] == ["pop", "pin", "mfa"]

    # §11: the auth_req_id is spent.
    again = poll(client, model, secret, auth_req_id)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_no_refresh_token_without_the_refresh_grant(client):
    model, secret = make_ciba_client(
        "poll", grant_types=["urn:openid:params:grant-type:ciba"], redirect_uris=[]
    )
    professional, device, phone = make_holder(8)
    auth_req_id = start(client, model, secret, professional, binding_message="17")
    approve(client, device, phone, challenge_of(auth_req_id).public_id, number="17")

    body = poll(client, model, secret, auth_req_id).json()

    assert "refresh_token" not in body and body["refresh_expires_in"] == 0
    assert body["access_token"] and body["id_token"]


@pytest.mark.django_db
def test_without_a_two_digit_binding_message_there_is_no_number_to_pick(client):
    model, secret = make_ciba_client("poll")
    professional, device, phone = make_holder(9)
    auth_req_id = start(client, model, secret, professional, binding_message="Ordonnance 12")
    challenge = challenge_of(auth_req_id)

    assert challenge.choices == [] and challenge.number == ""
    assert challenge.binding_message == "Ordonnance 12"
    approve(client, device, phone, challenge.public_id, number="")
    assert poll(client, model, secret, auth_req_id).status_code == 200


@pytest.fixture
def receiver(settings):
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS = 2
    server = NotificationReceiver()
    yield server
    server.close()


@pytest.mark.django_db(transaction=True)
def test_ping_mode_notifies_the_client_then_it_redeems(client, receiver):
    model, secret = make_ciba_client(
        "ping", ciba_notification_endpoint=receiver.url("/ciba/notify")
    )
    professional, device, phone = make_holder(10)
    token = "bm90aWZpY2F0aW9uLXRva2VuLTEyMzQ1Njc4OTA"
    auth_req_id = start(
        client, model, secret, professional, binding_message="73", client_notification_token=token
    )
    stored = row(auth_req_id)
    assert token not in stored.ping_secrets_encrypted
    assert auth_req_id not in stored.ping_secrets_encrypted
    assert receiver.received == []  # nothing before the holder answers

    approve(client, device, phone, stored.challenge.public_id, number="73")
    assert ciba_delivery.wait_for_background_deliveries(10)

    [(path, headers, body)] = receiver.received
    assert path == "/ciba/notify"
    assert headers["Authorization"] == f"Bearer {token}"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"auth_req_id": auth_req_id}
    stored.refresh_from_db()
    assert stored.ping_delivered_at is not None and stored.ping_attempts == 1
    assert stored.ping_secrets_encrypted == ""  # wiped once delivered
    assert AuditEvent.objects.filter(tag="oidc:ciba:ping_delivered").count() == 1

    response = poll(client, model, secret, auth_req_id)
    assert response.status_code == 200, response.content
    assert jwt_claims(response.json()["access_token"])["acr"] == "eidas2"
    # Delivered once: the worker has nothing left to send.
    assert ciba_delivery.deliver_due() == (0, 0)
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_ping_mode_on_denial_then_access_denied(client, receiver):
    model, secret = make_ciba_client("ping", ciba_notification_endpoint=receiver.url("/n"))
    professional, device, phone = make_holder(11)
    auth_req_id = start(
        client, model, secret, professional, client_notification_token="tok-123456789"
    )
    deny(client, device, phone, challenge_of(auth_req_id).public_id)
    assert ciba_delivery.wait_for_background_deliveries(10)

    assert len(receiver.received) == 1
    response = poll(client, model, secret, auth_req_id)
    assert response.status_code == 400 and response.json()["error"] == "access_denied"


@pytest.mark.django_db
def test_a_ping_client_may_poll_too(client):
    model, secret = make_ciba_client("ping", ciba_notification_endpoint="https://rp.example.fr/n")
    professional, _device, _phone = make_holder(12)
    auth_req_id = start(client, model, secret, professional, client_notification_token="abc")

    response = poll(client, model, secret, auth_req_id)

    assert response.json()["error"] == "authorization_pending"
