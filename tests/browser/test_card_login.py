"""The login pages in a real browser: the card app's push login with number matching, a refusal
on the phone (French and English), a wrong number, the cross-device QR code and the offline code.

The browser is Debian's chromium driven by Playwright; nothing in it is scripted but what a person
does (type, click). After "send to my phone" the test never presses "continue": the page's own
JavaScript polls the challenge and moves on when the phone has answered. The phone is the
reference app library (``card_app.client.CardApp``) over real HTTP; the relying party exchanges
the code it receives at the token endpoint. Every test ends by checking that the pages logged no
console error, CSP violations included.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

import segno
from playwright.sync_api import expect

from card_app.errors import CardApiError
from idp.authn.card.models import CardChallenge, ChallengeStatus
from tests.interop.card_helpers import PIN, svg_paths

pytestmark = pytest.mark.django_db(transaction=True)

CARD_AMR = ["pop", "pin", "mfa"]


def claims_of(rp, code: str) -> dict:
    """The relying party's back end: the code for tokens, the ID token verified."""
    tokens = rp.exchange(code)
    return rp.id_token_claims(tokens["id_token"])


# --- a. push with number matching, continued by the page's script --------------------------------
def test_push_login_continues_by_itself_once_the_phone_approves(
    open_tab, rp, rp_site, doctor, phone
):
    tab = open_tab()
    page = tab.open_login_page()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    number = tab.send_to_phone(doctor.id_nat)
    expect(page.locator("h1")).to_have_text("Approuvez sur votre téléphone")
    # The script runs: its countdown moves (the server rendered the starting value).
    countdown = page.locator("#card-countdown")
    start = int(countdown.get_attribute("data-seconds"))
    expect(countdown).not_to_have_text(str(start))

    [challenge] = phone.pending()
    assert challenge["id"] == tab.challenge_id()
    assert number in challenge["choices"] and len(challenge["choices"]) == 3
    assert challenge["client_name"] == "DMP test"
    assert challenge["browser"].startswith("Chrome · Linux · ")  # what the phone shows
    assert phone.approve(challenge["id"], number, PIN) == {"status": "approved"}

    params = tab.landed()  # nobody pressed "continue"
    # The poll that saw the approval completed the login: the form was not posted.
    polls = [method for method, path in tab.requests if path.endswith("/status")]
    assert polls and set(polls) == {"POST"}
    assert not [path for _method, path in tab.requests if path.endswith("/complete")]
    parts = urllib.parse.urlsplit(page.url)
    assert f"{parts.path}?{parts.query}" in rp_site.paths  # the service's page was loaded
    claims = claims_of(rp, params["code"])
    assert (claims["sub"], claims["acr"], claims["amr"]) == (doctor.sub, "eidas2", CARD_AMR)
    assert CardChallenge.objects.get(public_id=challenge["id"]).consumed_at is not None
    assert tab.errors == [], "\n".join(tab.errors)


# --- b. "this is not me" on the phone ----------------------------------------------------------
@pytest.mark.parametrize(
    ("locale", "denied", "send"),
    [
        ("fr-FR", "La connexion a été refusée sur votre téléphone.", "Envoyer sur mon téléphone"),
        ("en-US", "The sign-in was refused on your phone.", "Send to my phone"),
    ],
    ids=["fr", "en"],
)
def test_denied_on_the_phone_shows_why_and_offers_to_start_again(
    open_tab, doctor, phone, locale, denied, send
):
    tab = open_tab(locale=locale)
    page = tab.open_login_page()
    tab.send_to_phone(doctor.id_nat)
    first = tab.challenge_id()
    assert phone.deny(first, "not me") == {"status": "denied"}

    expect(tab.error_shown()).to_have_text(denied)
    assert "/login/" in page.url  # still on Caducée, not sent to the service
    again = page.locator("form.method-card button[type=submit]")
    expect(again).to_have_text(send)
    # Starting again works: a new challenge on the phone, a new number on the page.
    number = tab.send_to_phone(doctor.id_nat)
    assert tab.challenge_id() != first
    [challenge] = phone.pending()
    assert challenge["id"] == tab.challenge_id() and number in challenge["choices"]
    assert CardChallenge.objects.get(public_id=first).status == ChallengeStatus.DENIED
    assert tab.errors == [], "\n".join(tab.errors)


# --- c. the wrong number picked on the phone ------------------------------------------------------
def test_wrong_number_on_the_phone_fails_the_login(open_tab, doctor, phone):
    tab = open_tab()
    page = tab.open_login_page()
    number = tab.send_to_phone(doctor.id_nat)
    [challenge] = phone.pending()
    wrong = next(choice for choice in challenge["choices"] if choice != number)
    with pytest.raises(CardApiError) as refused:
        phone.approve(challenge["id"], wrong, PIN)
    assert refused.value.code == "wrong_number"

    expect(tab.error_shown()).to_have_text(
        "Mauvais nombre choisi sur le téléphone : la connexion a été refusée. Recommencez."
    )
    assert "/login/" in page.url
    stored = CardChallenge.objects.get(public_id=challenge["id"])
    assert (stored.status, stored.failure) == (ChallengeStatus.FAILED, "wrong_number")
    assert tab.errors == [], "\n".join(tab.errors)


# --- d. cross-device: the app scans the page's QR code ------------------------------------------
def test_qr_code_scanned_by_the_app_completes_the_login(open_tab, live_provider, rp, doctor, phone):
    tab = open_tab()
    page = tab.open_login_page()
    page.locator("form.method-card-qr button[type=submit]").click()
    number = tab.number()
    qr = page.locator("figure.card-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box and box["width"] >= 100 and box["height"] >= 100  # big enough for a camera

    # What the camera reads. Decoding the picture would need a QR decoder (not a dependency);
    # instead the URI is rebuilt from what the page exposes (the issuer, the challenge it polls,
    # the QR secret its no-JavaScript "continue" form carries) and segno's drawing of that URI is
    # compared, module for module, with the SVG the browser shows: the QR carries exactly it.
    secret = page.locator("#card-complete input[name=qr_secret]").get_attribute("value")
    uri = "caducee-card://login?" + urllib.parse.urlencode(
        {"iss": live_provider, "c": tab.challenge_id(), "s": secret}
    )
    drawn = segno.make(uri, error="m").svg_inline(scale=5, light="#fff", dark="#000")
    assert svg_paths(qr.evaluate("svg => svg.outerHTML")) == svg_paths(drawn)

    challenge = phone.scan(uri)
    assert challenge["purpose"] == "qr" and number in challenge["choices"]
    assert phone.approve(challenge["id"], number, PIN) == {"status": "approved"}

    claims = claims_of(rp, tab.landed()["code"])
    assert (claims["sub"], claims["acr"], claims["amr"]) == (doctor.sub, "eidas2", CARD_AMR)
    assert tab.errors == [], "\n".join(tab.errors)


# --- e. the offline code -----------------------------------------------------------------------
def test_offline_code_from_the_app_lands_on_the_service(open_tab, rp, doctor, phone):
    tab = open_tab()
    page = tab.open_login_page()
    page.locator("details.method-offline summary").click()
    page.fill("#offline_id_nat", doctor.id_nat)
    code = phone.offline_code(PIN)
    assert re.fullmatch(r"\d{6}", code)
    page.fill("#offline_code", code)
    page.locator("details.method-offline button[type=submit]").click()

    claims = claims_of(rp, tab.landed()["code"])
    assert (claims["sub"], claims["acr"], claims["amr"]) == (doctor.sub, "eidas1", ["otp"])
    assert tab.errors == [], "\n".join(tab.errors)


# --- g. the error collector sees CSP violations -------------------------------------------------
def test_an_inline_script_is_refused_by_the_csp_and_reported(open_tab):
    """The ``tab.errors == []`` above mean something: a CSP violation does land there."""
    tab = open_tab()
    page = tab.open_login_page()
    assert tab.errors == [], "\n".join(tab.errors)
    page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "document.body.dataset.ran = 'yes'";
                   document.body.appendChild(s); }"""
    )
    expect(page.locator("body")).not_to_have_attribute("data-ran", "yes")
    assert any("Content Security Policy" in error for error in tab.errors), tab.errors


# --- the site's stylesheet (was a 404: idp/static is found by no staticfiles finder) ------------
def test_the_site_stylesheet_is_served(open_tab):
    tab = open_tab()
    with tab.page.expect_response(lambda r: r.url.endswith("/caducee/site.css")) as loaded:
        tab.open_login_page()
    assert loaded.value.status == 200
    rules = tab.page.evaluate(
        """() => [...document.styleSheets]
                 .filter(sheet => sheet.href && sheet.href.endsWith("/caducee/site.css"))
                 .map(sheet => sheet.cssRules.length)"""
    )
    assert len(rules) == 1 and rules[0] > 0
