"""The login seam (idp.oidc.interaction): pending, complete_login, cancel, resume."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from idp.audit.models import AuditEvent
from idp.oidc import interaction, sessions
from idp.oidc.models import AuthorizationCode, SsoSession
from idp.oidc.protocol import errors
from tests.oidc.factories import REDIRECT_URI, make_client, make_professional, rpps
from tests.oidc.flows import (
    AUTHORIZE_PATH,
    authorize_and_get_code,
    authorize_params,
    callback_params,
    login_location,
    state_snapshot,
    test_login,
)

pytestmark = pytest.mark.django_db

VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"


@pytest.fixture(autouse=True)
def _test_login(settings):
    settings.IDP_TEST_LOGIN = True


@pytest.fixture
def rp():
    return make_client()[0]


@pytest.fixture
def pro():
    return make_professional()


def _begin(client, rp, **extra) -> str:
    params = authorize_params(rp, code_verifier=VERIFIER, state="st", extra=extra)
    return login_location(client.get(AUTHORIZE_PATH, params)).removeprefix("/login/")


def _request(client, method: str = "get", data=None):
    """A request carrying the test client's cookies (the browser binding, the SSO cookie)."""
    request = getattr(RequestFactory(), method)("/", data or {})
    request.COOKIES.update({k: v.value for k, v in client.cookies.items()})
    return request


def test_pending_exposes_what_the_login_page_needs(client, rp, pro):
    txn = _begin(client, rp, login_hint=pro.id_nat, ui_locales="en", acr_values="eidas2 eidas1")
    pending = interaction.pending(_request(client), txn)
    assert pending.txn == txn
    assert pending.client_name == "DMP test"
    assert pending.login_hint == pro.id_nat
    assert pending.language == "en"
    assert pending.acr_values == ("eidas2", "eidas1")
    assert pending.minimum_acr == "eidas1"
    assert pending.redirect_uri == REDIRECT_URI
    assert pending.request.state == "st"


def test_complete_login_starts_session_and_answers_the_client_at_once(client, rp, pro):
    txn = _begin(client, rp)
    request = _request(client, "post")
    with CaptureQueriesContext(connection) as queries:
        response = interaction.complete_login(
            request, txn, professional=pro, amr=["hwk", "pin"], acr="eidas2", auth_mode="CARD"
        )
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?")
    assert response["Cache-Control"] == "no-store"
    session = SsoSession.objects.get()
    assert (session.acr, session.amr, session.auth_mode) == ("eidas2", ["hwk", "pin"], "CARD")
    assert response.cookies[sessions.COOKIE_NAME]["httponly"]
    # The code carries what actually happened.
    params = callback_params(response)
    assert params["state"] == "st" and params["iss"] == settings.IDP_ISSUER
    row = AuthorizationCode.objects.get()
    assert params["code"] and row.acr == "eidas2" and row.amr == ["hwk", "pin"]
    assert row.session_id == session.pk
    # One transaction, one journal append for the session and the code.
    tags = list(AuditEvent.objects.order_by("sequence").values_list("tag", flat=True))
    assert tags[-2:] == ["oidc:session:started", "oidc:code:issued"]
    appends = ('INSERT INTO "audit_auditevent"', "caducee_audit_append(")  # SQLite, PostgreSQL
    assert sum(any(a in q["sql"] for a in appends) for q in queries) == 1
    # The transaction is used up: its resume URL answers nothing more.
    client.cookies[sessions.COOKIE_NAME] = response.cookies[sessions.COOKIE_NAME].value
    replay = client.get(reverse("oidc:resume", args=[txn]))
    assert replay.status_code == 400 and AuthorizationCode.objects.count() == 1


def test_resume_answers_a_browser_that_has_a_session_but_no_answer(client, rp, pro):
    """A login whose answer was lost (closed tab, crash) before the transaction was used: the
    resume URL still answers from the session."""
    txn = _begin(client, rp)
    session = sessions.start(
        _request(client, "post"), professional=pro, acr="eidas1", amr=["test"], auth_mode="TEST"
    )
    carrier = HttpResponse()
    sessions.set_cookie(carrier, session)
    client.cookies[sessions.COOKIE_NAME] = carrier.cookies[sessions.COOKIE_NAME].value
    response = client.get(reverse("oidc:resume", args=[txn]))
    assert "code" in callback_params(response)


def test_complete_login_refuses_inactive_professional(client, rp, pro):
    from idp.accounts import services

    txn = _begin(client, rp)
    services.suspend(pro, by="admin:alice", reason="x")
    with pytest.raises(errors.AccessDenied):
        interaction.complete_login(
            _request(client, "post"),
            txn,
            professional=pro,
            amr=["test"],
            acr="eidas1",
            auth_mode="TEST",
        )
    assert SsoSession.objects.count() == 0


def test_another_professional_on_the_same_browser_supersedes_the_session(client, rp, pro):
    authorize_and_get_code(client, rp, pro, code_verifier=VERIFIER)
    first = SsoSession.objects.get()
    other = make_professional("8" + rpps(7))
    login = login_location(
        client.get(
            AUTHORIZE_PATH, authorize_params(rp, code_verifier=VERIFIER, extra={"prompt": "login"})
        )
    )
    client.get(test_login(client, login, id_nat=other.id_nat)["Location"])
    first.refresh_from_db()
    assert first.ended_at is not None and first.end_reason == "superseded"
    assert SsoSession.objects.filter(ended_at__isnull=True).get().professional == other


def test_cancel_returns_access_denied(client, rp):
    txn = _begin(client, rp)
    before = state_snapshot()
    response = client.post(reverse("authn:cancel", args=[txn]))
    assert response["Location"].startswith(REDIRECT_URI + "?")
    params = callback_params(response)
    assert params["error"] == "access_denied" and params["state"] == "st"
    assert params["iss"] == settings.IDP_ISSUER
    assert state_snapshot() == before
    # The transaction is used up.
    assert client.get(f"/login/{txn}").status_code == 400


def test_resume_is_single_use(client, rp, pro):
    txn = _begin(client, rp)
    assert "code" in callback_params(test_login(client, f"/login/{txn}", id_nat=pro.id_nat))
    before = state_snapshot()
    replay = client.get(reverse("oidc:resume", args=[txn]))
    assert replay.status_code == 400 and b"invalid_request" in replay.content
    assert state_snapshot() == before


def test_resume_without_session_goes_back_to_login(client, rp):
    txn = _begin(client, rp)
    response = client.get(reverse("oidc:resume", args=[txn]))
    assert response["Location"] == f"/login/{txn}"
    assert AuthorizationCode.objects.count() == 0


def test_client_deactivated_during_login(client, rp, pro):
    from relying_parties import registry
    from relying_parties.models import Client

    txn = _begin(client, rp)
    Client.objects.filter(pk=rp.pk).update(is_active=False)
    registry.forget()
    response = test_login(client, f"/login/{txn}", id_nat=pro.id_nat)
    assert response.status_code == 400
    assert SsoSession.objects.count() == 0


def test_a_login_that_loses_the_race_for_its_transaction_opens_nothing(client, rp, pro):
    """Two logins completing one transaction at once (push and QR, say): both passed pending();
    the one whose answer finds the transaction used raises, and its session and journal events
    roll back with it."""
    txn = _begin(client, rp)
    request = _request(client, "post")
    checked = interaction.pending(request, txn)
    assert interaction.consume(checked)  # the winner answered meanwhile
    before = state_snapshot()
    with pytest.raises(interaction.InvalidTransaction):
        interaction.complete_login(
            request, txn, professional=pro, amr=["test"], acr="eidas1", auth_mode="TEST",
            checked=checked,
        )  # fmt: skip
    assert state_snapshot() == before
    assert SsoSession.objects.count() == 0
