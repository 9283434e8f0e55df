"""The device endpoints of the card app API: GET/PATCH device, GET devices, DELETE devices/{kid}."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.authn.card.models import CardDevice
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import FakePhone, enrol

pytestmark = pytest.mark.django_db

PUSH = {
    "endpoint": "https://push.example.net/send/abc",
    "keys": {
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQ",
        "auth": "tBHItJI5svbpez7KI4CCXg",
    },
}


@pytest.fixture
def holder():
    return make_professional("8" + rpps(11), family_name="LEROY", given_names="PAUL")


def test_get_device(client, holder):
    device, phone = enrol(holder, name="Pixel")
    response = phone.call(client, "GET", "device")
    assert response.status_code == 200
    body = response.json()
    assert body["kid"] == device.kid
    assert body["name"] == "Pixel"
    assert body["status"] == "active"
    assert body["push"] is None
    assert set(body) == {
        "kid",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "status",
        "push",
    }
    assert "pin_hash" not in response.content.decode()


def test_rename_is_journaled(client, holder):
    device, phone = enrol(holder, name="Pixel")
    response = phone.call(client, "PATCH", "device", {"name": "  Pixel   du cabinet "})
    assert response.status_code == 200
    assert response.json()["name"] == "Pixel du cabinet"
    device.refresh_from_db()
    assert device.name == "Pixel du cabinet"
    event = AuditEvent.objects.get(tag="authn:card:device_renamed")
    assert event.subject == f"card_device:{device.kid}"
    assert event.actor == f"professional:{holder.sub}"
    assert event.data["name"] == "Pixel du cabinet" and event.data["old_name"] == "Pixel"


def test_push_subscription_is_set_and_cleared(client, holder):
    device, phone = enrol(holder)
    response = phone.call(client, "PATCH", "device", {"push": PUSH})
    assert response.status_code == 200
    assert response.json()["push"] == PUSH
    device.refresh_from_db()
    assert device.push == PUSH
    response = phone.call(client, "PATCH", "device", {"push": None})
    assert response.json()["push"] is None
    device.refresh_from_db()
    assert device.push is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"colour": "red"},
        {"name": ""},
        {"name": "x" * 65},
        {"name": ["a"]},
        {"push": {"endpoint": "http://push.example.net/x", "keys": PUSH["keys"]}},
        {"push": {"endpoint": PUSH["endpoint"]}},
        {"name": "ok", "push": "nope"},
    ],
    ids=["empty", "unknown-field", "empty-name", "long-name", "list-name", "http-push",
         "no-keys", "half-bad"],
)  # fmt: skip
def test_bad_patches_are_refused_and_change_nothing(client, holder, body):
    device, phone = enrol(holder, name="Pixel")
    response = phone.call(client, "PATCH", "device", body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    device.refresh_from_db()
    assert device.name == "Pixel" and device.push is None
    assert not AuditEvent.objects.filter(tag="authn:card:device_renamed").exists()


def test_devices_lists_the_holders_devices(client, holder):
    current, phone = enrol(holder, name="Current")
    sibling, _ = enrol(holder, name="Sibling")
    revoked, _ = enrol(holder, name="Old")
    CardDevice.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    expired, _ = enrol(holder, name="Expired", days=-1)
    enrol(make_professional("8" + rpps(12)), name="Someone else's")
    response = phone.call(client, "GET", "devices")
    assert response.status_code == 200
    listed = {d["kid"]: d for d in response.json()["devices"]}
    assert set(listed) == {current.kid, sibling.kid, revoked.kid, expired.kid}
    assert listed[current.kid]["current"] is True
    assert listed[sibling.kid]["current"] is False
    assert listed[revoked.kid]["status"] == "revoked"
    assert listed[expired.kid]["status"] == "expired"
    assert set(listed[current.kid]) == {
        "kid", "name", "status", "created_at", "expires_at", "last_used_at", "current"
    }  # fmt: skip


def test_revoke_a_sibling(client, holder):
    _current, phone = enrol(holder)
    lost, lost_phone = enrol(holder, name="Lost")
    response = phone.call(client, "DELETE", f"devices/{lost.kid}")
    assert response.status_code == 204
    lost.refresh_from_db()
    assert lost.revoked_at is not None and lost.revoked_reason == "holder_app"
    event = AuditEvent.objects.get(tag="authn:card:device_revoked")
    assert event.actor == f"professional:{holder.sub}"
    assert event.subject == f"card_device:{lost.kid}"
    # The lost phone can no longer sign anything.
    assert lost_phone.call(client, "GET", "device").json()["error"] == "device_revoked"
    # Revoking again is harmless (and journaled once).
    assert phone.call(client, "DELETE", f"devices/{lost.kid}").status_code == 204
    assert AuditEvent.objects.filter(tag="authn:card:device_revoked").count() == 1


def test_revoke_itself(client, holder):
    device, phone = enrol(holder)
    assert phone.call(client, "DELETE", f"devices/{device.kid}").status_code == 204
    device.refresh_from_db()
    assert device.status == "revoked"
    assert phone.call(client, "GET", "device").status_code == 403


def test_another_professionals_device_is_not_found(client, holder):
    _device, phone = enrol(holder)
    theirs, their_phone = enrol(make_professional("8" + rpps(12)))
    response = phone.call(client, "DELETE", f"devices/{theirs.kid}")
    assert response.status_code == 404
    assert response.json()["error"] == "device_not_found"
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert their_phone.call(client, "GET", "device").status_code == 200
    unknown = phone.call(client, "DELETE", "devices/nope")
    assert unknown.status_code == 404 and unknown.json()["error"] == "device_not_found"


def test_device_endpoints_need_a_signature(client, holder):
    enrol(holder)
    for method, path in (("GET", "device"), ("GET", "devices"), ("DELETE", "devices/x")):
        response = client.generic(method, "/api/card/v1/" + path, secure=True)
        assert response.status_code == 401, path
        assert response.json()["error"] == "invalid_signature"


def test_wrong_methods_are_refused(client, holder):
    _device, phone = enrol(holder)
    response = phone.call(client, "POST", "devices", {"a": 1})
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_an_expired_device_cannot_list(client, holder):
    device, phone = enrol(holder)
    CardDevice.objects.filter(pk=device.pk).update(expires_at=timezone.now() - timedelta(days=1))
    response = phone.call(client, "GET", "devices")
    assert response.status_code == 403
    assert response.json()["error"] == "device_expired"


def test_an_unknown_key_cannot_list(client, holder):
    enrol(holder)
    response = FakePhone().call(client, "GET", "devices")
    assert response.status_code == 401
    assert response.json()["error"] == "unknown_device"
