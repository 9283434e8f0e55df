"""Attack: NUL characters (which PostgreSQL text cannot hold) in the login page's card forms and
URLs: the idNat of a push or offline login, the challenge id of the status and complete URLs.
Each is answered like an unknown idNat or challenge (never a 500), and nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import enrol
from tests.oidc.factories import make_client

pytestmark = pytest.mark.django_db


def test_nul_in_the_id_nat_or_the_challenge_id_is_unknown():
    pro = make_professional("8" + rpps(944))
    enrol(pro)
    rp = make_client()[0]
    browser = BrowserClient()
    login = flow.begin(browser, rp)
    state = flow.card_state()

    push = flow.start_push(browser, login, pro.id_nat + "\x00")
    assert (push.status_code, push.json()["error"]) == (404, "no_device")
    offline = browser.post(f"{login}/offline", {"id_nat": pro.id_nat + "\x00", "code": "123456"})
    assert offline.status_code == 400
    status = browser.get(f"{login}/card/a%00b/status")
    assert (status.status_code, status.json()["error"]) == (404, "challenge_not_found")
    complete = browser.post(f"{login}/card/a%00b/complete", {})
    assert complete.status_code == 404
    assert flow.card_state() == state
