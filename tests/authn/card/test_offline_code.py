"""Offline codes (RFC 6238 TOTP from the card app without network): eidas1, amr ["otp"]."""

from __future__ import annotations

import time

import pytest
from django.test import Client as BrowserClient
from django_otp.oath import TOTP

from idp.audit.models import AuditEvent
from idp.authn.card.models import CardDevice
from idp.oidc import jwt, tokens
from idp.oidc.models import SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def current_code(device: CardDevice, *, offset: int = 0) -> str:
    """The code the app shows now (django-otp's RFC 6238 implementation, the real algorithm)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def rp():
    return make_client()


@pytest.fixture
def pro():
    return make_professional("8" + rpps(71))


@pytest.fixture
def device(pro):
    return enrol(pro)[0]


def test_offline_code_logs_in_at_eidas1_with_otp(client, rp, pro, device):
    model, secret = rp
    browser = BrowserClient()
    login = flow.begin(browser, model)
    done = browser.post(f"{login}/offline", {"id_nat": pro.id_nat, "code": current_code(device)})
    assert done.status_code == 302, done.content[:500]
    assert "caducee_idnat" in done.cookies
    code = flow.code_from(browser, done)
    body = flow.exchange(client, model, secret, code).json()
    id_token = jwt.verify(body["id_token"])
    assert (id_token["acr"], id_token["amr"]) == ("eidas1", ["otp"])
    assert tokens.validate_access_token(body["access_token"]).claims["authMode"] == "MOBILE"
    event = AuditEvent.objects.get(tag="authn:card:offline_login")
    assert event.subject == f"card_device:{device.kid}"


def test_a_code_with_a_space_as_the_app_shows_it(rp, pro, device):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    code = current_code(device)
    response = browser.post(
        f"{login}/offline", {"id_nat": pro.id_nat, "code": f"{code[:3]} {code[3:]}"}
    )
    assert response.status_code == 302


def test_the_code_of_a_second_phone_works_without_throttling_the_first(rp, pro, device):
    second, _phone = enrol(pro, name="Tablet")
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    response = browser.post(
        f"{login}/offline", {"id_nat": pro.id_nat, "code": current_code(second)}
    )
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    second.refresh_from_db()
    assert second.last_t > -1


def test_wrong_code_is_refused_counted_and_journaled(rp, pro, device):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    good = current_code(device)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    before = state_snapshot()
    page = browser.post(f"{login}/offline", {"id_nat": pro.id_nat, "code": wrong})
    assert page.status_code == 400
    assert "Code erroné ou déjà utilisé" in page.content.decode()
    assert '<details class="method method-offline" open>' in page.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert AuditEvent.objects.filter(tag="authn:card:offline_failed").count() == 1
    after = state_snapshot()
    assert after["sessions"] == before["sessions"] == 0


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "+12345", "", "1" * 40])
def test_malformed_codes(rp, pro, device, code):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    response = browser.post(f"{login}/offline", {"id_nat": pro.id_nat, "code": code})
    assert response.status_code == 400
    assert not SsoSession.objects.exists()


def test_unknown_idnat_or_no_device(rp, device):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    unknown = browser.post(f"{login}/offline", {"id_nat": "8" + rpps(999), "code": "123456"})
    assert unknown.status_code == 400
    assert "Aucune application carte active" in unknown.content.decode()
    nobody = make_professional("8" + rpps(72))
    none = browser.post(f"{login}/offline", {"id_nat": nobody.id_nat, "code": "123456"})
    assert none.status_code == 400
    missing = browser.post(f"{login}/offline", {"id_nat": "", "code": "123456"})
    assert missing.status_code == 400
    assert not SsoSession.objects.exists()


def test_failures_are_rate_limited_per_idnat(rp, pro, device, ratelimit_clock):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    for _ in range(5):
        assert (
            browser.post(f"{login}/offline", {"id_nat": pro.id_nat, "code": "000000"}).status_code
            == 400
        )
    # Even the right code is refused unchecked once the idNat is over its limit.
    refused = browser.post(f"{login}/offline", {"id_nat": pro.id_nat, "code": current_code(device)})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Trop de requêtes" in refused.content.decode()
    assert not SsoSession.objects.exists()
    device.refresh_from_db()
    assert device.last_t == -1


def test_failures_are_rate_limited_per_address(rp, ratelimit_clock):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    for n in range(30):
        browser.post(f"{login}/offline", {"id_nat": "8" + rpps(100 + n), "code": "000000"})
    refused = browser.post(f"{login}/offline", {"id_nat": "8" + rpps(200), "code": "000000"})
    assert refused.status_code == 429


def test_english_page(rp, pro, device):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0], ui_locales="en")
    page = browser.post(f"{login}/offline", {"id_nat": pro.id_nat, "code": "000000"})
    assert "Wrong or already used code." in page.content.decode()
