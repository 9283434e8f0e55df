"""UserInfo rendering against the PSC shape (psc-compat.md § UserInfo), field by field."""

from __future__ import annotations

import json

import pytest

from idp.accounts.models import Exercice, OtherId, Professional
from idp.accounts.userinfo import render_userinfo
from tests.accounts.factories import make_doctor_with_two_activities, make_professional

pytestmark = pytest.mark.django_db

TOP_LEVEL_KEYS = {
    "sub",
    "SubjectNameID",
    "preferred_username",
    "given_name",
    "family_name",
    "SubjectRefPro",
    "SubjectOrganization",
    "SubjectOrganizationID",
    "SubjectRole",
    "Secteur_Activite",
    "PSI_Locale",
    "Palier_Authentification",
    "Acces_Regulation_Medicale",
    "Mode_Acces_Raison",
    "UITVersion",
    "otherIds",
    "authMode",
}
SUBJECT_REF_PRO_KEYS = {"codeCivilite", "exercices"}
EXERCICE_KEYS = {
    "codeProfession",
    "codeCategorieProfessionnelle",
    "codeCiviliteDexercice",
    "nomDexercice",
    "prenomDexercice",
    "codeTypeSavoirFaire",
    "codeSavoirFaire",
    "activities",
}
ACTIVITY_KEYS = {
    "codeModeExercice",
    "codeSecteurDactivite",
    "codeSectionPharmacien",
    "codeRole",
    "codeGenreActivite",
    "numeroSiretSite",
    "numeroSirenSite",
    "numeroFinessSite",
    "numeroFinessetablissementJuridique",
    "identifiantTechniqueDeLaStructure",
    "raisonSocialeSite",
    "enseigneCommercialeSite",
    "complementDestinataire",
    "complementPointGeographique",
    "numeroVoie",
    "indiceRepetitionVoie",
    "codeTypeDeVoie",
    "libelleVoie",
    "mentionDistribution",
    "bureauCedex",
    "codePostal",
    "codeCommune",
    "codePays",
    "telephone",
    "telephone2",
    "telecopie",
    "adresseEMail",
    "codeDepartement",
    "ancienIdentifiantDeLaStructure",
    "autoriteDenregistrement",
}
OTHER_ID_KEYS = {"identifiant", "origine", "qualite"}


@pytest.fixture
def doctor():
    return make_doctor_with_two_activities()


@pytest.fixture
def userinfo(doctor):
    professional = Professional.objects.with_userinfo().get(pk=doctor.pk)
    return render_userinfo(professional, auth_mode="CARD", acr="eidas1")


def test_exact_top_level_keys(userinfo):
    assert set(userinfo) == TOP_LEVEL_KEYS


def test_every_top_level_value_is_a_string_except_the_documented_ones(userinfo):
    containers = {"SubjectRefPro": dict, "SubjectRole": list, "otherIds": list}
    for key, value in userinfo.items():
        assert isinstance(value, containers.get(key, str)), key


def test_identity_claims(userinfo, doctor):
    assert userinfo["sub"] == doctor.sub
    assert userinfo["sub"] != doctor.id_nat
    assert userinfo["SubjectNameID"] == doctor.id_nat
    assert userinfo["preferred_username"] == doctor.id_nat
    # PSC's samples: the names of the first exercice.
    assert userinfo["given_name"] == "JEAN"
    assert userinfo["family_name"] == "MARTIN"


def test_subject_ref_pro(userinfo):
    ref = userinfo["SubjectRefPro"]
    assert set(ref) == SUBJECT_REF_PRO_KEYS
    assert ref["codeCivilite"] == "M"
    assert isinstance(ref["exercices"], list)
    assert len(ref["exercices"]) == 1


def test_exercice_fields(userinfo):
    exercice = userinfo["SubjectRefPro"]["exercices"][0]
    assert set(exercice) == EXERCICE_KEYS
    assert exercice == {
        "codeProfession": "10",
        "codeCategorieProfessionnelle": "C",
        "codeCiviliteDexercice": "DR",
        "nomDexercice": "MARTIN",
        "prenomDexercice": "JEAN",
        "codeTypeSavoirFaire": "S",
        "codeSavoirFaire": "SM54",
        "activities": exercice["activities"],
    }
    assert isinstance(exercice["activities"], list)


def test_activities_field_by_field(userinfo):
    liberal, hospital = userinfo["SubjectRefPro"]["exercices"][0]["activities"]
    for activity in (liberal, hospital):
        assert set(activity) == ACTIVITY_KEYS
        assert all(isinstance(value, str) for value in activity.values())
    assert liberal == {
        "codeModeExercice": "L",
        "codeSecteurDactivite": "SA07",
        "codeSectionPharmacien": "",
        "codeRole": "FON-01",
        "codeGenreActivite": "GENR01",
        "numeroSiretSite": "81234567600017",
        "numeroSirenSite": "812345676",
        "numeroFinessSite": "",
        "numeroFinessetablissementJuridique": "",
        "identifiantTechniqueDeLaStructure": "R102671",
        "raisonSocialeSite": "CABINET DU DR MARTIN",
        "enseigneCommercialeSite": "",
        "complementDestinataire": "CABINET M MARTIN",
        "complementPointGeographique": "",
        "numeroVoie": "1",
        "indiceRepetitionVoie": "",
        "codeTypeDeVoie": "R",
        "libelleVoie": "NOIR",
        "mentionDistribution": "",
        "bureauCedex": "75009 PARIS",
        "codePostal": "75009",
        "codeCommune": "75109",
        "codePays": "99000",
        "telephone": "",
        "telephone2": "",
        "telecopie": "",
        "adresseEMail": "",
        "codeDepartement": "",
        "ancienIdentifiantDeLaStructure": "499700000420001",
        "autoriteDenregistrement": "CNOM/CNOM/CNOM",
    }
    assert hospital["codeModeExercice"] == "S"
    assert hospital["codeSecteurDactivite"] == "SA01"
    assert hospital["numeroFinessSite"] == "0B0193488"
    assert hospital["numeroFinessetablissementJuridique"] == "1B0064166"
    assert hospital["identifiantTechniqueDeLaStructure"] == "F0B0193488"
    assert hospital["raisonSocialeSite"] == "HOPITAL GENERIQUE"
    assert hospital["codePays"] == ""


def test_main_activity_claims(userinfo):
    # Single strings describing the first activity, as in PSC's samples.
    assert userinfo["SubjectOrganization"] == "CABINET DU DR MARTIN"
    assert userinfo["SubjectOrganizationID"] == "R102671"
    assert userinfo["Secteur_Activite"] == "SA07^1.2.250.1.71.4.2.4"


def test_subject_role(userinfo):
    assert userinfo["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5"]
    assert all(role.endswith("^1.2.250.1.213.1.1.5.5") for role in userinfo["SubjectRole"])


def test_subject_role_one_per_profession(doctor):
    Exercice.objects.create(
        professional=doctor, position=1, code_profession="10", code_categorie_professionnelle="E"
    )
    Exercice.objects.create(
        professional=doctor, position=2, code_profession="21", code_categorie_professionnelle="C"
    )
    rendered = render_userinfo(Professional.objects.get(pk=doctor.pk), auth_mode="CARD")
    assert rendered["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5", "21^1.2.250.1.213.1.1.5.5"]
    assert len(rendered["SubjectRefPro"]["exercices"]) == 3


def test_constant_claims(userinfo):
    assert userinfo["PSI_Locale"] == "1.2.250.1.213.1.3.1.1"
    assert userinfo["Palier_Authentification"] == "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
    assert userinfo["Acces_Regulation_Medicale"] == "FAUX"
    assert userinfo["Mode_Acces_Raison"] == ""
    assert userinfo["UITVersion"] == "1.0"


def test_other_ids(userinfo, doctor):
    assert userinfo["otherIds"] == [
        {"identifiant": doctor.id_nat, "origine": "RPPS", "qualite": 1},
        {"identifiant": "0012600631", "origine": "ADELI", "qualite": 1},
    ]
    for other in userinfo["otherIds"]:
        assert set(other) == OTHER_ID_KEYS
        assert isinstance(other["identifiant"], str)
        assert isinstance(other["origine"], str)
        # PSC sends qualite as a JSON number (its Java client declares it Integer).
        assert type(other["qualite"]) is int


def test_auth_mode_is_passed_through(doctor):
    for mode in ("CARD", "MOBILE"):
        assert render_userinfo(doctor, auth_mode=mode)["authMode"] == mode


def test_json_serialisable_without_nulls(userinfo):
    text = json.dumps(userinfo)
    assert "null" not in text
    assert json.loads(text) == userinfo


def test_professional_without_exercice_renders_every_key_with_empty_strings():
    professional = make_professional(family_name="DURAND", given_names="ALICE'MARIE")
    rendered = render_userinfo(professional, auth_mode="MOBILE")
    assert set(rendered) == TOP_LEVEL_KEYS
    assert rendered["given_name"] == "ALICE"
    assert rendered["family_name"] == "DURAND"
    assert rendered["SubjectRefPro"] == {"codeCivilite": "", "exercices": []}
    assert rendered["SubjectOrganization"] == ""
    assert rendered["SubjectOrganizationID"] == ""
    assert rendered["Secteur_Activite"] == ""
    assert rendered["SubjectRole"] == []
    assert rendered["otherIds"] == []


def test_query_count_is_bounded(doctor, django_assert_max_num_queries):
    # Add exercices and ids: the count must not grow with them.
    for position, profession in enumerate(("21", "60", "70"), start=1):
        Exercice.objects.create(
            professional=doctor,
            position=position,
            code_profession=profession,
            code_categorie_professionnelle="C",
        )
    OtherId.objects.create(professional=doctor, identifiant="3" + "0" * 9, origine="FINESS")
    with django_assert_max_num_queries(4):
        professional = Professional.objects.with_userinfo().get(sub=doctor.sub)
        rendered = render_userinfo(professional, auth_mode="CARD")
    assert len(rendered["SubjectRefPro"]["exercices"]) == 4


def test_rendering_a_prefetched_professional_makes_no_query(doctor, django_assert_num_queries):
    professional = Professional.objects.with_userinfo().get(pk=doctor.pk)
    with django_assert_num_queries(0):
        render_userinfo(professional, auth_mode="CARD")
