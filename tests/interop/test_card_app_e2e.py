"""The card app end to end over real HTTP: the reference app ``caducee-card`` (its entry point in
this process, and the installed console script as a subprocess), a relying party and a scripted
browser, against the live server. Activation three ways, login by push with number matching, by
QR code and by offline code, CIBA poll and ping, sessions ended from the app with back-channel
logout, a denied login, and devices revoking each other. Nothing mocked: real keys, real
signatures, real database rows, the locmem email/SMS outboxes the live server writes to.
"""

from __future__ import annotations

import base64
import io
import json
import re
import stat
import time
import urllib.parse
from pathlib import Path

import pytest
import segno
from django.conf import settings
from django.core.management import call_command

from idp.audit.models import AuditEvent
from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardChallenge, CardDevice
from idp.core import sms
from idp.oidc import backchannel, ciba_delivery
from tests.interop.browser import Browser
from tests.interop.card_helpers import (
    FIREFOX_WINDOWS,
    OTHER_PIN,
    PIN,
    RelyingParty,
    activate_with_code,
    approve,
    card,
    card_script,
    complete_login,
    console_script,
    form_ending,
    only_pending,
    open_login_page,
    push_login,
    status_of,
    svg_paths,
    waiting,
)
from tests.oidc.ciba import NotificationReceiver, make_ciba_client
from tests.oidc.factories import make_client
from tests.oidc.logout_receiver import LogoutReceiver, verify_logout_token

pytestmark = pytest.mark.django_db(transaction=True)

CARD_AMR = ["pop", "pin", "mfa"]


@pytest.fixture
def base_url(live_provider) -> str:
    return settings.IDP_BASE_URL


@pytest.fixture
def sms_outbox(settings):
    settings.IDP_SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def rp(live_provider, registered_rp) -> RelyingParty:
    client, secret = registered_rp
    return RelyingParty(live_provider, client.client_id, secret)


def admin_code(id_nat: str) -> dict:
    """``manage.py card_activation IDNAT --json``: what the operator hands over."""
    out = io.StringIO()
    call_command("card_activation", id_nat, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def phone(tmp_path, base_url, doctor) -> Path:
    """The doctor's phone: a device activated with an administrator's code; its state file."""
    state = tmp_path / "phone.json"
    activate_with_code(base_url, state, admin_code(doctor.id_nat)["code"], name="Phone")
    return state


# --- 1. activation, self service ----------------------------------------------------------------
def test_self_service_activation_with_the_email_and_sms_codes(
    tmp_path, base_url, doctor, mailoutbox, sms_outbox
):
    state = tmp_path / "cfg" / "device.json"
    started = card(
        "--json", "activate", "--base-url", base_url, "--id-nat", doctor.id_nat, "--start-only"
    )
    assert started.code == 0, started
    assert started.json["channels"] == ["email", "sms"]
    assert not state.exists()

    # The live server hands the codes to the providers in the background.
    assert activation.wait_for_messages(10)
    [mail] = mailoutbox
    assert mail.to == [doctor.email]
    [text] = sms_outbox
    assert text.to == doctor.mobile
    email_code = re.search(r"\(courriel\) [^:]*: (\d{6})", mail.body).group(1)
    sms_code = re.search(r"SMS (\d{6})", text.body).group(1)

    done = card(
        "--state", str(state), "--json", "activate", "--base-url", base_url,
        "--activation-id", started.json["activation_id"],
        "--email-code", email_code, "--sms-code", sms_code, "--pin", PIN, "--name", "Mon iPhone",
    )  # fmt: skip
    assert done.code == 0, done
    assert done.json["id_nat"] == doctor.id_nat
    assert done.json["device_name"] == "Mon iPhone"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert PIN not in state.read_text()  # the app never stores the PIN

    device = CardDevice.objects.get(kid=done.json["kid"])
    assert device.professional == doctor
    assert device.activated_by == ActivationMethod.SELF_SERVICE
    shown = card("--state", str(state), "--json", "device")
    assert shown.code == 0 and shown.json["status"] == "active"

    # The codes were single use: a second phone cannot spend them again.
    again = card(
        "--state", str(tmp_path / "other.json"), "--json", "activate", "--base-url", base_url,
        "--activation-id", started.json["activation_id"],
        "--email-code", email_code, "--sms-code", sms_code, "--pin", PIN,
    )  # fmt: skip
    assert again.code == 1
    assert again.json["error"].startswith("activation_")
    assert CardDevice.objects.filter(professional=doctor).count() == 1


# --- 2. activation by an administrator, through the installed console script --------------------
def test_admin_code_activates_through_the_installed_console_script(tmp_path, base_url, doctor):
    assert console_script().exists(), "pip install -e . installs the caducee-card script"
    issued = admin_code(doctor.id_nat)
    assert issued["uri"].startswith("caducee-card://activate?")
    state = tmp_path / "device.json"

    done = card_script(
        "--state", str(state), "--json", "activate", "--base-url", base_url,
        "--code", issued["code"], "--pin", PIN, "--name", "Guichet",
    )  # fmt: skip
    assert done.code == 0, done
    assert done.json["id_nat"] == doctor.id_nat
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert CardDevice.objects.get(kid=done.json["kid"]).activated_by == ActivationMethod.ADMIN

    shown = card_script("--state", str(state), "--json", "device")
    assert shown.code == 0, shown
    assert shown.json["name"] == "Guichet" and shown.json["status"] == "active"
    # The same code again (here as the QR URI the command printed): single use.
    reused = card_script(
        "--state", str(tmp_path / "b.json"), "--json", "activate", "--qr", issued["uri"],
        "--pin", PIN,
    )  # fmt: skip
    assert reused.code == 1
    assert reused.json["error"] == "activation_invalid"


# --- 3. activation from an authenticated session (the account page's QR code) ------------------
def test_session_qr_activates_a_second_device(tmp_path, live_provider, rp, doctor, phone):
    browser = Browser({"User-Agent": FIREFOX_WINDOWS})
    push_login(browser, rp, phone, doctor.id_nat)

    account = browser.request(f"{settings.IDP_BASE_URL}/account/card/")
    assert account.status == 200, account.text[:500]
    shown = browser.submit(account, form_ending(account, "/activate"))
    assert shown.status == 200
    code = re.search(r'<code class="activation-code">([^<]+)</code>', shown.text).group(1)
    uri = "caducee-card://activate?" + urllib.parse.urlencode({"iss": live_provider, "code": code})
    # The page's QR code is that URI (the same modules as segno draws for it).
    page_svg = re.search(r'<figure class="qr">(.*?)</figure>', shown.text, re.S).group(1)
    drawn = segno.make(uri, error="m").svg_inline(scale=5, border=4, light="#fff")
    assert svg_paths(page_svg) == svg_paths(drawn)

    second = tmp_path / "second.json"
    done = card(
        "--state", str(second), "--json", "activate", "--qr", uri, "--pin", OTHER_PIN,
        "--name", "Tablette",
    )  # fmt: skip
    assert done.code == 0, done
    device = CardDevice.objects.get(kid=done.json["kid"])
    assert device.activated_by == ActivationMethod.SESSION_QR
    assert device.professional == doctor
    listed = card("--state", str(second), "--json", "devices")
    assert sorted(d["name"] for d in listed.json) == ["Phone", "Tablette"]


# --- 4. login with push and number matching -----------------------------------------------------
def test_push_login_with_number_matching_gives_eidas2(rp, doctor, phone):
    browser = Browser({"User-Agent": FIREFOX_WINDOWS})
    page = open_login_page(browser, rp)
    wait = waiting(browser.submit(page, form_ending(page, "/card"), id_nat=doctor.id_nat))
    assert wait.qr_svg is None

    listed = card("--state", str(phone), "--json", "pending")
    assert listed.code == 0, listed
    [challenge] = listed.json
    assert challenge["id"] == wait.challenge_id
    assert challenge["purpose"] == "login"
    assert len(challenge["choices"]) == 3 and wait.number in challenge["choices"]
    assert challenge["client_name"] == "DMP test"
    assert challenge["browser"].startswith("Firefox · Windows · ")  # + the masked address
    assert status_of(browser, wait.status_url) == "pending"

    answer = approve(phone, challenge["id"], wait.number)
    assert answer.code == 0, answer
    assert answer.json == {"status": "approved"}

    tokens = rp.exchange(complete_login(browser, rp, wait))
    claims = rp.id_token_claims(tokens["id_token"])
    assert claims["sub"] == doctor.sub
    assert claims["acr"] == "eidas2"
    assert claims["amr"] == CARD_AMR
    userinfo = rp.userinfo(tokens["access_token"])
    assert userinfo["sub"] == doctor.sub
    assert userinfo["SubjectNameID"] == doctor.id_nat
    # Consumed once: the same approval cannot complete the login again.
    assert browser.submit(wait.page, wait.complete).status in (400, 409)


# --- 5. cross-device QR login -------------------------------------------------------------------
def test_qr_login_scanned_by_the_app(live_provider, rp, doctor, phone):
    browser = Browser()
    page = open_login_page(browser, rp)
    wait = waiting(browser.submit(page, form_ending(page, "/card/qr")))
    assert wait.qr_svg is not None
    # What the camera reads: the QR drawn on the page, rebuilt from the page's parts (issuer,
    # challenge, the secret the no-JS "continue" form carries) and compared module for module.
    uri = "caducee-card://login?" + urllib.parse.urlencode(
        {"iss": live_provider, "c": wait.challenge_id, "s": wait.complete.fields["qr_secret"]}
    )
    drawn = segno.make(uri, error="m").svg_inline(scale=5, light="#fff", dark="#000")
    assert svg_paths(wait.qr_svg) == svg_paths(drawn)
    # The JSON variant (scripted clients) gives the same URI for a fresh challenge.
    as_json = browser.submit(
        page, form_ending(page, "/card/qr"), headers={"Accept": "application/json"}
    )
    assert as_json.status == 200
    issuer = urllib.parse.quote(live_provider, safe="")
    assert json.loads(as_json.body)["qr"].startswith(f"caducee-card://login?iss={issuer}&c=")

    answer = card(
        "--state", str(phone), "--json", "approve", "--qr", uri, "--number", wait.number,
        "--pin", PIN,
    )  # fmt: skip
    assert answer.code == 0, answer
    assert answer.json == {"status": "approved"}

    tokens = rp.exchange(complete_login(browser, rp, wait))
    claims = rp.id_token_claims(tokens["id_token"])
    assert (claims["sub"], claims["acr"], claims["amr"]) == (doctor.sub, "eidas2", CARD_AMR)
    assert CardChallenge.objects.get(public_id=wait.challenge_id).professional == doctor


# --- 6. offline code ----------------------------------------------------------------------------
def test_offline_code_gives_eidas1(rp, doctor, phone):
    shown = card("--state", str(phone), "--json", "code", "--pin", PIN)
    assert shown.code == 0, shown
    code = shown.json["code"]
    assert re.fullmatch(r"\d{6}", code)
    assert shown.json["id_nat"] == doctor.id_nat

    browser = Browser()
    page = open_login_page(browser, rp)
    done = browser.submit(page, form_ending(page, "/offline"), id_nat=doctor.id_nat, code=code)
    assert done.status == 302, done.text[:1000]
    landed = browser.follow(done.location, until=rp.redirect_uri)
    tokens = rp.exchange(rp.callback(landed.location)["code"])
    claims = rp.id_token_claims(tokens["id_token"])
    assert (claims["sub"], claims["acr"], claims["amr"]) == (doctor.sub, "eidas1", ["otp"])

    # Each step once: the same code does not open a second login.
    other = Browser()
    again = open_login_page(other, rp)
    replay = other.submit(again, form_ending(again, "/offline"), id_nat=doctor.id_nat, code=code)
    assert replay.status == 400, replay.text[:500]
    assert 'name="code"' in replay.text  # the login page again, with its offline form


# --- 7. CIBA, poll and ping ---------------------------------------------------------------------
def test_ciba_poll_mode_approved_with_the_binding_message(live_provider, doctor, phone):
    client, secret = make_ciba_client("poll")
    rp = RelyingParty(live_provider, client.client_id, secret)
    assert rp.meta["backchannel_authentication_endpoint"] == (
        f"{live_provider}/protocol/openid-connect/ext/ciba/auth"
    )
    status, started = rp.ciba(login_hint=doctor.id_nat, binding_message="42")
    assert status == 200, started
    auth_req_id = started["auth_req_id"]

    status, answer = rp.ciba_poll(auth_req_id)
    assert (status, answer["error"]) == (400, "authorization_pending")

    challenge = only_pending(phone)
    assert challenge["purpose"] == "ciba"
    assert challenge["binding_message"] == "42"
    assert "42" in challenge["choices"]
    assert challenge["client_name"] == "Logiciel de cabinet"
    approved = approve(phone, challenge["id"], "42")
    assert approved.code == 0, approved

    time.sleep(started["interval"])  # polling faster would be slow_down (CIBA Core §11)
    status, tokens = rp.ciba_poll(auth_req_id)
    assert status == 200, tokens
    claims = rp.id_token_claims(tokens["id_token"], nonce="")
    assert (claims["sub"], claims["acr"]) == (doctor.sub, "eidas2")
    assert rp.userinfo(tokens["access_token"])["sub"] == doctor.sub


@pytest.fixture
def private_receivers(settings):
    """Callbacks to 127.0.0.1 (refused in production, where they must be public HTTPS)."""
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    settings.IDP_BACKCHANNEL_TIMEOUT_SECONDS = 2


def test_ciba_ping_mode_notifies_then_the_client_redeems(
    live_provider, doctor, phone, private_receivers
):
    receiver = NotificationReceiver()
    try:
        client, secret = make_ciba_client("ping", ciba_notification_endpoint=receiver.url())
        rp = RelyingParty(live_provider, client.client_id, secret)
        token = "bm90aWZpY2F0aW9uLWUyZS1jYXJk"
        status, started = rp.ciba(
            login_hint=doctor.id_nat, binding_message="42", client_notification_token=token
        )
        assert status == 200, started
        challenge = only_pending(phone)
        assert challenge["binding_message"] == "42"
        assert approve(phone, challenge["id"], "42").code == 0

        assert ciba_delivery.wait_for_background_deliveries(10)
        ciba_delivery.deliver_due()  # the worker's pass (see the logout test): nothing twice
        [(path, headers, body)] = receiver.received
        assert path == "/ciba/notify"
        assert headers["Authorization"] == f"Bearer {token}"
        assert json.loads(body) == {"auth_req_id": started["auth_req_id"]}
    finally:
        receiver.close()

    status, tokens = rp.ciba_poll(started["auth_req_id"])
    assert status == 200, tokens
    assert rp.id_token_claims(tokens["id_token"], nonce="")["acr"] == "eidas2"


# --- 8. sessions ended from the app ---------------------------------------------------------------
def test_logout_all_from_the_app_ends_the_sso_session_and_logs_the_client_out(
    live_provider, doctor, phone, private_receivers
):
    receiver = LogoutReceiver()
    try:
        client, secret = make_client(backchannel_logout_uri=receiver.url())
        rp = RelyingParty(live_provider, client.client_id, secret)
        browser = Browser()
        tokens = push_login(browser, rp, phone, doctor.id_nat)
        sid = rp.id_token_claims(tokens["id_token"])["sid"]

        listed = card("--state", str(phone), "--json", "sessions")
        assert listed.code == 0, listed
        [session] = listed.json
        assert session["sid"] == sid
        assert (session["acr"], session["auth_mode"]) == ("eidas2", "MOBILE")
        assert session["clients"] == [{"client_id": client.client_id, "client_name": "DMP test"}]
        human = card("--state", str(phone), "sessions")
        assert "Services: DMP test" in human.out

        ended = card("--state", str(phone), "--json", "logout-all")
        assert ended.code == 0, ended
        assert ended.json == {"ended": 1}

        assert backchannel.wait_for_background_deliveries(timeout=10)
        # The worker's pass sends what the first, in-process attempt could not (on SQLite in
        # memory its thread may meet a table lock); delivered once all the same.
        backchannel.deliver_due()
        [delivered] = receiver.received
        _header, logout = verify_logout_token(delivered.form["logout_token"][0])
        assert (logout["sid"], logout["sub"], logout["aud"]) == (sid, doctor.sub, client.client_id)
    finally:
        receiver.close()
    assert card("--state", str(phone), "--json", "sessions").json == []

    # The browser's SSO session is gone: a silent authorization needs a login again.
    silent = RelyingParty(live_provider, client.client_id, secret)
    answer = browser.follow(silent.authorize_url(prompt="none"), until=silent.redirect_uri)
    assert silent.callback(answer.location)["error"] == "login_required"


# --- 9. a login denied on the phone ---------------------------------------------------------
def test_deny_on_the_phone_refuses_the_login(rp, doctor, phone):
    browser = Browser()
    page = open_login_page(browser, rp)
    form = form_ending(page, "/card")
    started = browser.submit(
        page, form, id_nat=doctor.id_nat, headers={"Accept": "application/json"}
    )
    assert started.status == 200, started.text
    body = json.loads(started.body)
    status_url = urllib.parse.urljoin(page.url, body["status_url"])

    denied = card("--state", str(phone), "--json", "deny", body["challenge"], "--reason", "not me")
    assert denied.code == 0, denied
    assert denied.json == {"status": "denied"}
    assert status_of(browser, status_url) == "denied"

    complete = browser.request(
        urllib.parse.urljoin(page.url, body["complete_url"]),
        data={"csrfmiddlewaretoken": form.fields["csrfmiddlewaretoken"]},
    )
    assert complete.status == 400
    assert "La connexion a été refusée sur votre téléphone." in complete.text
    device = CardDevice.objects.get()
    event = AuditEvent.objects.get(tag="authn:card:denied")
    assert device.kid in json.dumps([event.actor, event.subject, event.data])
    assert card("--state", str(phone), "--json", "pending").json == []


# --- devices revoking each other -------------------------------------------------------------
def test_devices_lists_both_and_revokes_the_other(tmp_path, base_url, doctor, phone):
    other = tmp_path / "other.json"
    second = activate_with_code(
        base_url, other, admin_code(doctor.id_nat)["code"], pin=OTHER_PIN, name="Old phone"
    )
    mine = json.loads(phone.read_text())["kid"]

    listed = card("--state", str(phone), "--json", "devices")
    assert listed.code == 0, listed
    by_kid = {d["kid"]: d for d in listed.json}
    assert set(by_kid) == {mine, second["kid"]}
    assert by_kid[mine]["current"] is True and not by_kid[second["kid"]]["current"]
    assert {d["status"] for d in listed.json} == {"active"}

    revoked = card("--state", str(phone), "--json", "devices", "--revoke", second["kid"])
    assert revoked.code == 0, revoked
    assert revoked.json == {"revoked": second["kid"], "current": False}
    assert other.exists()  # the other phone's file is the other phone's business

    refused = card("--state", str(other), "--json", "pending")
    assert refused.code == 1
    assert refused.json["error"] == "device_revoked"
    assert "Activate this device again" in refused.err
    after = {d["kid"]: d["status"] for d in card("--state", str(phone), "--json", "devices").json}
    assert after == {mine: "active", second["kid"]: "revoked"}


def test_the_app_reads_the_push_key_before_subscribing(base_url, settings, tmp_path):
    """Over HTTP: the reference app gets the VAPID key a phone subscribes to push with."""
    from cryptography.hazmat.primitives import serialization as ser

    from card_app.client import CardApp
    from tests.authn.card.helpers import use_vapid_key

    settings.IDP_CARD_PUSH_BACKEND = "webpush"
    key = use_vapid_key(settings, tmp_path)
    public = CardApp(base_url).push_key()
    point = key.public_key().public_bytes(ser.Encoding.X962, ser.PublicFormat.UncompressedPoint)
    assert base64.urlsafe_b64decode(public + "=") == point
