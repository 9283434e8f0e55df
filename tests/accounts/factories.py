"""Test factories for professionals (real database rows, nothing mocked)."""

from __future__ import annotations

from typing import Any

from idp.accounts.identifiers import luhn_check_digit
from idp.accounts.models import Activity, Exercice, OtherId, Professional


def rpps(serial: int) -> str:
    """A test-range RPPS number (starts with 997) with a valid Luhn check digit."""
    payload = f"997{serial:07d}"
    return payload + luhn_check_digit(payload)


def make_professional(id_nat: str | None = None, **fields: Any) -> Professional:
    professional = Professional(**fields)
    professional.set_id_nat(id_nat or "8" + rpps(1))
    professional.full_clean()
    professional.save()
    return professional


def make_doctor_with_two_activities(id_nat: str | None = None) -> Professional:
    """A GP with a liberal practice and a salaried hospital activity, shaped like PSC's samples."""
    doctor = make_professional(
        id_nat or "8" + rpps(42),
        civility_code="M",
        family_name="MARTIN",
        given_names="JEAN'PIERRE",
        email="jean.martin@example.org",
        mobile="+33639980042",
    )
    OtherId.objects.create(professional=doctor, identifiant=doctor.id_nat, origine="RPPS")
    OtherId.objects.create(professional=doctor, identifiant="0012600631", origine="ADELI")
    exercice = Exercice.objects.create(
        professional=doctor,
        code_profession="10",
        code_categorie_professionnelle="C",
        code_civilite_exercice="DR",
        nom_exercice="MARTIN",
        prenom_exercice="JEAN",
        code_type_savoir_faire="S",
        code_savoir_faire="SM54",
    )
    Activity.objects.create(
        exercice=exercice,
        position=0,
        code_mode_exercice="L",
        code_secteur_activite="SA07",
        code_role="FON-01",
        code_genre_activite="GENR01",
        numero_siret_site="81234567600017",
        numero_siren_site="812345676",
        identifiant_technique_structure="R102671",
        raison_sociale_site="CABINET DU DR MARTIN",
        complement_destinataire="CABINET M MARTIN",
        numero_voie="1",
        code_type_voie="R",
        libelle_voie="NOIR",
        bureau_cedex="75009 PARIS",
        code_postal="75009",
        code_commune="75109",
        code_pays="99000",
        ancien_identifiant_structure="499700000420001",
        autorite_enregistrement="CNOM/CNOM/CNOM",
    )
    Activity.objects.create(
        exercice=exercice,
        position=1,
        code_mode_exercice="S",
        code_secteur_activite="SA01",
        numero_finess_site="0B0193488",
        numero_finess_etablissement_juridique="1B0064166",
        identifiant_technique_structure="F0B0193488",
        raison_sociale_site="HOPITAL GENERIQUE",
        numero_voie="10",
        code_type_voie="R",
        libelle_voie="DE PARIS",
        bureau_cedex="PARIS",
        code_postal="75009",
        ancien_identifiant_structure="10B0193488",
        autorite_enregistrement="CNOM/CNOM/ARS",
    )
    return doctor
