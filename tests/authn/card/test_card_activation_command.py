"""``manage.py card_activation``: an in-person activation code, usable once by a real phone."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.authn.card import activation
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import FakePhone
from tests.authn.card.test_activation import complete_with_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder():
    return make_professional("8" + rpps(31), family_name="BERNARD", given_names="ANNE")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("card_activation", *args, stdout=out)
    return out.getvalue()


def test_json_output_gives_a_working_code(client, holder):
    answer = json.loads(run(holder.id_nat, "--json"))
    assert set(answer) == {"id_nat", "code", "uri", "expires_at"}
    assert answer["id_nat"] == holder.id_nat
    assert answer["uri"] == activation.qr_uri(answer["code"])
    expires = datetime.fromisoformat(answer["expires_at"])
    expected = timezone.now() + timedelta(seconds=settings.IDP_CARD_ADMIN_CODE_SECONDS)
    assert abs((expires - expected).total_seconds()) < 5
    stored = CardActivation.objects.get()
    assert stored.method == ActivationMethod.ADMIN
    assert stored.code_hash == activation.code_hash(answer["code"])
    event = AuditEvent.objects.get(tag="authn:card:activation_started")
    assert event.actor.startswith(("admin:", "system:command"))
    assert answer["code"] not in json.dumps(event.data)

    phone = FakePhone()
    response = complete_with_code(client, phone, answer["code"])
    assert response.status_code == 201, response.content
    assert CardDevice.objects.get(kid=phone.kid).activated_by == ActivationMethod.ADMIN


def test_text_output_has_a_terminal_qr_code(holder):
    output = run(holder.id_nat)
    code = activation.normalise_code(output.split("Activation code:")[1].split()[0])
    assert CardActivation.objects.get().code_hash == activation.code_hash(code)
    assert "caducee-card://activate?" in output
    assert "Valid until:" in output
    # segno's terminal() draws with ANSI escapes (or block characters in compact mode).
    assert "\x1b[" in output or "█" in output or "▀" in output


def test_unknown_id_nat(holder):
    with pytest.raises(CommandError, match="No professional"):
        run("8" + rpps(999))
    assert not CardActivation.objects.exists()


def test_a_suspended_professional_gets_no_code(holder):
    holder.suspended_at = timezone.now()
    holder.save()
    with pytest.raises(CommandError, match="suspended"):
        run(holder.id_nat, "--json")
    assert not CardActivation.objects.exists()
    assert not AuditEvent.objects.filter(tag="authn:card:activation_started").exists()
