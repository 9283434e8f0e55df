"""Attack: guessing the PIN from a stolen, unlocked phone. Three consecutive wrong PINs block the
device (journaled); afterwards even the right PIN does nothing."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.audit.models import AuditEvent
from idp.authn.card.models import CardDevice
from idp.oidc.models import SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client

pytestmark = pytest.mark.django_db


def test_three_wrong_pins_block_the_device(client):
    pro = make_professional("8" + rpps(371))
    device, phone = enrol(pro)
    rp = make_client()[0]
    browser = BrowserClient()
    for guess in ("1357", "2468"):
        body = flow.start_push(browser, flow.begin(browser, rp), pro.id_nat).json()
        assert (
            flow.approve(client, phone, body["challenge"], body["number"], guess).status_code == 403
        )
    body = flow.start_push(browser, flow.begin(browser, rp), pro.id_nat).json()
    third = flow.approve(client, phone, body["challenge"], body["number"], "9731")
    assert (third.status_code, third.json()["error"]) == (403, "device_blocked")
    device.refresh_from_db()
    assert device.blocked_at is not None
    event = AuditEvent.objects.get(tag="authn:card:device_blocked")
    assert event.subject == f"card_device:{device.kid}"
    state = flow.card_state()
    right = flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert (right.status_code, right.json()["error"]) == (403, "device_blocked")
    assert flow.card_state() == state
    assert CardDevice.objects.get().pin_failures == 3
    assert not SsoSession.objects.exists()
