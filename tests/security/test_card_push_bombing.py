"""Attack: push-bombing, flooding a professional's phone with sign-in requests until they approve
one by fatigue. At most IDP_CARD_MAX_PENDING wait at once; the refusal is journaled."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from idp.audit.models import AuditEvent
from idp.authn.card import push
from idp.authn.card.models import CardChallenge
from tests.accounts.factories import make_professional, rpps
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import enrol
from tests.oidc.factories import make_client

pytestmark = pytest.mark.django_db


def test_pending_requests_are_capped(settings, django_capture_on_commit_callbacks):
    settings.IDP_CARD_MAX_PENDING = 3
    settings.IDP_CARD_PUSH_BACKEND = "locmem"
    push.outbox.clear()
    victim = make_professional("8" + rpps(301))
    device, _phone = enrol(victim)
    device.push = {"endpoint": "https://push.example.net/v", "keys": {"p256dh": "k", "auth": "a"}}
    device.save(update_fields=["push"])
    attacker = BrowserClient()
    login = flow.begin(attacker, make_client()[0])
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert flow.start_push(attacker, login, victim.id_nat).status_code == 200
    state = flow.card_state()
    with django_capture_on_commit_callbacks(execute=True):
        refused = flow.start_push(attacker, login, victim.id_nat)
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_pending"
    page = attacker.post(f"{login}/card", {"id_nat": victim.id_nat})
    assert page.status_code == 429
    assert "Trop de demandes de connexion" in page.content.decode()
    # Nothing new: no challenge, no push to the victim's phone; the refusal is journaled.
    assert flow.card_state() == state
    assert CardChallenge.objects.count() == 3
    assert len(push.outbox) == 3
    refusals = AuditEvent.objects.filter(tag="authn:card:challenge_refused")
    assert refusals.count() == 2
    assert refusals.first().data["reason"] == "too_many_pending"
