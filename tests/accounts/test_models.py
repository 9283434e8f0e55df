"""The professional model: keys, model validation, status bookkeeping, registry ordering."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from idp.accounts.models import Activity, Exercice, OtherId, Professional
from tests.accounts.factories import make_doctor_with_two_activities, make_professional, rpps

pytestmark = pytest.mark.django_db


def test_sub_is_random_url_safe_and_unrelated_to_id_nat():
    first = make_professional("8" + rpps(1))
    second = make_professional("8" + rpps(2))
    for professional in (first, second):
        assert len(professional.sub) >= 43
        assert all(c.isalnum() or c in "-_" for c in professional.sub)
        assert professional.sub != professional.id_nat
        assert professional.identifier not in professional.sub
    assert first.sub != second.sub


def test_id_nat_is_unique():
    make_professional("8" + rpps(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Professional.objects.create(id_nat="8" + rpps(1), identifier_type="8", identifier=rpps(1))


def test_full_clean_rejects_a_bad_id_nat():
    professional = Professional(
        id_nat="810100271386", identifier_type="8", identifier="10100271386"
    )
    with pytest.raises(ValidationError) as exc_info:
        professional.full_clean()
    assert "id_nat" in exc_info.value.message_dict


def test_full_clean_rejects_an_inconsistent_type_and_identifier():
    professional = Professional(id_nat="810100271385", identifier_type="0", identifier="012600631")
    with translation.override("en"), pytest.raises(ValidationError) as exc_info:
        professional.full_clean()
    # Lazy messages render in the active language, so read them inside an override too.
    with translation.override("en"):
        assert "does not match" in " ".join(exc_info.value.message_dict["id_nat"])


def test_database_refuses_an_id_nat_that_is_not_type_plus_identifier():
    with pytest.raises(IntegrityError), transaction.atomic():
        Professional.objects.create(
            id_nat="810100271385", identifier_type="8", identifier="99999999999"
        )


def test_mobile_must_be_international():
    professional = Professional(mobile="0639980001")
    professional.set_id_nat("810100271385")
    with pytest.raises(ValidationError) as exc_info:
        professional.full_clean()
    assert "mobile" in exc_info.value.message_dict


def test_registry_values_stay_strings_with_leading_zeros():
    doctor = make_doctor_with_two_activities()
    activity = Activity.objects.filter(exercice__professional=doctor).first()
    activity.code_commune = "2A004"
    activity.code_postal = "01000"
    activity.numero_voie = "P"
    activity.save()
    activity.refresh_from_db()
    assert (activity.code_commune, activity.code_postal, activity.numero_voie) == (
        "2A004",
        "01000",
        "P",
    )


def test_main_activity_follows_registry_order():
    doctor = make_doctor_with_two_activities()
    assert doctor.main_activity().raison_sociale_site == "CABINET DU DR MARTIN"
    Activity.objects.filter(raison_sociale_site="HOPITAL GENERIQUE").update(position=0)
    Activity.objects.filter(raison_sociale_site="CABINET DU DR MARTIN").update(position=5)
    assert Professional.objects.get(pk=doctor.pk).main_activity().raison_sociale_site == (
        "HOPITAL GENERIQUE"
    )


def test_one_exercice_per_profession_and_category():
    doctor = make_doctor_with_two_activities()
    with pytest.raises(IntegrityError), transaction.atomic():
        Exercice.objects.create(
            professional=doctor, code_profession="10", code_categorie_professionnelle="C"
        )


def test_other_ids_are_unique_per_professional():
    doctor = make_doctor_with_two_activities()
    with pytest.raises(IntegrityError), transaction.atomic():
        OtherId.objects.create(professional=doctor, identifiant=doctor.id_nat, origine="RPPS")


class TestStatus:
    def test_new_professional_is_active(self):
        professional = make_professional()
        assert professional.status == Professional.Status.ACTIVE
        assert professional.is_active

    def test_status_is_derived_from_the_facets(self):
        professional = make_professional()
        professional.deactivated_at = timezone.now()
        professional.deactivation_reason = "absent from the extract"
        professional.save()
        assert professional.status == Professional.Status.DEACTIVATED
        professional.suspended_at = timezone.now()
        professional.suspended_by = "admin:alice"
        professional.suspension_reason = "stolen card"
        professional.save(update_fields=["suspended_at", "suspended_by", "suspension_reason"])
        professional.refresh_from_db()
        # Suspension wins: the administrator's decision outlives registry changes.
        assert professional.status == Professional.Status.SUSPENDED
        assert not professional.is_active

    def test_database_refuses_an_inconsistent_status(self):
        professional = make_professional()
        with pytest.raises(IntegrityError), transaction.atomic():
            Professional.objects.filter(pk=professional.pk).update(status="suspended")

    def test_clean_requires_reason_and_author_of_a_suspension(self):
        professional = make_professional()
        professional.suspended_at = timezone.now()
        with pytest.raises(ValidationError) as exc_info:
            professional.full_clean()
        assert {"suspension_reason", "suspended_by"} <= set(exc_info.value.message_dict)

    def test_clean_requires_reason_of_a_deactivation(self):
        professional = make_professional()
        professional.deactivated_at = timezone.now()
        with pytest.raises(ValidationError) as exc_info:
            professional.full_clean()
        assert "deactivation_reason" in exc_info.value.message_dict


def test_str_does_not_query(django_assert_num_queries):
    doctor = make_doctor_with_two_activities()
    with django_assert_num_queries(0):
        assert str(doctor) == f"{doctor.id_nat} JEAN MARTIN"


def test_display_name_prefers_the_exercise_name():
    doctor = make_doctor_with_two_activities()
    Exercice.objects.filter(professional=doctor).update(prenom_exercice="JEAN-P.")
    assert Professional.objects.get(pk=doctor.pk).display_name == "JEAN-P. MARTIN"
