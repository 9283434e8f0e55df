"""Attack: tamper with, replay, outlive or steal the login transaction (/login/<txn>).

The transaction holds the validated authorization request (client, redirect URI, PKCE challenge,
scope). It is signed, salted, expiring and bound to the browser that made the request; any change,
an expired one, or one presented by another browser must be refused with nothing created.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client as BrowserClient
from django.urls import reverse

from idp.oidc import interaction
from tests.oidc.factories import make_client, make_professional
from tests.oidc.flows import (
    AUTHORIZE_PATH,
    authorize_params,
    login_location,
    state_snapshot,
    test_login,
)

pytestmark = pytest.mark.django_db

VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"
SALT = "idp.oidc.interaction.login-transaction"


@pytest.fixture(autouse=True)
def _test_login(settings):
    settings.IDP_TEST_LOGIN = True


@pytest.fixture
def pro():
    return make_professional()


@pytest.fixture
def txn(client) -> str:
    rp = make_client()[0]
    params = authorize_params(rp, code_verifier=VERIFIER, state="st")
    return login_location(client.get(AUTHORIZE_PATH, params)).removeprefix("/login/")


def _assert_refused(browser, txn: str, pro) -> None:
    before = state_snapshot()
    page = browser.get(f"/login/{txn}")
    assert page.status_code == 400 and "Location" not in page
    assert b"invalid_request" in page.content
    response = test_login(browser, f"/login/{txn}", id_nat=pro.id_nat)
    assert response.status_code == 400 and "Location" not in response
    resume = browser.get(reverse("oidc:resume", args=[txn]))
    assert resume.status_code == 400 and "Location" not in resume
    assert browser.post(reverse("authn:cancel", args=[txn])).status_code == 400
    assert state_snapshot() == before


def _resign(payload: dict, *, timestamp: int | None = None, salt: str = SALT) -> str:
    class _At(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(timestamp if timestamp is not None else int(time.time()))

    return _At(salt=salt).sign_object(payload, compress=True)


def test_changed_payload_is_refused(client, txn, pro):
    payload = signing.loads(txn, salt=SALT)
    payload["r"]["redirect_uri"] = "https://evil.example/callback"
    forged_body = signing.TimestampSigner(salt="other").sign_object(payload, compress=True)
    # Keep our signature, swap in the attacker's body.
    tampered = forged_body.rsplit(":", 2)[0] + ":" + ":".join(txn.rsplit(":", 2)[1:])
    _assert_refused(client, tampered, pro)


@pytest.mark.parametrize("cut", [1, 5, 30])
def test_truncated_or_altered_signature(client, txn, pro, cut):
    _assert_refused(client, txn[:-cut], pro)
    _assert_refused(client, txn[:-1] + ("A" if txn[-1] != "A" else "B"), pro)


def test_other_salt_is_refused(client, txn, pro):
    """A value we signed for another purpose cannot pass for a transaction."""
    _assert_refused(client, _resign(signing.loads(txn, salt=SALT), salt="another-purpose"), pro)


def test_expired_transaction(client, txn, pro):
    payload = signing.loads(txn, salt=SALT)
    old = int(time.time()) - settings.IDP_LOGIN_TRANSACTION_SECONDS - 5
    _assert_refused(client, _resign(payload, timestamp=old), pro)
    # Same payload re-signed now is accepted: only the age made the difference.
    assert client.get(f"/login/{_resign(payload)}").status_code == 200


def test_other_browser_cannot_use_the_transaction(client, txn, pro):
    assert client.get(f"/login/{txn}").status_code == 200
    _assert_refused(BrowserClient(), txn, pro)
    attacker = BrowserClient()
    attacker.cookies[interaction.BROWSER_COOKIE] = "a" * 43  # their own binding value
    _assert_refused(attacker, txn, pro)


def test_stolen_resume_url_before_and_after_victim_login(client, txn, pro):
    """The resume URL is built from the transaction in the login page's address: an attacker
    who copied it gets nothing, before the victim logs in or after."""
    resume = reverse("oidc:resume", args=[txn])
    attacker = BrowserClient()
    before = state_snapshot()
    response = attacker.get(resume)
    assert response.status_code == 400 and "Location" not in response
    assert state_snapshot() == before
    # The victim logs in: the client is answered at once.
    assert "code=" in test_login(client, f"/login/{txn}", id_nat=pro.id_nat)["Location"]
    before = state_snapshot()
    for browser in (attacker, client):
        response = browser.get(resume)
        assert response.status_code == 400 and "Location" not in response
    assert state_snapshot() == before


def test_replayed_transaction_after_completion(client, txn, pro):
    assert "code=" in test_login(client, f"/login/{txn}", id_nat=pro.id_nat)["Location"]
    _assert_refused(client, txn, pro)
