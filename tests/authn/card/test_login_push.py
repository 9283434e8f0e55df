"""Logging in with the card app from the login page: push, number matching, PIN (through HTTP).

The browser is Django's test client, the phone a FakePhone signing real ES256 requests; the
tokens at the end are verified with the provider's keys.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client as BrowserClient
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.authn.card import push
from idp.authn.card.models import CardChallenge, CardDevice
from idp.oidc import jwt, tokens
from idp.oidc.models import SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db

USERINFO = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/userinfo"
SUBSCRIPTION = {"endpoint": "https://push.example.net/abc", "keys": {"p256dh": "k", "auth": "a"}}


@pytest.fixture
def rp():
    return make_client()


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


@pytest.fixture
def phone(doctor):
    device, phone = enrol(doctor)
    device.push = SUBSCRIPTION
    device.save(update_fields=["push"])
    return phone


@pytest.fixture
def browser():
    return BrowserClient(HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)


def _tags(tag: str) -> int:
    return AuditEvent.objects.filter(tag=tag).count()


def test_full_flow_tokens_say_eidas2_pop_pin_mfa_mobile(
    client, browser, rp, doctor, phone, settings, django_capture_on_commit_callbacks
):
    model, secret = rp
    settings.IDP_CARD_PUSH_BACKEND = "locmem"
    push.outbox.clear()
    login = flow.begin(browser, model)
    page = browser.get(login)
    assert page.status_code == 200
    assert f'action="{login}/card"'.encode() in page.content

    with django_capture_on_commit_callbacks(execute=True):
        started = flow.start_push(browser, login, doctor.id_nat)
    assert started.status_code == 200, started.content
    body = started.json()
    assert set(body) == {"challenge", "number", "status_url", "complete_url", "expires_in"}
    assert "no-store" in started["Cache-Control"]
    assert 0 < body["expires_in"] <= settings.IDP_CARD_CHALLENGE_SECONDS
    # The phone is told something waits, for which service; never the number.
    assert len(push.outbox) == 1
    assert push.outbox[0]["subscription"] == SUBSCRIPTION
    sent = json.loads(push.outbox[0]["data"])
    assert sent == {"type": "challenge", "id": body["challenge"], "client_name": "DMP test"}

    assert browser.get(body["status_url"]).json() == {"status": "pending"}
    [shown] = flow.pending_on_phone(client, phone)
    assert shown["id"] == body["challenge"]
    assert body["number"] in shown["choices"] and len(shown["choices"]) == 3
    assert shown["client_name"] == "DMP test"
    assert shown["browser"] == "Firefox · Windows · 127.0.0.x"
    assert "number" not in shown

    approved = flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert approved.status_code == 200, approved.content
    assert approved.json() == {"status": "approved"}
    assert browser.get(body["status_url"]).json() == {"status": "approved"}

    done = browser.post(body["complete_url"])
    assert done.status_code == 302
    assert done.cookies["caducee_idnat"]["httponly"]
    assert bool(done.cookies["caducee_idnat"]["secure"]) == settings.SESSION_COOKIE_SECURE
    assert done.cookies["caducee_idnat"]["samesite"] == "Lax"
    assert done.cookies["caducee_idnat"]["max-age"] == 365 * 24 * 3600
    assert _tags("authn:card:login") == 1
    assert _tags("authn:card:challenge_created") == 1
    code = flow.code_from(browser, done)

    response = flow.exchange(client, model, secret, code)
    assert response.status_code == 200, response.content
    tokens_ = response.json()
    id_token = jwt.verify(tokens_["id_token"])
    assert id_token["sub"] == doctor.sub
    assert id_token["acr"] == "eidas2"
    assert id_token["amr"] == ["pop", "pin", "mfa"]
    assert id_token["nonce"] == "card-nonce"
    access = tokens.validate_access_token(tokens_["access_token"])
    assert access.claims["authMode"] == "MOBILE"
    assert access.claims["acr"] == "eidas2"
    session = SsoSession.objects.get()
    assert (session.acr, session.amr, session.auth_mode) == (
        "eidas2",
        ["pop", "pin", "mfa"],
        "MOBILE",
    )
    userinfo = client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {tokens_['access_token']}")
    assert userinfo.status_code == 200
    assert userinfo.json()["SubjectNameID"] == doctor.id_nat
    challenge = CardChallenge.objects.get()
    assert challenge.consumed_at is not None


def test_card_login_answers_a_request_for_eidas1(client, browser, rp, doctor, phone):
    """PSC semantics: a higher level satisfies a lower acr_values request."""
    model, secret = rp
    login = flow.begin(browser, model, acr_values="eidas1")
    body = flow.start_push(browser, login, doctor.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    code = flow.code_from(browser, browser.post(body["complete_url"]))
    id_token = jwt.verify(flow.exchange(client, model, secret, code).json()["id_token"])
    assert id_token["acr"] == "eidas2"


def test_without_javascript_the_waiting_page_has_a_continue_button(browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    page = browser.post(f"{login}/card", {"id_nat": doctor.id_nat})
    assert page.status_code == 200
    challenge = CardChallenge.objects.get()
    html = page.content.decode()
    assert f">{challenge.number}</strong>" in html
    assert f'action="{login}/card/{challenge.public_id}/complete"' in html
    assert f'data-status-url="{login}/card/{challenge.public_id}/status"' in html
    assert "J’ai approuvé, continuer" in html  # noqa: RUF001
    assert 'name="csrfmiddlewaretoken"' in html
    assert "/static/authn/card-login.js" in html
    assert "<script>" not in html  # no inline script: the CSP forbids them
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    assert "no-store" in page["Cache-Control"]


def test_pressing_continue_before_approving_shows_the_waiting_page_again(
    client, browser, rp, doctor, phone
):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    before = state_snapshot()
    early = browser.post(body["complete_url"])
    assert early.status_code == 200
    assert "pas encore approuvée" in early.content.decode()
    assert state_snapshot() == before
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert browser.post(body["complete_url"]).status_code == 302


def test_the_page_speaks_english_when_asked(browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0], ui_locales="en")
    page = browser.get(login)
    assert "Send to my phone" in page.content.decode()
    assert "Use a QR code instead" in page.content.decode()
    unknown = browser.post(f"{login}/card", {"id_nat": "8" + rpps(777)})
    assert unknown.status_code == 400
    assert "No active card app is enrolled for this identifier." in unknown.content.decode()


def test_the_idnat_is_prefilled_from_login_hint_then_from_the_remembered_cookie(
    client, browser, rp, doctor, phone
):
    login = flow.begin(browser, rp[0], login_hint=doctor.id_nat)
    assert f'value="{doctor.id_nat}"' in browser.get(login).content.decode()
    fresh = flow.begin(browser, rp[0])
    assert f'value="{doctor.id_nat}"' not in browser.get(fresh).content.decode()
    body = flow.start_push(browser, fresh, doctor.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    flow.code_from(browser, browser.post(body["complete_url"]))
    # The cookie is sent with the authorization request (the test client ignores cookie paths,
    # a browser does not), which shows the page already filled in.
    assert browser.cookies["caducee_idnat"]["path"] == "/"
    later = browser.get(flow.AUTHORIZE_PATH, flow.authorization(rp[0], prompt="login"))
    assert f'value="{doctor.id_nat}"' in later.content.decode()


def test_a_forged_remembered_cookie_is_ignored(browser, rp, doctor):
    browser.cookies["caducee_idnat"] = doctor.id_nat  # unsigned
    login = flow.begin(browser, rp[0])
    assert f'value="{doctor.id_nat}"' not in browser.get(login).content.decode()


def test_unknown_idnat_page_and_json(browser, rp, doctor):
    login = flow.begin(browser, rp[0])
    before = state_snapshot()
    page = browser.post(f"{login}/card", {"id_nat": "8" + rpps(555)})
    assert page.status_code == 400
    assert "Aucune application carte active" in page.content.decode()
    scripted = flow.start_push(browser, login, "8" + rpps(555))
    assert scripted.status_code == 404
    assert scripted.json()["error"] == "no_device"
    assert scripted.json()["message_fr"]
    missing = browser.post(f"{login}/card", {"id_nat": ""})
    assert missing.status_code == 400
    assert "Saisissez un identifiant national." in missing.content.decode()
    assert not CardChallenge.objects.exists()
    assert state_snapshot() == before


@pytest.mark.parametrize("state", ["revoked", "blocked", "expired", "none"])
def test_no_usable_device_says_so(browser, rp, state):
    pro = make_professional("8" + rpps(31))
    if state != "none":
        device, _phone = enrol(pro, days=-1 if state == "expired" else None)
        if state == "revoked":
            CardDevice.objects.filter(pk=device.pk).update(revoked_at=timezone.now())
        if state == "blocked":
            CardDevice.objects.filter(pk=device.pk).update(blocked_at=timezone.now())
    login = flow.begin(browser, rp[0])
    response = flow.start_push(browser, login, pro.id_nat)
    assert response.status_code == 404
    assert response.json()["error"] == "no_device"
    assert not CardChallenge.objects.exists()


def test_wrong_number_fails_the_challenge_and_the_page_says_so(client, browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    [shown] = flow.pending_on_phone(client, phone)
    answer = flow.approve(
        client, phone, body["challenge"], flow.wrong_choice(shown, body["number"]), PIN
    )
    assert answer.status_code == 403
    assert answer.json()["error"] == "wrong_number"
    assert browser.get(body["status_url"]).json() == {"status": "failed"}
    assert _tags("authn:card:failed") == 1
    # The right number afterwards is too late: the challenge is answered.
    again = flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert (again.status_code, again.json()["error"]) == (409, "challenge_answered")
    page = browser.post(body["complete_url"])
    assert page.status_code == 400
    assert "Mauvais nombre" in page.content.decode()
    assert not SsoSession.objects.exists()


def test_wrong_pin_counts_down_then_blocks_the_device(client, browser, rp, doctor, phone):
    device = CardDevice.objects.get()
    for attempts_left in (2, 1):
        login = flow.begin(browser, rp[0])
        body = flow.start_push(browser, login, doctor.id_nat).json()
        answer = flow.approve(client, phone, body["challenge"], body["number"], "9137")
        assert answer.status_code == 403
        assert answer.json()["error"] == "wrong_pin"
        assert answer.json()["attempts_left"] == attempts_left
        page = browser.post(body["complete_url"])
        assert page.status_code == 400 and "Code PIN erroné" in page.content.decode()
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    third = flow.approve(client, phone, body["challenge"], body["number"], "9137")
    assert (third.status_code, third.json()["error"]) == (403, "device_blocked")
    device.refresh_from_db()
    assert device.blocked_at is not None and device.pin_failures == 3
    assert _tags("authn:card:device_blocked") == 1
    # Blocked: no more challenges for it, and its signed requests are refused.
    assert flow.start_push(browser, login, doctor.id_nat).json()["error"] == "no_device"
    assert phone.call(client, "GET", "challenges").json()["error"] == "device_blocked"
    assert not SsoSession.objects.exists()


def test_a_right_pin_resets_the_counter(client, browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], "9137")
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    assert flow.approve(client, phone, body["challenge"], body["number"], PIN).status_code == 200
    assert CardDevice.objects.get().pin_failures == 0


def test_denied_on_the_phone(client, browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    answer = phone.call(
        client, "POST", f"challenges/{body['challenge']}/deny", {"reason": "not me"}
    )
    assert answer.status_code == 200 and answer.json() == {"status": "denied"}
    event = AuditEvent.objects.get(tag="authn:card:denied")
    assert event.data["possible_fraud"] is True
    assert event.data["reason"] == "not me"
    assert event.data["browser"] == "Firefox · Windows · 127.0.0.x"
    assert browser.get(body["status_url"]).json() == {"status": "denied"}
    page = browser.post(body["complete_url"])
    assert page.status_code == 400
    assert "refusée sur votre téléphone" in page.content.decode()
    assert not SsoSession.objects.exists()


def test_an_expired_challenge_cannot_be_approved_nor_completed(client, browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    CardChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert (answer.status_code, answer.json()["error"]) == (410, "challenge_expired")
    assert browser.get(body["status_url"]).json() == {"status": "expired"}
    page = browser.post(body["complete_url"])
    assert page.status_code == 400
    assert "La demande a expiré" in page.content.decode()
    assert not SsoSession.objects.exists()
    assert CardDevice.objects.get().pin_failures == 0


def test_an_old_approval_is_not_honoured(client, browser, rp, doctor, phone, settings):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    CardChallenge.objects.update(
        answered_at=timezone.now() - timedelta(seconds=settings.IDP_CARD_CHALLENGE_SECONDS + 1)
    )
    assert browser.post(body["complete_url"]).status_code == 400
    assert CardChallenge.objects.get().consumed_at is None
    assert not SsoSession.objects.exists()


def test_a_device_revoked_after_approving_does_not_log_in(client, browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    CardDevice.objects.update(revoked_at=timezone.now())
    page = browser.post(body["complete_url"])
    assert page.status_code == 400
    assert "révoqué" in page.content.decode()
    assert not SsoSession.objects.exists()


def test_status_is_json_no_store_and_404_for_unknown(browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    status = browser.get(body["status_url"])
    assert "no-store" in status["Cache-Control"]
    assert status["Content-Type"] == "application/json"
    unknown = browser.get(f"{login}/card/nope/status")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "challenge_not_found"
    assert browser.put(body["status_url"]).status_code == 405


def test_complete_needs_a_csrf_token(client, rp, doctor, phone):
    browser = BrowserClient(enforce_csrf_checks=True)
    login = flow.begin(browser, rp[0])
    page = browser.get(login)
    token = page.context["csrf_token"]
    body = flow.start_push(browser, login, doctor.id_nat, HTTP_X_CSRFTOKEN=str(token)).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    forged = browser.post(body["complete_url"])
    assert forged.status_code == 403
    assert CardChallenge.objects.get().consumed_at is None
    assert not SsoSession.objects.exists()
    good = browser.post(body["complete_url"], {"csrfmiddlewaretoken": str(token)})
    assert good.status_code == 302


def test_a_broken_transaction_gives_the_error_page_or_json(browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    page = browser.post(f"{login}x/card", {"id_nat": doctor.id_nat})
    assert page.status_code == 400
    scripted = flow.start_push(browser, f"{login}x", doctor.id_nat)
    assert scripted.status_code == 400
    assert scripted.json()["error"] == "invalid_request"
    assert not CardChallenge.objects.exists()


def test_rate_limited_per_idnat(browser, rp, doctor, phone, settings, ratelimit_clock):
    settings.IDP_CARD_MAX_PENDING = 100
    login = flow.begin(browser, rp[0])
    for _ in range(10):
        assert flow.start_push(browser, login, doctor.id_nat).status_code == 200
    refused = flow.start_push(browser, login, doctor.id_nat)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    page = browser.post(f"{login}/card", {"id_nat": doctor.id_nat})
    assert page.status_code == 429
    assert "Trop de requêtes" in page.content.decode()
    assert CardChallenge.objects.count() == 10


def test_starting_a_push_limits_in_one_redis_round_trip(browser, rp, doctor, phone):
    """Both anti push-bombing limits (per idNat, per address) are one script: one round trip."""
    from tests.redis_round_trips import redis_round_trips

    login = flow.begin(browser, rp[0])
    assert flow.start_push(browser, login, doctor.id_nat).status_code == 200  # loads the script
    with redis_round_trips() as trips:
        assert flow.start_push(browser, login, doctor.id_nat).status_code == 200
    limit_trips = [trip for trip in trips.sent if any(":rl:" in k for c in trip for k in c)]
    assert [[command[0] for command in trip] for trip in limit_trips] == [["EVALSHA"]]


def test_status_poll_skips_the_used_marker_round_trip(client, browser, rp, doctor, phone):
    """The waiting page polls every second: the poll reads no Redis (the transaction's used
    marker is checked by what completes a login, atomically)."""
    from tests.redis_round_trips import redis_round_trips

    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    with redis_round_trips() as trips:
        assert browser.get(body["status_url"]).json() == {"status": "pending"}
    assert trips.sent == []


def test_a_used_login_can_be_polled_but_completes_nothing(client, browser, rp, doctor, phone):
    login = flow.begin(browser, rp[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert browser.post(body["complete_url"]).status_code == 302
    before = state_snapshot()

    assert browser.get(body["status_url"]).json() == {"status": "approved"}
    again = browser.post(body["complete_url"])
    assert again.status_code == 400  # the used transaction (interaction.pending)
    assert state_snapshot() == before
