"""Card app activation through the API: self service (email + SMS), session QR and admin codes.

Codes are read where the holder would read them (the mail outbox, the SMS outbox); the phone
signs its registration with a real P-256 key. The helpers here are shared with the other
activation tests and the security tests.
"""

from __future__ import annotations

import base64
import re
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP

from idp.audit.models import AuditEvent
from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from idp.core import sms
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import API, PIN, FakePhone, enrol

pytestmark = pytest.mark.django_db

START = API + "activation/start"
COMPLETE = "activation/complete"
EMAIL = "dr.durand@example.org"
MOBILE = "+33612345678"


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.IDP_SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


def holder(serial: int = 7, **fields: Any):
    values = {"family_name": "DURAND", "given_names": "CLAIRE", "email": EMAIL, "mobile": MOBILE}
    values.update(fields)
    return make_professional("8" + rpps(serial), **values)


def start(client, id_nat: str, **extra: Any):
    response = client.post(
        START, {"id_nat": id_nat}, content_type="application/json", secure=True, **extra
    )
    # The codes leave in the background (the answer does not wait for the providers).
    assert activation.wait_for_messages(10)
    return response


def received_codes() -> tuple[str, str]:
    """The last codes sent: (email code, SMS code), as the holder reads them."""
    email_code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    sms_code = re.search(r"\b(\d{6})\b", sms.outbox[-1].body).group(1)
    return email_code, sms_code


def new_device(**extra: Any) -> dict[str, Any]:
    body = {"device_name": "Mon téléphone", "pin": PIN}
    body.update(extra)
    return body


def complete_self_service(
    client, phone: FakePhone, activation_id: str, email_code: str, sms_code: str, **extra: Any
):
    body = new_device(
        activation_id=activation_id, email_code=email_code, sms_code=sms_code, **extra
    )
    return phone.call(client, "POST", COMPLETE, body, registration=True)


def complete_with_code(client, phone: FakePhone, code: str, **extra: Any):
    return phone.call(
        client, "POST", COMPLETE, new_device(activation_code=code, **extra), registration=True
    )


def started_self_service(client, professional) -> tuple[str, str, str]:
    response = start(client, professional.id_nat)
    assert response.status_code == 202, response.content
    return (response.json()["activation_id"], *received_codes())


def tags() -> list[str]:
    return list(AuditEvent.objects.order_by("sequence").values_list("tag", flat=True))


# --- self service -------------------------------------------------------------------------------


def test_self_service_end_to_end(client):
    professional = holder()
    response = start(client, professional.id_nat)
    assert response.status_code == 202
    answer = response.json()
    assert set(answer) == {"activation_id", "expires_in", "channels"}
    assert answer["expires_in"] == settings.IDP_CARD_ACTIVATION_SECONDS
    assert answer["channels"] == ["email", "sms"]
    assert mail.outbox[-1].to == [EMAIL]
    assert "activation" in mail.outbox[-1].body.lower()
    assert "Votre code" in mail.outbox[-1].body and "Your" in mail.outbox[-1].body
    assert sms.outbox[-1].to == MOBILE
    email_code, sms_code = received_codes()
    stored = CardActivation.objects.get(public_id=answer["activation_id"])
    assert stored.method == ActivationMethod.SELF_SERVICE
    # Only keyed hashes are stored, never the codes.
    assert email_code not in stored.email_code_hash and len(stored.email_code_hash) == 64
    assert stored.email_code_hash != stored.sms_code_hash
    assert "authn:card:activation_started" in tags()

    phone = FakePhone()
    response = complete_self_service(client, phone, answer["activation_id"], email_code, sms_code)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["device"]["kid"] == phone.kid
    assert body["device"]["name"] == "Mon téléphone"
    assert body["device"]["status"] == "active"
    assert body["professional"] == {"id_nat": professional.id_nat, "display_name": "CLAIRE DURAND"}
    assert body["totp"]["digits"] == 6 and body["totp"]["period"] == 30
    assert body["totp"]["algorithm"] == "SHA1"
    assert "=" not in body["totp"]["secret"]

    device = CardDevice.objects.get(kid=phone.kid)
    assert device.professional == professional
    assert device.activated_by == ActivationMethod.SELF_SERVICE
    assert device.public_jwk["x"] == phone.public_jwk["x"]
    # The secret given to the app is the device's TOTP seed: an offline code computed from it
    # is the one the server expects (RFC 6238, computed for real).
    secret = body["totp"]["secret"]
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert seed == device.bin_key
    assert device.verify_token(f"{TOTP(seed).token():06d}")
    stored.refresh_from_db()
    assert stored.consumed_at is not None and stored.device_id == device.pk
    assert "authn:card:activated" in tags()


def test_the_signed_device_can_use_the_api_after_activation(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    phone = FakePhone()
    assert (
        complete_self_service(client, phone, activation_id, email_code, sms_code).status_code == 201
    )
    response = phone.call(client, "GET", "device")
    assert response.status_code == 200
    assert response.json()["kid"] == phone.kid


def test_unknown_id_nat_gets_the_same_answer(client):
    known = start(client, holder().id_nat)
    unknown = start(client, "8" + rpps(999))
    assert unknown.status_code == known.status_code == 202
    assert set(unknown.json()) == set(known.json())
    assert unknown.json()["channels"] == known.json()["channels"]
    assert unknown.json()["expires_in"] == known.json()["expires_in"]
    assert len(unknown.json()["activation_id"]) == len(known.json()["activation_id"])
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1  # only the known one got codes
    assert not CardActivation.objects.filter(public_id=unknown.json()["activation_id"]).exists()


@pytest.mark.parametrize(
    "fields",
    [{"email": ""}, {"mobile": ""}, {"email": "", "mobile": ""}],
    ids=["no-email", "no-mobile", "no-contact"],
)
def test_a_professional_without_both_contacts_gets_a_decoy(client, fields):
    professional = holder(**fields)
    response = start(client, professional.id_nat)
    assert response.status_code == 202
    assert set(response.json()) == {"activation_id", "expires_in", "channels"}
    assert not CardActivation.objects.exists()
    assert mail.outbox == [] and sms.outbox == []


def test_a_suspended_professional_gets_a_decoy(client):
    professional = holder()
    professional.suspended_at = timezone.now()
    professional.save()
    assert start(client, professional.id_nat).status_code == 202
    assert not CardActivation.objects.exists()
    assert mail.outbox == []


def test_a_decoy_never_completes(client):
    response = start(client, "8" + rpps(999))
    phone = FakePhone()
    result = complete_self_service(
        client, phone, response.json()["activation_id"], "123456", "654321"
    )
    assert result.status_code == 400
    assert result.json()["error"] == "activation_invalid"
    assert not CardDevice.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"id_nat": 8}, {"id_nat": ""}, {"id_nat": "8" * 65}, {"id_nat": None}],
    ids=["missing", "number", "empty", "too-long", "null"],
)
def test_start_refuses_a_bad_id_nat(client, body):
    response = client.post(START, body, content_type="application/json", secure=True)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_start_refuses_a_non_json_body(client):
    response = client.post(START, "id_nat=1", content_type="text/plain", secure=True)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_start_is_rate_limited_per_id_nat(client, ratelimit_clock):
    professional = holder()
    limit = 5  # limits.ACTIVATION_PER_ID_NAT
    for _ in range(limit):
        assert start(client, professional.id_nat).status_code == 202
    refused = start(client, professional.id_nat)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    assert len(mail.outbox) == limit
    # Another idNat from the same address still works.
    assert start(client, holder(8).id_nat).status_code == 202


def test_start_is_rate_limited_per_address(client, ratelimit_clock):
    for serial in range(20):  # limits.ACTIVATION_PER_ADDRESS
        assert start(client, "8" + rpps(500 + serial)).status_code == 202
    refused = start(client, holder().id_nat)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert mail.outbox == []
    # Another address is not concerned.
    other = start(client, "8" + rpps(600), REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 202


def test_wrong_codes_are_refused_and_counted(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    wrong = f"{(int(sms_code) + 1) % 1_000_000:06d}"
    response = complete_self_service(client, FakePhone(), activation_id, email_code, wrong)
    assert response.status_code == 400
    assert response.json()["error"] == "activation_invalid"
    assert response.json()["message_fr"]
    assert CardActivation.objects.get(public_id=activation_id).attempts == 1
    failed = AuditEvent.objects.filter(tag="authn:card:activation_failed").last()
    assert failed.data["reason"] == "wrong_codes"
    # The right codes still work afterwards.
    phone = FakePhone()
    assert (
        complete_self_service(client, phone, activation_id, email_code, sms_code).status_code == 201
    )


def test_swapped_codes_are_wrong(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    if email_code == sms_code:  # one chance in a million
        pytest.skip("identical codes")
    response = complete_self_service(client, FakePhone(), activation_id, sms_code, email_code)
    assert response.json()["error"] == "activation_invalid"


def test_five_wrong_tries_kill_the_activation(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    wrong = f"{(int(email_code) + 1) % 1_000_000:06d}"
    for _ in range(activation.MAX_ATTEMPTS):
        response = complete_self_service(client, FakePhone(), activation_id, wrong, sms_code)
        assert response.json()["error"] == "activation_invalid"
    response = complete_self_service(client, FakePhone(), activation_id, email_code, sms_code)
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_attempts"
    assert not CardDevice.objects.exists()
    assert CardActivation.objects.get(public_id=activation_id).consumed_at is None


def test_an_expired_activation_is_refused(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    CardActivation.objects.filter(public_id=activation_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = complete_self_service(client, FakePhone(), activation_id, email_code, sms_code)
    assert response.status_code == 410
    assert response.json()["error"] == "activation_expired"
    assert not CardDevice.objects.exists()
    failed = AuditEvent.objects.filter(tag="authn:card:activation_failed").last()
    assert failed.data["reason"] == "expired"


def test_a_used_activation_cannot_be_replayed(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    assert (
        complete_self_service(client, FakePhone(), activation_id, email_code, sms_code).status_code
        == 201
    )
    again = complete_self_service(client, FakePhone(), activation_id, email_code, sms_code)
    assert again.status_code == 400
    assert again.json()["error"] == "activation_invalid"
    assert CardDevice.objects.count() == 1
    failed = AuditEvent.objects.filter(tag="authn:card:activation_failed").last()
    assert failed.data["reason"] == "replayed"


def test_a_weak_pin_is_refused_and_keeps_the_activation(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    phone = FakePhone()
    for weak in ("1234", "0000", "1212", "12", "abcd"):
        response = complete_self_service(
            client, phone, activation_id, email_code, sms_code, pin=weak
        )
        assert response.status_code == 400, weak
        assert response.json()["error"] == "weak_pin"
    stored = CardActivation.objects.get(public_id=activation_id)
    assert stored.consumed_at is None and stored.attempts == 0
    assert not CardDevice.objects.exists()
    assert (
        complete_self_service(client, phone, activation_id, email_code, sms_code).status_code == 201
    )


def test_too_many_devices(client, settings):
    settings.IDP_CARD_MAX_DEVICES = 2
    professional = holder()
    enrol(professional)
    enrol(professional)
    activation_id, email_code, sms_code = started_self_service(client, professional)
    response = complete_self_service(client, FakePhone(), activation_id, email_code, sms_code)
    assert response.status_code == 409
    assert response.json()["error"] == "too_many_devices"
    assert CardDevice.objects.count() == 2
    assert CardActivation.objects.get(public_id=activation_id).consumed_at is None


def test_a_key_already_enrolled_cannot_register_again(client):
    professional = holder()
    _device, phone = enrol(professional)
    activation_id, email_code, sms_code = started_self_service(client, professional)
    response = complete_self_service(client, phone, activation_id, email_code, sms_code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert CardActivation.objects.get(public_id=activation_id).consumed_at is None


@pytest.mark.parametrize(
    "override",
    [
        {"device_name": ""},
        {"device_name": "x" * 65},
        {"device_name": 3},
        {"push": {"endpoint": "http://push.example/x", "keys": {"p256dh": "a", "auth": "b"}}},
        {"push": "yes"},
    ],
    ids=["empty-name", "long-name", "number-name", "http-push", "string-push"],
)
def test_bad_device_fields_are_invalid_requests(client, override):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    response = complete_self_service(
        client, FakePhone(), activation_id, email_code, sms_code, **override
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert CardActivation.objects.get(public_id=activation_id).attempts == 0


@pytest.mark.parametrize(
    "body",
    [
        {"device_name": "p", "pin": PIN},
        {"device_name": "p", "pin": PIN, "activation_id": "x", "email_code": "123456"},
        {"device_name": "p", "pin": PIN, "activation_id": "x", "activation_code": "y",
         "email_code": "1", "sms_code": "2"},
        {"device_name": "p", "pin": PIN, "activation_code": 12},
    ],
    ids=["no-secret", "one-code", "both-ways", "number-code"],
)  # fmt: skip
def test_incoherent_bodies_are_invalid_requests(client, body):
    response = FakePhone().call(client, "POST", COMPLETE, body, registration=True)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_complete_needs_a_registration_signature(client):
    professional = holder()
    activation_id, email_code, sms_code = started_self_service(client, professional)
    body = new_device(activation_id=activation_id, email_code=email_code, sms_code=sms_code)
    unsigned = client.post(API + COMPLETE, body, content_type="application/json", secure=True)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"] == "invalid_signature"
    # A kid-style signature (an enrolled device) is not a registration.
    _device, enrolled = enrol(professional)
    response = enrolled.call(client, "POST", COMPLETE, body)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert CardActivation.objects.get(public_id=activation_id).consumed_at is None


# --- session QR and administrator codes ---------------------------------------------------------


def test_session_qr_code_end_to_end(client):
    professional = holder()
    issued = activation.issue_code(
        professional, ActivationMethod.SESSION_QR, actor=f"professional:{professional.sub}"
    )
    query = parse_qs(urlsplit(issued.uri).query)
    assert issued.uri.startswith("caducee-card://activate?")
    assert query == {"iss": [settings.IDP_ISSUER], "code": [issued.code]}
    lifetime = (issued.expires_at - issued.activation.created_at).total_seconds()
    assert abs(lifetime - settings.IDP_CARD_QR_SECONDS) < 2
    assert issued.activation.code_hash and issued.code not in issued.activation.code_hash
    phone = FakePhone()
    response = complete_with_code(client, phone, issued.code)
    assert response.status_code == 201, response.content
    assert response.json()["professional"]["id_nat"] == professional.id_nat
    device = CardDevice.objects.get(kid=phone.kid)
    assert device.activated_by == ActivationMethod.SESSION_QR
    again = complete_with_code(client, FakePhone(), issued.code)
    assert again.status_code == 400 and again.json()["error"] == "activation_invalid"


def test_admin_code_end_to_end_typed_by_hand(client):
    professional = holder()
    issued = activation.issue_code(professional, ActivationMethod.ADMIN, actor="admin:alice")
    lifetime = (issued.expires_at - issued.activation.created_at).total_seconds()
    assert abs(lifetime - settings.IDP_CARD_ADMIN_CODE_SECONDS) < 2
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){4}", issued.code)
    typed = issued.code.lower().replace("-", " ")  # what a person types from a printout
    phone = FakePhone()
    response = complete_with_code(client, phone, typed)
    assert response.status_code == 201, response.content
    assert CardDevice.objects.get(kid=phone.kid).activated_by == ActivationMethod.ADMIN
    started = AuditEvent.objects.filter(tag="authn:card:activation_started").last()
    assert started.actor == "admin:alice"
    assert started.data["method"] == "admin"
    assert issued.code not in str(started.data)


def test_an_expired_code_is_refused(client):
    professional = holder()
    issued = activation.issue_code(professional, ActivationMethod.SESSION_QR, actor="x:y")
    CardActivation.objects.filter(pk=issued.activation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = complete_with_code(client, FakePhone(), issued.code)
    assert response.status_code == 410
    assert response.json()["error"] == "activation_expired"
    assert not CardDevice.objects.exists()


def test_a_wrong_code_is_refused(client):
    holder()
    response = complete_with_code(client, FakePhone(), activation.new_activation_code())
    assert response.status_code == 400
    assert response.json()["error"] == "activation_invalid"


def test_wrong_codes_are_rate_limited_per_address(client, ratelimit_clock):
    professional = holder()
    for _ in range(20):  # limits.ACTIVATION_FAILURES_PER_ADDRESS
        response = complete_with_code(client, FakePhone(), activation.new_activation_code())
        assert response.json()["error"] == "activation_invalid"
    issued = activation.issue_code(professional, ActivationMethod.ADMIN, actor="admin:alice")
    refused = complete_with_code(client, FakePhone(), issued.code)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert not CardDevice.objects.exists()


def test_a_code_of_a_suspended_professional_is_refused(client):
    professional = holder()
    issued = activation.issue_code(professional, ActivationMethod.ADMIN, actor="admin:alice")
    professional.suspended_at = timezone.now()
    professional.save()
    response = complete_with_code(client, FakePhone(), issued.code)
    assert response.status_code == 403
    assert response.json()["error"] == "account_inactive"
    assert not CardDevice.objects.exists()


# --- re-activation ------------------------------------------------------------------------------


def test_reactivation_keeps_the_other_devices(client):
    professional = holder()
    old, old_phone = enrol(professional, name="Old phone")
    issued = activation.issue_code(professional, ActivationMethod.ADMIN, actor="admin:alice")
    phone = FakePhone()
    assert complete_with_code(client, phone, issued.code).status_code == 201
    listed = phone.call(client, "GET", "devices").json()["devices"]
    assert {d["kid"] for d in listed} == {old.kid, phone.kid}
    assert old_phone.call(client, "GET", "device").status_code == 200


def test_the_holder_of_a_blocked_device_continues_with_a_new_one(client, settings):
    settings.IDP_CARD_MAX_DEVICES = 1
    professional = holder()
    blocked, blocked_phone = enrol(professional)
    CardDevice.objects.filter(pk=blocked.pk).update(blocked_at=timezone.now(), pin_failures=3)
    activation_id, email_code, sms_code = started_self_service(client, professional)
    phone = FakePhone()
    response = complete_self_service(client, phone, activation_id, email_code, sms_code)
    assert response.status_code == 201, response.content
    assert phone.call(client, "GET", "device").json()["status"] == "active"
    assert blocked_phone.call(client, "GET", "device").json()["error"] == "device_blocked"


def test_the_api_needs_no_csrf_token():
    """The app has no cookie: its signature is the protection (the full stack must not 403)."""
    app = Client(enforce_csrf_checks=True)
    professional = holder()
    response = start(app, professional.id_nat)
    assert response.status_code == 202
    email_code, sms_code = received_codes()
    phone = FakePhone()
    done = complete_self_service(app, phone, response.json()["activation_id"], email_code, sms_code)
    assert done.status_code == 201, done.content


class SlowSmsBackend(sms.SmsBackend):
    """An SMS provider that answers only when the test lets it (a slow provider)."""

    release = threading.Event()

    def send(self, message: sms.SmsMessage) -> None:
        assert self.release.wait(10), "the test never released the provider"
        sms.outbox.append(message)


def test_the_answer_does_not_wait_for_the_sms_provider(client, settings, sms_outbox):
    """A slow provider must neither slow the answer nor tell a real idNat (codes sent) from an
    unknown one (nothing sent) by its timing: the codes leave in the background."""
    settings.IDP_SMS_BACKEND = f"{__name__}.SlowSmsBackend"
    SlowSmsBackend.release.clear()
    professional = holder()
    response = client.post(
        START, {"id_nat": professional.id_nat}, content_type="application/json", secure=True
    )
    assert response.status_code == 202  # answered while the provider still holds the SMS
    assert sms_outbox == []
    SlowSmsBackend.release.set()
    assert activation.wait_for_messages(10)
    assert len(sms_outbox) == 1 and sms_outbox[0].to == MOBILE
