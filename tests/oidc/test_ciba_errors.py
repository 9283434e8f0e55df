"""Every CIBA error through HTTP: the backchannel authentication endpoint (CIBA Core §13) and the
token endpoint (§11). Bad input is an OAuth error JSON, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from idp.accounts import services
from idp.audit.models import AuditEvent
from idp.authn.card import limits
from idp.authn.card.models import CardChallenge, CardDevice, ChallengeStatus
from idp.oidc.models import CibaRequest, SsoSession
from tests.oidc.ciba import (
    CIBA_URL,
    allow_next_poll,
    approve,
    challenge_of,
    ciba_auth,
    deny,
    make_ciba_client,
    make_holder,
    poll,
    row,
    start,
)
from tests.oidc.factories import make_client, make_professional, rpps
from tests.oidc.grant_helpers import basic

pytestmark = pytest.mark.django_db


@pytest.fixture
def rp():
    return make_ciba_client("poll")


@pytest.fixture
def holder():
    return make_holder(21)


def _error(response, status: int = 400) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.json()["error"]


def _nothing_created() -> None:
    assert not CibaRequest.objects.exists()
    assert not CardChallenge.objects.exists()


# --- the backchannel authentication endpoint (§13) ------------------------------------------------
@pytest.mark.parametrize(
    ("params", "error", "text"),
    [
        ({"scope": "profile scope_all"}, "invalid_scope", "openid"),
        ({"scope": None}, "invalid_scope", "openid"),
        ({"login_hint": None}, "invalid_request", "Exactly one"),
        ({"login_hint_token": "eyJ..."}, "invalid_request", "Exactly one"),
        ({"login_hint": None, "login_hint_token": "eyJ"}, "invalid_request", "not supported"),
        ({"login_hint": None, "id_token_hint": "eyJ"}, "invalid_request", "not supported"),
        ({"binding_message": "x" * 65}, "invalid_binding_message", "64"),
        ({"binding_message": "ligne\nligne"}, "invalid_binding_message", "printable"),
        ({"channel": "CARD"}, "invalid_request", "channel not supported"),
        ({"channel": "SMS"}, "invalid_request", "MOBILE"),
        ({"acr_values": "eidas3"}, "invalid_request", "eidas2"),
        ({"requested_expiry": "0"}, "invalid_request", "requested_expiry"),
        ({"requested_expiry": "-5"}, "invalid_request", "requested_expiry"),
        ({"requested_expiry": "soon"}, "invalid_request", "requested_expiry"),
        ({"requested_expiry": "999999"}, "invalid_request", "requested_expiry"),
        ({"user_code": "1234"}, "invalid_request", "user_code"),
        ({"request": "eyJhbGciOi.x.y"}, "invalid_request", "Signed"),
        ({"login_hint": "899700000000"}, "unknown_user_id", "login_hint"),
        ({"login_hint": "8" * 300}, "unknown_user_id", "login_hint"),
    ],
)
def test_request_errors(client, rp, holder, params, error, text):
    model, secret = rp
    professional, _device, _phone = holder
    values = {"scope": "openid", "login_hint": professional.id_nat, **params}
    response = ciba_auth(client, model, secret, **values)
    assert _error(response) == error
    assert text in response.json()["error_description"]
    _nothing_created()


def test_acr_values_met_by_eidas2_are_accepted(client, rp, holder):
    model, secret = rp
    professional, _device, _phone = holder
    auth_req_id = start(client, model, secret, professional, acr_values="eidas3 eidas2 unknown")
    assert row(auth_req_id).acr == "eidas2"


def test_requested_expiry_shortens_the_request(client, rp, holder):
    model, secret = rp
    professional, _device, _phone = holder
    response = ciba_auth(
        client,
        model,
        secret,
        scope="openid",
        login_hint=professional.id_nat,
        requested_expiry="30",
    )
    assert 28 <= response.json()["expires_in"] <= 30


def test_unknown_user_without_a_usable_device(client, rp):
    model, secret = rp
    professional = make_professional("8" + rpps(22))
    response = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert _error(response) == "unknown_user_id"
    _nothing_created()
    assert AuditEvent.objects.filter(tag="oidc:ciba:refused", data__reason="no_device").exists()


def test_unknown_user_with_only_a_revoked_device(client, rp, holder):
    model, secret = rp
    professional, device, _phone = holder
    CardDevice.objects.filter(pk=device.pk).update(revoked_at=timezone.now())
    response = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert _error(response) == "unknown_user_id"
    _nothing_created()


def test_suspended_professional_is_unknown(client, rp, holder):
    model, secret = rp
    professional, _device, _phone = holder
    services.suspend(professional, reason="test", by="admin:test")
    response = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert _error(response) == "unknown_user_id"


def test_client_not_enabled_for_ciba(client, holder):
    model, secret = make_client()
    professional, _device, _phone = holder
    response = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert _error(response) == "unauthorized_client"
    _nothing_created()


def test_ping_client_without_notification_token(client, holder):
    model, secret = make_ciba_client("ping", ciba_notification_endpoint="https://rp.example.fr/n")
    professional, _device, _phone = holder
    response = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert _error(response) == "invalid_request"
    assert "client_notification_token" in response.json()["error_description"]
    bad = ciba_auth(
        client,
        model,
        secret,
        scope="openid",
        login_hint=professional.id_nat,
        client_notification_token="not a bearer token",
    )
    assert _error(bad) == "invalid_request"
    _nothing_created()


@pytest.mark.parametrize(
    "auth",
    [
        "",  # no credentials at all
        "Basic bm90LWJhc2U2NA==",  # "not-base64" without a colon
    ],
)
def test_bad_client_authentication(client, rp, holder, auth):
    model, _secret = rp
    professional, _device, _phone = holder
    response = ciba_auth(
        client, model, "", auth=auth, scope="openid", login_hint=professional.id_nat
    )
    assert _error(response, 401) == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")
    _nothing_created()


def test_wrong_secret(client, rp, holder):
    model, _secret = rp
    professional, _device, _phone = holder
    response = ciba_auth(
        client,
        model,
        "",
        auth=basic(model.client_id, "wrong"),
        scope="openid",
        login_hint=professional.id_nat,
    )
    assert _error(response, 401) == "invalid_client"
    assert AuditEvent.objects.filter(tag="oidc:client:auth_failed", data__endpoint="ciba").exists()
    _nothing_created()


def test_body_must_be_a_form_and_post(client, rp):
    model, secret = rp
    as_json = client.post(
        CIBA_URL,
        '{"scope": "openid"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(model.client_id, secret),
    )
    assert _error(as_json) == "invalid_request"
    get = client.get(CIBA_URL)
    assert _error(get, 405) == "invalid_request"
    assert get["Allow"] == "POST"


def test_repeated_parameter(client, rp, holder):
    model, secret = rp
    professional, _device, _phone = holder
    response = client.post(
        CIBA_URL,
        f"scope=openid&login_hint={professional.id_nat}&login_hint={professional.id_nat}",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(model.client_id, secret),
    )
    assert _error(response) == "invalid_request"


def test_rate_limited_per_id_nat(client, rp, holder, ratelimit_clock):
    model, secret = rp
    professional, _device, _phone = holder
    for _ in range(limits.CHALLENGES_PER_ID_NAT.limit):
        limits.CHALLENGES_PER_ID_NAT.register_failure(professional.id_nat)
    response = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert _error(response, 403) == "access_denied"
    assert int(response["Retry-After"]) > 0
    _nothing_created()
    assert AuditEvent.objects.filter(tag="oidc:ciba:refused", data__reason="rate_limited").exists()


def test_too_many_pending_challenges(client, rp, holder, settings):
    settings.IDP_CARD_MAX_PENDING = 1
    model, secret = rp
    professional, _device, _phone = holder
    start(client, model, secret, professional)
    response = ciba_auth(client, model, secret, scope="openid", login_hint=professional.id_nat)
    assert _error(response, 403) == "access_denied"
    assert CibaRequest.objects.count() == CardChallenge.objects.count() == 1


# --- the token endpoint (§11) ---------------------------------------------------------------------
def test_authorization_pending_then_slow_down_and_the_interval_grows(client, rp, holder):
    model, secret = rp
    professional, _device, _phone = holder
    auth_req_id = start(client, model, secret, professional)

    assert _error(poll(client, model, secret, auth_req_id)) == "authorization_pending"
    assert _error(poll(client, model, secret, auth_req_id)) == "slow_down"
    assert row(auth_req_id).interval == 10
    assert _error(poll(client, model, secret, auth_req_id)) == "slow_down"
    assert row(auth_req_id).interval == 15
    allow_next_poll(auth_req_id)
    assert _error(poll(client, model, secret, auth_req_id)) == "authorization_pending"
    assert row(auth_req_id).interval == 15


def test_expired_token(client, rp, holder):
    model, secret = rp
    professional, _device, _phone = holder
    auth_req_id = start(client, model, secret, professional)
    CibaRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _error(poll(client, model, secret, auth_req_id)) == "expired_token"


def test_expired_challenge(client, rp, holder):
    model, secret = rp
    professional, _device, _phone = holder
    auth_req_id = start(client, model, secret, professional)
    CardChallenge.objects.update(status=ChallengeStatus.EXPIRED)
    assert _error(poll(client, model, secret, auth_req_id)) == "expired_token"


def test_approved_too_late_is_expired(client, rp, holder):
    model, secret = rp
    professional, device, phone = holder
    auth_req_id = start(client, model, secret, professional, binding_message="55")
    approve(client, device, phone, challenge_of(auth_req_id).public_id, number="55")
    CibaRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _error(poll(client, model, secret, auth_req_id)) == "expired_token"
    assert not SsoSession.objects.exists()


def test_access_denied_when_the_holder_denies(client, rp, holder):
    model, secret = rp
    professional, device, phone = holder
    auth_req_id = start(client, model, secret, professional)
    deny(client, device, phone, challenge_of(auth_req_id).public_id)
    assert _error(poll(client, model, secret, auth_req_id)) == "access_denied"
    assert not SsoSession.objects.exists()


def test_access_denied_when_the_holder_picks_the_wrong_number(client, rp, holder):
    model, secret = rp
    professional, device, phone = holder
    auth_req_id = start(client, model, secret, professional, binding_message="31")
    wrong = next(c for c in challenge_of(auth_req_id).choices if c != "31")
    answered = approve(client, device, phone, challenge_of(auth_req_id).public_id, number=wrong)
    assert answered.json()["error"] == "wrong_number"
    assert challenge_of(auth_req_id).status == ChallengeStatus.FAILED
    assert _error(poll(client, model, secret, auth_req_id)) == "access_denied"


def test_unknown_and_missing_auth_req_id(client, rp):
    model, secret = rp
    assert _error(poll(client, model, secret, "never-issued")) == "invalid_grant"
    from tests.oidc.grant_helpers import post_token

    missing = post_token(
        client,
        {"grant_type": "urn:openid:params:grant-type:ciba"},
        auth=basic(model.client_id, secret),
    )
    assert _error(missing) == "invalid_request"


def test_grant_type_not_registered(client, holder):
    model, secret = make_client()
    assert _error(poll(client, model, secret, "whatever")) == "unauthorized_client"


def test_another_clients_auth_req_id_is_invalid_grant(client, rp, holder):
    model, secret = rp
    other, other_secret = make_ciba_client("poll", client_id="other-rp")
    professional, _device, _phone = holder
    auth_req_id = start(client, model, secret, professional)
    assert _error(poll(client, other, other_secret, auth_req_id)) == "invalid_grant"
    assert row(auth_req_id).last_polled_at is None  # the other client changed nothing


def test_replay_after_success_is_invalid_grant(client, rp, holder):
    model, secret = rp
    professional, device, phone = holder
    auth_req_id = start(client, model, secret, professional, binding_message="64")
    approve(client, device, phone, challenge_of(auth_req_id).public_id, number="64")
    assert poll(client, model, secret, auth_req_id).status_code == 200
    assert _error(poll(client, model, secret, auth_req_id)) == "invalid_grant"
    assert SsoSession.objects.count() == 1
