"""Attack: change a professional's ``sub`` (or make it the idNat) to take over another account.

Relying parties key their accounts on ``sub`` (OpenID Connect Core 1.0 §2: never reassigned), so
whoever could rewrite it could make one professional's login open another one's account. Every
route is tried: model save, partial save, queryset update, bulk update, a forged instance, the
admin. Each attempt must fail and leave the row exactly as it was.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django_otp import DEVICE_ID_SESSION_KEY

from idp.accounts.models import ImmutableSubError, Professional
from idp.audit.models import AuditEvent
from tests.accounts.factories import make_doctor_with_two_activities, make_professional, rpps

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim():
    return make_doctor_with_two_activities()


@pytest.fixture
def attacker():
    return make_professional("8" + rpps(666))


def _row(professional):
    return Professional.objects.filter(pk=professional.pk).values().get()


def test_save_with_another_sub_is_refused(victim, attacker):
    before = _row(victim)
    victim.sub = attacker.sub
    with pytest.raises(ImmutableSubError):
        victim.save()
    assert _row(victim) == before


def test_partial_save_of_sub_is_refused(victim):
    before = _row(victim)
    victim.sub = "chosen-by-attacker"
    with pytest.raises(ImmutableSubError):
        victim.save(update_fields=["sub"])
    assert _row(victim) == before


def test_queryset_update_of_sub_is_refused(victim):
    before = _row(victim)
    with pytest.raises(ImmutableSubError):
        Professional.objects.filter(pk=victim.pk).update(sub="chosen-by-attacker")
    assert _row(victim) == before


def test_bulk_update_of_sub_is_refused(victim):
    before = _row(victim)
    victim.sub = "chosen-by-attacker"
    with pytest.raises(ImmutableSubError):
        Professional.objects.bulk_update([victim], ["sub"])
    assert _row(victim) == before


def test_forged_instance_with_the_victims_primary_key_is_refused(victim):
    before = _row(victim)
    forged = Professional(
        pk=victim.pk,
        sub="chosen-by-attacker",
        id_nat=victim.id_nat,
        identifier_type=victim.identifier_type,
        identifier=victim.identifier,
    )
    with pytest.raises(ImmutableSubError):
        forged.save()
    assert _row(victim) == before


def test_sub_can_never_be_the_id_nat(victim):
    before = _row(victim)
    with pytest.raises(IntegrityError), transaction.atomic():
        Professional.objects.create(
            sub="8" + rpps(5), id_nat="8" + rpps(5), identifier_type="8", identifier=rpps(5)
        )
    assert not Professional.objects.filter(id_nat="8" + rpps(5)).exists()
    assert _row(victim) == before


def test_sub_survives_re_keying_from_adeli_to_rpps():
    # rpps-format.md § Identifiers: the idNat changes, the account (and its sub) stays.
    professional = make_professional("0012600631")
    sub = professional.sub
    professional.set_id_nat("810100271385")
    professional.save()
    professional.refresh_from_db()
    assert professional.sub == sub
    assert professional.sub != professional.id_nat


def test_subs_are_distinct_from_id_nats_everywhere(victim, attacker):
    for sub, id_nat, identifier in Professional.objects.values_list("sub", "id_nat", "identifier"):
        assert sub != id_nat
        assert identifier not in sub


def test_admin_cannot_change_the_sub(client, victim):
    from idp.authn.models import StaffTOTPDevice

    user = get_user_model().objects.create_superuser("mallory", "m@example.org", "x" * 24)
    device = StaffTOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    before = _row(victim)
    url = f"/admin/accounts/professional/{victim.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="sub"' not in page.content.decode()
    response = client.post(url, {"sub": "chosen-by-attacker", "id_nat": victim.id_nat})
    assert response.status_code == 403
    assert _row(victim) == before
    assert not AuditEvent.objects.filter(tag__startswith="accounts:").exists()
