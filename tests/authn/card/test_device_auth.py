"""The device signature (idp/authn/card/device_auth.py), through a real view of the API."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.urls import path
from joserfc import jws

from idp.audit.models import AuditEvent
from idp.authn.card import limits
from idp.authn.card.api.base import endpoint
from idp.authn.card.device_auth import body_hash
from tests.accounts.factories import make_professional
from tests.authn.card.helpers import FakePhone, enrol
from tests.redis_round_trips import redis_round_trips

pytestmark = pytest.mark.django_db

PATH = "/api/card/v1/_probe"


@endpoint("GET", "POST")
def probe(request):
    return {"kid": request.card.kid, "body": request.card_json}


urlpatterns = [path("api/card/v1/_probe", probe)]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def device_and_phone():
    return enrol(make_professional())


def test_a_signed_request_names_its_device(client, device_and_phone):
    device, phone = device_and_phone
    response = phone.call(client, "POST", PATH, {"a": 1})
    assert response.status_code == 200, response.content
    assert response.json() == {"kid": device.kid, "body": {"a": 1}}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("sign", "code"),
    [
        ({"iat": time.time() - 600}, "stale_request"),
        ({"htu": "https://evil.example/api/card/v1/_probe"}, "invalid_signature"),
        ({"bsh": "AAAA"}, "invalid_signature"),
        ({"jti": "short"}, "invalid_signature"),
    ],
)
def test_bad_signatures_are_refused(client, device_and_phone, sign, code):
    _device, phone = device_and_phone
    response = phone.call(client, "POST", PATH, {"a": 1}, **sign)
    assert response.status_code == 401
    assert response.json()["error"] == code
    assert response.json()["message_fr"]


def test_a_nan_iat_is_no_fresh_request(client, device_and_phone):
    """json.loads accepts NaN; abs(now - NaN) > skew is false, so NaN passed as fresh and the
    request was replayable once its jti left the replay cache."""
    _device, phone = device_and_phone
    htu = settings.IDP_BASE_URL.rstrip("/") + PATH
    payload = json.dumps({"htm": "GET", "htu": htu, "iat": "@", "jti": "nan-iat-0123456789",
                          "bsh": body_hash(b"")}).replace('"@"', "NaN")  # fmt: skip
    token = jws.serialize_compact(
        {"alg": "ES256", "typ": "card-request+jwt", "kid": phone.kid}, payload.encode(), phone.key
    )
    response = client.get(PATH, secure=True, HTTP_AUTHORIZATION=f"CardDevice {token}")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")


def test_a_replayed_request_is_refused_and_journaled(client, device_and_phone):
    _device, phone = device_and_phone
    header = phone.authorization("GET", PATH)
    first = client.get(PATH, secure=True, HTTP_AUTHORIZATION=header)
    again = client.get(PATH, secure=True, HTTP_AUTHORIZATION=header)
    assert first.status_code == 200
    assert again.status_code == 401
    assert again.json()["error"] == "replayed_request"
    assert AuditEvent.objects.filter(tag="authn:card:request_refused").count() == 1


def test_a_key_that_is_not_enrolled_is_unknown(client):
    response = FakePhone().call(client, "GET", PATH)
    assert response.status_code == 401
    assert response.json()["error"] == "unknown_device"


def test_revoked_device_is_refused(client, device_and_phone):
    device, phone = device_and_phone
    device.revoked_at = device.created_at
    device.save()
    response = phone.call(client, "GET", PATH)
    assert response.status_code == 403
    assert response.json()["error"] == "device_revoked"


# --- the bad-request limit per address (limits.BAD_REQUESTS_PER_ADDRESS) ------------------------
BAD = limits.BAD_REQUESTS_PER_ADDRESS
ADDRESS = "127.0.0.1"  # the test client's REMOTE_ADDR


@pytest.fixture
def blocked_address(ratelimit_clock):
    for _ in range(BAD.limit):
        BAD.register_failure(ADDRESS)
    return BAD.retry_after(ADDRESS)


def _count() -> int:
    from django.core.cache import caches

    return caches["default"].get(BAD._bucket(ADDRESS)[1]) or 0


def _assert_rate_limited(response, wait: int) -> None:
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert response.json()["retry_after"] == wait
    assert response["Retry-After"] == str(wait)


def test_refused_signatures_count_against_the_address(client, device_and_phone, ratelimit_clock):
    _device, phone = device_and_phone
    phone.call(client, "GET", PATH, bsh="AAAA")  # 401
    FakePhone().call(client, "GET", PATH)  # 401 unknown device
    header = phone.authorization("GET", PATH)
    client.get(PATH, secure=True, HTTP_AUTHORIZATION=header)
    client.get(PATH, secure=True, HTTP_AUTHORIZATION=header)  # 401 replayed
    assert _count() == 3
    device, _ = device_and_phone
    device.revoked_at = device.created_at
    device.save()
    assert phone.call(client, "GET", PATH).status_code == 403  # a 403 is not counted
    assert _count() == 3


@pytest.mark.parametrize(
    "request_kind",
    ["valid", "forged", "replayed", "unknown_device", "not_json", "too_large"],
)
def test_an_address_over_the_limit_is_refused_whatever_it_sends(
    client, device_and_phone, blocked_address, request_kind
):
    """As when the limit was read first: rate_limited, nothing counted, journaled or recorded."""
    _device, phone = device_and_phone
    header = phone.authorization("GET", PATH)
    if request_kind == "replayed":
        BAD.reset(ADDRESS)
        assert client.get(PATH, secure=True, HTTP_AUTHORIZATION=header).status_code == 200
        for _ in range(BAD.limit):
            BAD.register_failure(ADDRESS)
    elif request_kind == "forged":
        header = phone.authorization("GET", PATH, bsh="AAAA")
    elif request_kind == "unknown_device":
        header = FakePhone().authorization("GET", PATH)
    body = {"not_json": b"{not json", "too_large": b"[" * 17000}.get(request_kind, b"")
    if body:
        header = phone.authorization("POST", PATH, body)
    journal_before = AuditEvent.objects.count()
    response = client.generic(
        "POST" if body else "GET",
        PATH,
        body,
        content_type="application/json",
        secure=True,
        HTTP_AUTHORIZATION=header,
    )
    _assert_rate_limited(response, BAD.retry_after(ADDRESS))
    assert _count() == BAD.limit
    assert AuditEvent.objects.count() == journal_before
    if request_kind == "valid":
        # the jti was not recorded: once the address may try again, the request goes through
        BAD.reset(ADDRESS)
        assert client.get(PATH, secure=True, HTTP_AUTHORIZATION=header).status_code == 200


def test_a_forged_request_cannot_burn_a_devices_jti(client, device_and_phone):
    """The jti is recorded only after the signature verified: a forger who knows (or guesses) the
    next jti of a device, and its kid, cannot make the device's real request a replay."""
    _device, phone = device_and_phone
    thief = FakePhone()
    thief.kid = phone.kid
    jti = "the-victims-next-jti-0123"
    forged = client.get(
        PATH, secure=True, HTTP_AUTHORIZATION=thief.authorization("GET", PATH, jti=jti)
    )
    assert (forged.status_code, forged.json()["error"]) == (401, "invalid_signature")
    genuine = client.get(
        PATH, secure=True, HTTP_AUTHORIZATION=phone.authorization("GET", PATH, jti=jti)
    )
    assert genuine.status_code == 200


def test_a_signed_request_is_one_redis_round_trip(client, device_and_phone):
    """The address's limit is read in the script that records the jti: one round trip."""
    _device, phone = device_and_phone
    assert phone.call(client, "GET", PATH).status_code == 200  # loads the script
    with redis_round_trips() as trips:
        response = phone.call(client, "POST", PATH, {"a": 1})
    assert response.status_code == 200
    assert trips.names == [["EVALSHA"]]
    (evalsha,) = trips.sent[0]
    assert f":card:jti:{phone.kid}:" in evalsha[4]  # KEYS: the address's counter, the jti


def test_a_refused_request_is_one_redis_round_trip(client, device_and_phone):
    _device, phone = device_and_phone
    phone.call(client, "GET", PATH, bsh="AAAA")  # loads the script
    with redis_round_trips() as trips:
        response = phone.call(client, "GET", PATH, bsh="AAAA")
    assert response.status_code == 401
    assert trips.names == [["EVALSHA"]]  # limits.hit: checked and counted at once
