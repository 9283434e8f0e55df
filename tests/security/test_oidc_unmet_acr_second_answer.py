"""Attack: a second login racing for one login transaction whose essential acr is not met (the
refusal branch of interaction.answer), to open a second session or supersede the first one's.
Both logins passed their transaction check before either used it; the second must find the
transaction used, raise, and leave everything as the first one left it."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from idp.audit.models import AuditEvent
from idp.oidc import interaction
from idp.oidc.models import AuthorizationCode, SsoSession
from tests.oidc.factories import make_client, make_professional, rpps
from tests.oidc.flows import AUTHORIZE_PATH, authorize_params, login_location, state_snapshot

pytestmark = pytest.mark.django_db

VERIFIER = "dBjftJeZ4CVP-mJ92K9CCFvZ0TqGX4bX2Pj4lqu1y6ZfGhAkXj"


def _request(client):
    request = RequestFactory().post("/")
    request.COOKIES.update({k: v.value for k, v in client.cookies.items()})
    return request


@pytest.mark.parametrize("same_professional", [True, False])
def test_the_second_answer_to_a_refused_transaction_fails_and_changes_nothing(
    client, same_professional
):
    rp = make_client()[0]
    first_pro = make_professional("8" + rpps(501))
    second_pro = first_pro if same_professional else make_professional("8" + rpps(502))
    claims = {"id_token": {"acr": {"essential": True, "values": ["eidas3"]}}}
    params = authorize_params(
        rp, code_verifier=VERIFIER, state="st", extra={"claims": json.dumps(claims)}
    )
    txn = login_location(client.get(AUTHORIZE_PATH, params)).removeprefix("/login/")
    # Both requests checked the transaction before either completed (the race).
    first_check = interaction.pending(_request(client), txn)
    second_check = interaction.pending(_request(client), txn)

    first = interaction.complete_login(
        _request(client), txn, professional=first_pro, amr=["pop"], acr="eidas2",
        auth_mode="MOBILE", checked=first_check,
    )  # fmt: skip
    assert "unmet_authentication_requirements" in first["Location"]
    client.cookies.load({k: v.value for k, v in first.cookies.items()})
    snapshot = state_snapshot()
    sessions_before = list(SsoSession.objects.values_list("sid", "professional_id", "ended_at"))
    events_before = AuditEvent.objects.count()

    with pytest.raises(interaction.InvalidTransaction):
        interaction.complete_login(
            _request(client), txn, professional=second_pro, amr=["pop"], acr="eidas2",
            auth_mode="MOBILE", checked=second_check,
        )  # fmt: skip

    assert state_snapshot() == snapshot
    assert list(SsoSession.objects.values_list("sid", "professional_id", "ended_at")) == (
        sessions_before
    )
    assert AuditEvent.objects.count() == events_before
    assert AuthorizationCode.objects.count() == 0
