"""Cross-device login with a QR code: the page shows a QR, whoever scans it with an enrolled app
and approves (number + PIN) is the one logged in."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client as BrowserClient

from idp.authn.card.models import CardChallenge
from idp.oidc import jwt
from idp.oidc.models import SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def rp():
    return make_client()


@pytest.fixture
def holder():
    return make_professional("8" + rpps(61))


def test_qr_flow_logs_in_the_professional_who_scanned(client, rp, holder):
    model, secret = rp
    _device, phone = enrol(holder)
    browser = BrowserClient()
    login = flow.begin(browser, model)
    started = flow.start_qr(browser, login)
    assert started.status_code == 200, started.content
    body = started.json()
    qr = flow.qr_parts(body["qr"])
    assert body["qr"].startswith("caducee-card://login?")
    assert qr["iss"] == settings.IDP_ISSUER and qr["c"] == body["challenge"]
    assert CardChallenge.objects.get().professional is None
    assert flow.pending_on_phone(client, phone) == []  # nobody's until scanned

    scanned = phone.call(client, "POST", "challenges/scan", {"qr": body["qr"]})
    assert scanned.status_code == 200, scanned.content
    assert scanned.json()["id"] == body["challenge"]
    assert body["number"] in scanned.json()["choices"]
    assert flow.approve(client, phone, body["challenge"], body["number"], PIN).status_code == 200
    assert browser.get(body["status_url"]).json() == {"status": "approved"}

    code = flow.code_from(browser, browser.post(body["complete_url"]))
    id_token = jwt.verify(flow.exchange(client, model, secret, code).json()["id_token"])
    assert id_token["sub"] == holder.sub
    assert id_token["acr"] == "eidas2"
    assert id_token["amr"] == ["pop", "pin", "mfa"]


def test_the_qr_page_shows_an_inline_svg_and_the_number(rp):
    browser = BrowserClient()
    login = flow.begin(browser, rp[0])
    page = browser.post(f"{login}/card/qr")
    assert page.status_code == 200
    html = page.content.decode()
    challenge = CardChallenge.objects.get()
    assert "<svg" in html and 'class="segno"' in html
    assert "style=" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]  # CSP style-src 'self'
    assert f">{challenge.number}</strong>" in html
    assert "Scannez ce QR code" in html
    # Without JavaScript, "continue" before approving shows the same QR again.
    secret = html.split('name="qr_secret" value="', 1)[1].split('"', 1)[0]
    again = browser.post(f"{login}/card/{challenge.public_id}/complete", {"qr_secret": secret})
    assert again.status_code == 200 and "<svg" in again.content.decode()
    forged = browser.post(f"{login}/card/{challenge.public_id}/complete", {"qr_secret": "x" * 32})
    assert forged.status_code == 200 and "<svg" not in forged.content.decode()


def test_a_second_phone_cannot_take_a_scanned_qr(client, rp, holder):
    _device, phone = enrol(holder)
    _other_device, other_phone = enrol(make_professional("8" + rpps(62)))
    browser = BrowserClient()
    body = flow.start_qr(browser, flow.begin(browser, rp[0])).json()
    assert phone.call(client, "POST", "challenges/scan", {"qr": body["qr"]}).status_code == 200
    before = state_snapshot()
    stolen = other_phone.call(client, "POST", "challenges/scan", {"qr": body["qr"]})
    assert (stolen.status_code, stolen.json()["error"]) == (409, "challenge_answered")
    approve = flow.approve(client, other_phone, body["challenge"], body["number"], PIN)
    assert (approve.status_code, approve.json()["error"]) == (404, "challenge_not_found")
    assert CardChallenge.objects.get().professional_id == holder.pk
    assert CardChallenge.objects.get().status == "pending"
    assert state_snapshot() == before


@pytest.mark.parametrize(
    "qr",
    [
        "caducee-card://login?iss=https%3A%2F%2Fevil.example&c=abc&s=def",
        "caducee-card://activate?iss=x&code=1",
        "https://example.org",
        "",
    ],
)
def test_bad_qr_codes_are_refused(client, holder, qr):
    _device, phone = enrol(holder)
    response = phone.call(client, "POST", "challenges/scan", {"qr": qr})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_guessed_qr_secret_finds_nothing(client, rp, holder):
    _device, phone = enrol(holder)
    browser = BrowserClient()
    body = flow.start_qr(browser, flow.begin(browser, rp[0])).json()
    forged = body["qr"].rsplit("s=", 1)[0] + "s=guessed"
    response = phone.call(client, "POST", "challenges/scan", {"qr": forged})
    assert (response.status_code, response.json()["error"]) == (404, "challenge_not_found")
    assert CardChallenge.objects.get().professional is None
    assert not SsoSession.objects.exists()
