"""Attack: answering a request for eidas2 (acr_values) with an offline code, which proves the
phone only (eidas1). The page refuses the offline code when the client asks for more than eidas1."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.audit.models import AuditEvent
from idp.authn.card.models import CardDevice
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import enrol
from tests.authn.card.test_offline_code import current_code
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "extra",
    [
        {"acr_values": "eidas2"},
        {"acr_values": "eidas3 eidas2"},
        {"claims": '{"id_token": {"acr": {"essential": true, "values": ["eidas2"]}}}'},
    ],
)
def test_offline_code_cannot_answer_a_request_for_eidas2(extra):
    pro = make_professional("8" + rpps(391))
    device, _phone = enrol(pro)
    browser = BrowserClient()
    login = flow.begin(browser, make_client()[0], **extra)
    page = browser.get(login)
    assert 'name="code"' not in page.content.decode()  # the form is not offered
    snapshot = state_snapshot()
    response = browser.post(
        f"{login}/offline", {"id_nat": pro.id_nat, "code": current_code(device)}
    )
    assert response.status_code == 400
    assert "hors connexion n’atteint pas" in response.content.decode()  # noqa: RUF001
    assert state_snapshot() == snapshot
    assert CardDevice.objects.get().last_t == -1  # the code was not even checked, nor used
    assert not AuditEvent.objects.filter(tag="authn:card:offline_login").exists()
