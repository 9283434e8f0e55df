"""CardApp on the wire, against a fake transport: URLs, bodies, signatures, errors."""

from __future__ import annotations

import json

import pytest
import requests
from joserfc import jws
from joserfc.jwk import ECKey

from card_app import signing, totp
from card_app.client import CardApp
from card_app.errors import CardApiError, CardAppError, CardTransportError, NotActivatedError
from card_app.keystore import DeviceState
from tests.card_app.fakes import (
    BASE_URL,
    ISSUER,
    FakeServer,
    activation_answer,
    answer_activation,
    body_bytes,
    jws_parts,
)

PREFIX = "/api/card/v1/"


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def key() -> ECKey:
    return signing.generate_device_key()


@pytest.fixture
def state(key) -> DeviceState:
    return DeviceState(
        base_url=BASE_URL,
        kid=signing.device_kid(key),
        private_key_pem=signing.key_to_pem(key),
        totp_secret="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        id_nat="810000000001",
        device_name="Test phone",
    )


@pytest.fixture
def app(server, state) -> CardApp:
    return CardApp.from_state(state, session=server.session())


def verify_signed(request, key: ECKey, *, kid: str | None = None) -> dict:
    """Check the request's JWS like the server does; return its claims."""
    header, claims, token = jws_parts(request)
    assert header["alg"] == "ES256"
    assert header["typ"] == "card-request+jwt"
    if kid is not None:
        assert header["kid"] == kid
        assert "jwk" not in header
    jws.deserialize_compact(token, ECKey.import_key(signing.public_jwk(key)), algorithms=["ES256"])
    assert claims["htm"] == request.method
    assert claims["htu"] == request.url
    assert claims["bsh"] == signing.body_hash(body_bytes(request))
    return claims


def test_push_key_is_read_unsigned(server):
    server.add("GET", PREFIX + "push-key", 200, {"vapid_public_key": "BPub"})
    app = CardApp(BASE_URL + "/", session=server.session())
    assert app.push_key() == "BPub"
    assert "Authorization" not in server.last.headers


def test_start_activation_is_not_signed(server):
    server.add(
        "POST",
        PREFIX + "activation/start",
        202,
        {"activation_id": "act1", "expires_in": 900, "channels": ["email", "sms"]},
    )
    app = CardApp(BASE_URL + "/", session=server.session())
    answer = app.start_activation("810000000001")
    assert answer["activation_id"] == "act1"
    request = server.last
    assert request.url == f"{BASE_URL}{PREFIX}activation/start"
    assert "Authorization" not in request.headers
    assert json.loads(body_bytes(request)) == {"id_nat": "810000000001"}
    assert request.headers["Content-Type"] == "application/json"


def test_self_service_activation_registers_the_new_key(server):
    server.add("POST", PREFIX + "activation/complete", 201, answer_activation)
    app = CardApp(BASE_URL, session=server.session())
    state = app.complete_activation(
        pin="2580",
        device_name="Test phone",
        activation_id="act1",
        email_code="111111",
        sms_code="222222",
    )
    request = server.last
    header, claims, token = jws_parts(request)
    assert set(header) == {"alg", "typ", "jwk"}
    assert "d" not in header["jwk"]
    new_key = ECKey.import_key(header["jwk"])
    jws.deserialize_compact(token, new_key, algorithms=["ES256"])
    assert claims["bsh"] == signing.body_hash(body_bytes(request))
    assert claims["htu"] == f"{BASE_URL}{PREFIX}activation/complete"
    assert json.loads(body_bytes(request)) == {
        "activation_id": "act1",
        "email_code": "111111",
        "sms_code": "222222",
        "device_name": "Test phone",
        "pin": "2580",
    }
    assert state.kid == new_key.thumbprint()
    assert signing.device_kid(signing.key_from_pem(state.private_key_pem)) == state.kid
    assert state.id_nat == "810000000001"
    assert state.display_name == "Dr Jeanne Martin"
    assert state.expires_at == "2029-01-01T00:00:00Z"
    assert (state.totp_digits, state.totp_period, state.totp_algorithm) == (6, 30, "SHA1")
    assert app.state == state


def test_qr_activation_sends_the_code_and_keeps_the_issuer(server):
    server.add("POST", PREFIX + "activation/complete", 201, answer_activation)
    app = CardApp(BASE_URL, session=server.session())
    state = app.complete_activation(
        pin="2580",
        device_name="Phone",
        qr_uri=f"caducee-card://activate?iss={ISSUER}&code=QR-CODE",
        push={"endpoint": "https://push.test/x", "keys": {"p256dh": "a", "auth": "b"}},
    )
    body = json.loads(body_bytes(server.last))
    assert body["activation_code"] == "QR-CODE"
    assert body["push"]["endpoint"] == "https://push.test/x"
    assert "activation_id" not in body
    assert state.issuer == ISSUER


def test_qr_activation_for_another_server_is_refused_before_sending(server):
    app = CardApp(BASE_URL, session=server.session())
    with pytest.raises(CardAppError, match="another server"):
        app.complete_activation(
            pin="2580",
            device_name="Phone",
            qr_uri="caducee-card://activate?iss=https://evil.test/auth/realms/r&code=x",
        )
    assert server.requests == []


def test_activation_needs_one_complete_way(server):
    app = CardApp(BASE_URL, session=server.session())
    with pytest.raises(ValueError, match="activation_code"):
        app.complete_activation(pin="2580", device_name="P", activation_id="a", email_code="1")
    with pytest.raises(CardAppError):
        app.complete_activation(pin="12", device_name="P", activation_code="x")
    assert server.requests == []


def test_activation_answer_naming_another_key_is_refused(server):
    other = signing.device_kid(signing.generate_device_key())
    server.add("POST", PREFIX + "activation/complete", 201, activation_answer(other))
    app = CardApp(BASE_URL, session=server.session())
    with pytest.raises(CardAppError, match="kid mismatch"):
        app.complete_activation(pin="2580", device_name="P", activation_code="x")
    assert app.state is None


def test_device_requests_are_signed_with_the_kid(app, server, key, state):
    server.add("GET", PREFIX + "device", 200, {"kid": state.kid, "name": "Test phone"})
    assert app.device()["kid"] == state.kid
    claims = verify_signed(server.last, key, kid=state.kid)
    assert claims["htm"] == "GET"
    assert claims["bsh"] == signing.body_hash(b"")


def test_rename_and_push(app, server, key, state):
    server.add("PATCH", PREFIX + "device", 200, {"kid": state.kid, "name": "New"})
    assert app.rename("New")["name"] == "New"
    assert json.loads(body_bytes(server.last)) == {"name": "New"}
    verify_signed(server.last, key, kid=state.kid)
    app.set_push(None)
    assert json.loads(body_bytes(server.last)) == {"push": None}


def test_devices_and_revoke(app, server, key, state):
    server.add("GET", PREFIX + "devices", 200, {"devices": [{"kid": state.kid, "current": True}]})
    assert app.devices() == [{"kid": state.kid, "current": True}]
    server.add("DELETE", PREFIX + "devices/sibling", 204)
    assert app.revoke("sibling") is None
    verify_signed(server.last, key, kid=state.kid)
    server.add("DELETE", f"{PREFIX}devices/{state.kid}", 204)
    app.revoke()
    assert server.last.url == f"{BASE_URL}{PREFIX}devices/{state.kid}"


def test_pending_approve_deny(app, server, key, state):
    challenge = {"id": "ch1", "purpose": "login", "choices": ["12", "47", "83"]}
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [challenge]})
    assert app.pending() == [challenge]
    server.add("POST", PREFIX + "challenges/ch1/approve", 200, {"status": "approved"})
    assert app.approve("ch1", "47", "2580") == {"status": "approved"}
    assert json.loads(body_bytes(server.last)) == {"number": "47", "pin": "2580"}
    claims = verify_signed(server.last, key, kid=state.kid)
    assert claims["htu"] == f"{BASE_URL}{PREFIX}challenges/ch1/approve"
    server.add("POST", PREFIX + "challenges/ch1/deny", 200, {"status": "denied"})
    assert app.deny("ch1", "not me") == {"status": "denied"}
    assert json.loads(body_bytes(server.last)) == {"reason": "not me"}
    app.deny("ch1")
    assert json.loads(body_bytes(server.last)) == {}


def test_ids_are_quoted_in_paths(app, server):
    server.add("POST", PREFIX + "challenges/a%2Fb/deny", 200, {"status": "denied"})
    app.deny("a/b")
    assert server.last.url == f"{BASE_URL}{PREFIX}challenges/a%2Fb/deny"


def test_malformed_pin_is_not_sent(app, server):
    with pytest.raises(CardAppError, match="4 to 8"):
        app.approve("ch1", "47", "25")
    assert server.requests == []


def test_scan(app, server):
    uri = f"caducee-card://login?iss={ISSUER}&c=ch2&s=sec"
    server.add("POST", PREFIX + "challenges/scan", 200, {"id": "ch2", "choices": [1, 2, 3]})
    assert app.scan(uri)["id"] == "ch2"
    assert json.loads(body_bytes(server.last)) == {"qr": uri}


def test_scan_of_another_servers_qr_is_refused(app, server):
    with pytest.raises(CardAppError, match="another server"):
        app.scan("caducee-card://login?iss=https://evil.test/auth/realms/r&c=x&s=y")
    assert server.requests == []


def test_sessions(app, server):
    server.add("GET", PREFIX + "sessions", 200, {"sessions": [{"sid": "s1"}]})
    assert app.sessions() == [{"sid": "s1"}]
    server.add("DELETE", PREFIX + "sessions/s1", 204)
    assert app.end_session("s1") is None
    server.add("POST", PREFIX + "sessions/logout-all", 200, {"ended": 3})
    assert app.logout_all() == 3


def test_api_errors_carry_the_servers_code_and_messages(app, server):
    server.add(
        "POST",
        PREFIX + "challenges/ch1/approve",
        403,
        {
            "error": "wrong_pin",
            "message": "Wrong PIN.",
            "message_fr": "Code PIN erroné.",
            "attempts_left": 2,
        },
    )
    with pytest.raises(CardApiError) as caught:
        app.approve("ch1", "47", "2580")
    error = caught.value
    assert (error.status, error.code, error.message) == (403, "wrong_pin", "Wrong PIN.")
    assert error.message_fr == "Code PIN erroné."
    assert error.retry_after is None
    assert error.details["attempts_left"] == 2


def test_an_integer_number_is_sent_as_two_digits(app, server):
    server.add("POST", PREFIX + "challenges/ch1/approve", 200, {"status": "approved"})
    app.approve("ch1", 7, "2580")
    assert json.loads(body_bytes(server.last))["number"] == "07"


def test_rate_limited_with_retry_after(server):
    server.add(
        "POST",
        PREFIX + "activation/start",
        429,
        {"error": "rate_limited", "message": "Slow down."},
        headers={"Retry-After": "30"},
    )
    with pytest.raises(CardApiError) as caught:
        CardApp(BASE_URL, session=server.session()).start_activation("1")
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == 30


def test_retry_after_from_the_body(server):
    server.add(
        "POST",
        PREFIX + "activation/complete",
        429,
        {"error": "too_many_attempts", "message": "Later.", "retry_after": 600},
    )
    with pytest.raises(CardApiError) as caught:
        CardApp(BASE_URL, session=server.session()).complete_activation(
            pin="2580", device_name="P", activation_code="x"
        )
    assert caught.value.retry_after == 600


def test_error_without_json_body(app, server):
    server.add("GET", PREFIX + "device", 502, raw=b"<html>Bad gateway</html>")
    with pytest.raises(CardApiError) as caught:
        app.device()
    assert caught.value.status == 502
    assert caught.value.code == "http_error"


def test_network_failure(app, server):
    server.failure = requests.ConnectionError("refused")
    with pytest.raises(CardTransportError, match="Cannot reach"):
        app.device()


def test_non_json_success_is_a_transport_error(app, server):
    server.add("GET", PREFIX + "device", 200, raw=b"hello")
    with pytest.raises(CardTransportError, match="not JSON"):
        app.device()


def test_signed_calls_need_an_activated_device(server):
    app = CardApp(BASE_URL, session=server.session())
    with pytest.raises(NotActivatedError):
        app.pending()
    with pytest.raises(NotActivatedError):
        app.offline_code("2580")
    assert server.requests == []


def test_offline_code_is_local(app, server, state):
    code = app.offline_code("2580", at=1764130000)
    expected = totp.totp(totp.decode_secret(state.totp_secret), 1764130000)
    assert code == expected
    assert len(code) == 6
    assert server.requests == []
    with pytest.raises(CardAppError):
        app.offline_code("abc")


def test_session_settings(server, state):
    app = CardApp.from_state(state, session=server.session(), verify="/ca.pem", timeout=3)
    assert app.session.verify == "/ca.pem"
    assert app.timeout == 3
    assert app.url("device") == f"{BASE_URL}/api/card/v1/device"
