"""Attack: reusing an offline code seen over the holder's shoulder (or in a screenshot) within its
30-second step. One use per time step (RFC 6238 §5.2), enforced by a conditional UPDATE."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.oidc.models import SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import enrol
from tests.authn.card.test_offline_code import current_code
from tests.oidc.factories import make_client
from tests.oidc.flows import state_snapshot

pytestmark = pytest.mark.django_db


def test_a_used_offline_code_is_refused():
    pro = make_professional("8" + rpps(381))
    device, _phone = enrol(pro)
    rp = make_client()[0]
    code = current_code(device)
    holder = BrowserClient()
    assert (
        holder.post(
            f"{flow.begin(holder, rp)}/offline", {"id_nat": pro.id_nat, "code": code}
        ).status_code
        == 302
    )
    attacker = BrowserClient()
    login = flow.begin(attacker, rp)
    snapshot = state_snapshot()
    replay = attacker.post(f"{login}/offline", {"id_nat": pro.id_nat, "code": code})
    assert replay.status_code == 400
    assert "déjà utilisé" in replay.content.decode()
    after = state_snapshot()
    assert after["sessions"] == snapshot["sessions"] == 1
    assert SsoSession.objects.count() == 1
