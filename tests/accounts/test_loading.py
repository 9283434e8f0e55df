"""idp.accounts.loading: the professional with their exercices, activities and other ids in one
statement, the same as ``Professional.objects.with_userinfo()`` gives in four."""

from __future__ import annotations

import pytest

from idp.accounts.loading import professional_with_userinfo
from idp.accounts.models import Activity, Exercice, OtherId, Professional
from idp.accounts.userinfo import render_userinfo
from idp.oidc import tokens
from tests.accounts.factories import make_doctor_with_two_activities, make_professional, rpps

pytestmark = pytest.mark.django_db


def _prefetched(pk: int) -> Professional:
    return Professional.objects.with_userinfo().get(pk=pk)


def _add_exercices(doctor: Professional) -> None:
    """Exercices and activities created out of registry order, one exercice with no activity."""
    later = Exercice.objects.create(
        professional=doctor, position=2, code_profession="21", nom_exercice="LATER"
    )
    Activity.objects.create(exercice=later, position=1, raison_sociale_site="SECOND OF LATER")
    Activity.objects.create(exercice=later, position=0, raison_sociale_site="FIRST OF LATER")
    Exercice.objects.create(professional=doctor, position=1, code_profession="60")
    OtherId.objects.create(professional=doctor, identifiant="3" + "0" * 9, origine="FINESS")


def test_the_same_document_and_claims_as_the_orm_prefetch():
    doctor = make_doctor_with_two_activities()
    _add_exercices(doctor)

    loaded = professional_with_userinfo(pk=doctor.pk)

    reference = _prefetched(doctor.pk)
    assert render_userinfo(loaded, auth_mode="MOBILE", acr="eidas2") == render_userinfo(
        reference, auth_mode="MOBILE", acr="eidas2"
    )
    assert tokens.professional_claims(loaded) == tokens.professional_claims(reference)
    fields = [f.attname for f in Professional._meta.concrete_fields]
    assert [getattr(loaded, name) for name in fields] == [
        getattr(reference, name) for name in fields
    ]


def test_registry_order_of_exercices_activities_and_other_ids():
    doctor = make_doctor_with_two_activities()
    _add_exercices(doctor)

    loaded = professional_with_userinfo(sub=doctor.sub)

    exercices = list(loaded.exercices.all())
    assert [e.position for e in exercices] == [0, 1, 2]
    assert [a.position for a in exercices[0].activities.all()] == [0, 1]
    assert list(exercices[1].activities.all()) == []
    assert [a.raison_sociale_site for a in exercices[2].activities.all()] == [
        "FIRST OF LATER",
        "SECOND OF LATER",
    ]
    assert [o.origine for o in loaded.other_ids.all()] == ["RPPS", "ADELI", "FINESS"]


def test_one_statement_then_none(django_assert_num_queries):
    doctor = make_doctor_with_two_activities()
    _add_exercices(doctor)

    with django_assert_num_queries(1):
        loaded = professional_with_userinfo(pk=doctor.pk)
    with django_assert_num_queries(0):
        render_userinfo(loaded, auth_mode="CARD")
        tokens.professional_claims(loaded)
        assert loaded.main_activity().exercice is loaded.main_exercice()
        assert loaded.main_exercice().professional is loaded


def test_a_professional_without_exercices_or_other_ids():
    bare = make_professional("8" + rpps(7), family_name="SEUL", given_names="ANNE")

    loaded = professional_with_userinfo(sub=bare.sub)

    assert list(loaded.exercices.all()) == []
    assert list(loaded.other_ids.all()) == []
    assert render_userinfo(loaded, auth_mode="CARD") == render_userinfo(
        _prefetched(bare.pk), auth_mode="CARD"
    )


def test_unknown_professional_is_none(django_assert_num_queries):
    with django_assert_num_queries(1):
        assert professional_with_userinfo(pk=987_654) is None
    assert professional_with_userinfo(sub="no-such-sub") is None


def test_other_managers_still_query_their_owner_only():
    """Only ``all()`` answers from memory: a filter queries, scoped to this professional."""
    doctor = make_doctor_with_two_activities()
    other = make_doctor_with_two_activities("8" + rpps(43))

    loaded = professional_with_userinfo(pk=doctor.pk)

    assert loaded.exercices.filter(code_profession="10").count() == 1
    assert set(loaded.other_ids.values_list("professional_id", flat=True)) == {doctor.pk}
    assert Exercice.objects.filter(code_profession="10").count() == 2
    assert other.pk != doctor.pk


def test_pk_or_sub_exactly_one():
    with pytest.raises(TypeError):
        professional_with_userinfo()
    with pytest.raises(TypeError):
        professional_with_userinfo(pk=1, sub="x")


def test_other_ids_without_exercices_and_by_sub_as_by_pk():
    """The other ids come in the same statement as the professional (its second part): with no
    exercice to join, and whether the professional is named by pk or by sub."""
    from idp.accounts.models import OtherId

    alone = make_professional("8" + rpps(8), family_name="SEUL", given_names="PAUL")
    OtherId.objects.create(professional=alone, identifiant="0B1234567", origine="ADELI", qualite=1)
    OtherId.objects.create(professional=alone, identifiant="8" + rpps(8), origine="RPPS", qualite=1)
    make_doctor_with_two_activities("8" + rpps(44))  # someone else's ids stay theirs

    by_pk = professional_with_userinfo(pk=alone.pk)
    by_sub = professional_with_userinfo(sub=alone.sub)

    expected = list(_prefetched(alone.pk).other_ids.all())
    assert len(expected) == 2
    for loaded in (by_pk, by_sub):
        assert list(loaded.exercices.all()) == []
        assert list(loaded.other_ids.all()) == expected
        assert render_userinfo(loaded, auth_mode="CARD") == render_userinfo(
            _prefetched(alone.pk), auth_mode="CARD"
        )
