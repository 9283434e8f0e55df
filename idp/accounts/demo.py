"""Fictitious professionals for demonstrations and manual testing (``manage.py seed_demo``).

Identifiers are in the ranges the registry keeps for tests, so they can never be a real person's:
RPPS numbers start with ``997`` (psc-compat.md § National identifier: the registry's sandbox uses
them), each with a valid Luhn check digit so every validator accepts them. Mobile numbers are in
the ``06 39 98`` block and site phone numbers in the ``0x xx`` blocks the French regulator
(ARCEP) reserves for fiction; email addresses are on ``example.org`` (RFC 2606). Names, sites and
SIRET/FINESS numbers are made up.

The set covers what the UserInfo rendering must handle: a doctor with two activities (a liberal
practice and a salaried hospital activity), a pharmacist in a pharmacy (section A), a nurse who
moved from ADELI to RPPS (the former ADELI idNat kept among other ids), a psychologist still
identified by ADELI, and a physiotherapist in Corsica (``2A`` codes).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from idp.accounts.models import Activity, Exercice, OtherId, Professional
from idp.audit.journal import record
from idp.audit.tags import EventTag

SEED_ACTOR = "system:seed_demo"

DEMO_PROFESSIONALS: tuple[dict[str, Any], ...] = (
    {
        "id_nat": "899700010012",
        "civil": {"civility_code": "MME", "family_name": "DUVAL", "given_names": "HELENE'MARIE"},
        "contact": {"email": "helene.duval@example.org", "mobile": "+33639980001"},
        "other_ids": [("899700010012", "RPPS")],
        "exercices": [
            {
                "code_profession": "10",
                "code_categorie_professionnelle": "C",
                "code_civilite_exercice": "DR",
                "nom_exercice": "DUVAL",
                "prenom_exercice": "HELENE",
                "code_type_savoir_faire": "S",
                "code_savoir_faire": "SM54",
                "activities": [
                    {
                        "code_mode_exercice": "L",
                        "code_secteur_activite": "SA08",
                        "code_role": "FON-01",
                        "code_genre_activite": "GENR01",
                        "numero_siret_site": "81234567600017",
                        "numero_siren_site": "812345676",
                        "identifiant_technique_structure": "R100001",
                        "raison_sociale_site": "CABINET MEDICAL DE LA REPUBLIQUE",
                        "complement_destinataire": "DOCTEUR HELENE DUVAL",
                        "numero_voie": "12",
                        "code_type_voie": "R",
                        "libelle_voie": "DE LA REPUBLIQUE",
                        "bureau_cedex": "69002 LYON",
                        "code_postal": "69002",
                        "code_commune": "69382",
                        "telephone": "0465710001",
                        "ancien_identifiant_structure": "499700010012001",
                        "autorite_enregistrement": "CNOM/CNOM/CNOM",
                    },
                    {
                        "code_mode_exercice": "S",
                        "code_secteur_activite": "SA01",
                        "code_role": "FON-33",
                        "code_genre_activite": "GENR01",
                        "numero_finess_site": "690099991",
                        "numero_finess_etablissement_juridique": "690099983",
                        "identifiant_technique_structure": "F690099991",
                        "raison_sociale_site": "CENTRE HOSPITALIER DE DEMONSTRATION",
                        "complement_point_geographique": "BATIMENT B - URGENCES",
                        "numero_voie": "3",
                        "code_type_voie": "AV",
                        "libelle_voie": "ROCKEFELLER",
                        "mention_distribution": "CS 30001",
                        "bureau_cedex": "69373 LYON CEDEX 08",
                        "code_postal": "69373",
                        "code_commune": "69388",
                        "telephone": "0465710100",
                        "telecopie": "0465710199",
                        "adresse_email": "contact@ch-demonstration.example.org",
                        "ancien_identifiant_structure": "1690099991",
                        "autorite_enregistrement": "CNOM/CNOM/ARS",
                    },
                ],
            }
        ],
    },
    {
        "id_nat": "899700010020",
        "civil": {"civility_code": "M", "family_name": "LEFEBVRE", "given_names": "THOMAS"},
        "contact": {"email": "thomas.lefebvre@example.org", "mobile": "+33639980002"},
        "other_ids": [("899700010020", "RPPS")],
        "exercices": [
            {
                "code_profession": "21",
                "code_categorie_professionnelle": "C",
                "code_civilite_exercice": "DR",
                "nom_exercice": "LEFEBVRE",
                "prenom_exercice": "THOMAS",
                "activities": [
                    {
                        "code_mode_exercice": "L",
                        "code_secteur_activite": "SA33",
                        "code_section_pharmacien": "A",
                        "code_role": "FON-03",
                        "code_genre_activite": "GENR01",
                        "numero_siret_site": "82345678500018",
                        "numero_siren_site": "823456785",
                        "numero_finess_site": "330099996",
                        "identifiant_technique_structure": "F330099996",
                        "raison_sociale_site": "PHARMACIE DES CAPUCINS",
                        "enseigne_commerciale_site": "PHARMACIE DES CAPUCINS",
                        "numero_voie": "4",
                        "code_type_voie": "PL",
                        "libelle_voie": "DES CAPUCINS",
                        "bureau_cedex": "33800 BORDEAUX",
                        "code_postal": "33800",
                        "code_commune": "33063",
                        "telephone": "0536490001",
                        "ancien_identifiant_structure": "1330099996",
                        "autorite_enregistrement": "CNOP/CNOP/ARS",
                    }
                ],
            }
        ],
    },
    {
        "id_nat": "899700010038",
        "civil": {"civility_code": "MME", "family_name": "ROUX", "given_names": "CAMILLE'ANNE"},
        "contact": {"email": "camille.roux@example.org", "mobile": "+33639980003"},
        # Registered with ADELI until nurses moved to RPPS (2021): the former idNat is kept.
        "other_ids": [("899700010038", "RPPS"), ("0136012341", "ADELI")],
        "exercices": [
            {
                "code_profession": "60",
                "code_categorie_professionnelle": "C",
                "nom_exercice": "ROUX",
                "prenom_exercice": "CAMILLE",
                "activities": [
                    {
                        "code_mode_exercice": "L",
                        "code_secteur_activite": "SA07",
                        "code_role": "FON-01",
                        "code_genre_activite": "GENR01",
                        "identifiant_technique_structure": "R100003",
                        "raison_sociale_site": "CABINET INFIRMIER ROUX",
                        "numero_voie": "27",
                        "code_type_voie": "BD",
                        "libelle_voie": "DE LA LIBERATION",
                        "bureau_cedex": "13001 MARSEILLE",
                        "code_postal": "13001",
                        "code_commune": "13201",
                        "telephone": "0465710003",
                        "ancien_identifiant_structure": "499700010038001",
                        "autorite_enregistrement": "ONI/ONI/ONI",
                    }
                ],
            }
        ],
    },
    {
        "id_nat": "0699312344",
        "civil": {"civility_code": "M", "family_name": "GARNIER", "given_names": "PAUL"},
        "contact": {"email": "paul.garnier@example.org", "mobile": "+33639980004"},
        "other_ids": [("0699312344", "ADELI")],
        "exercices": [
            {
                "code_profession": "93",
                "code_categorie_professionnelle": "C",
                "nom_exercice": "GARNIER",
                "prenom_exercice": "PAUL",
                "activities": [
                    {
                        "code_mode_exercice": "L",
                        "code_secteur_activite": "SA07",
                        "code_genre_activite": "GENR01",
                        "numero_siret_site": "83456789300013",
                        "numero_siren_site": "834567893",
                        "identifiant_technique_structure": "C83456789300013",
                        "raison_sociale_site": "CABINET DE PSYCHOLOGIE GARNIER",
                        "numero_voie": "8",
                        "code_type_voie": "R",
                        "libelle_voie": "DES ECOLES",
                        "bureau_cedex": "75005 PARIS",
                        "code_postal": "75005",
                        "code_commune": "75105",
                        "telephone": "0199000004",
                        "ancien_identifiant_structure": "383456789300013",
                        "autorite_enregistrement": "ARS/ARS/ARS",
                    }
                ],
            }
        ],
    },
    {
        "id_nat": "899700010046",
        "civil": {"civility_code": "M", "family_name": "SANTONI", "given_names": "ANTOINE"},
        "contact": {"email": "antoine.santoni@example.org", "mobile": "+33639980005"},
        "other_ids": [("899700010046", "RPPS")],
        "exercices": [
            {
                "code_profession": "70",
                "code_categorie_professionnelle": "C",
                "nom_exercice": "SANTONI",
                "prenom_exercice": "ANTOINE",
                "activities": [
                    {
                        "code_mode_exercice": "L",
                        "code_secteur_activite": "SA52",
                        "code_role": "FON-01",
                        "code_genre_activite": "GENR01",
                        "numero_siret_site": "84567891100015",
                        "numero_siren_site": "845678911",
                        "identifiant_technique_structure": "R100005",
                        "raison_sociale_site": "MAISON DE SANTE DU COURS NAPOLEON",
                        "numero_voie": "5",
                        "indice_repetition_voie": "B",
                        "code_type_voie": "CRS",
                        "libelle_voie": "NAPOLEON",
                        "bureau_cedex": "20000 AJACCIO",
                        "code_postal": "20000",
                        "code_commune": "2A004",
                        "code_departement": "2A",
                        "telephone": "0465710005",
                        "ancien_identifiant_structure": "499700010046001",
                        "autorite_enregistrement": "CNOMK/CNOMK/CNOMK",
                    }
                ],
            }
        ],
    },
)


def _create(spec: dict[str, Any]) -> Professional:
    professional = Professional(registry_source=Professional.RegistrySource.DEMO)
    professional.set_id_nat(spec["id_nat"])
    for field, value in {**spec["civil"], **spec["contact"]}.items():
        setattr(professional, field, value)
    professional.registry_seen_at = timezone.now()
    professional.full_clean()
    professional.save()
    for identifiant, origine in spec["other_ids"]:
        OtherId.objects.create(professional=professional, identifiant=identifiant, origine=origine)
    for position, exercice_spec in enumerate(spec["exercices"]):
        fields = {k: v for k, v in exercice_spec.items() if k != "activities"}
        exercice = Exercice.objects.create(professional=professional, position=position, **fields)
        for rank, activity_fields in enumerate(exercice_spec["activities"]):
            Activity.objects.create(exercice=exercice, position=rank, **activity_fields)
    return professional


def seed_demo() -> list[tuple[Professional, bool]]:
    """Create the demonstration professionals that do not exist yet (matched by idNat).

    Existing ones are left exactly as they are, so running it again changes nothing. Returns every
    demo professional with ``True`` when it was created by this call. One ``accounts:demo:seeded``
    audit event lists the idNats created, only when there are some.
    """
    results: list[tuple[Professional, bool]] = []
    with transaction.atomic():
        existing = Professional.objects.in_bulk(
            [spec["id_nat"] for spec in DEMO_PROFESSIONALS], field_name="id_nat"
        )
        for spec in DEMO_PROFESSIONALS:
            if spec["id_nat"] in existing:
                results.append((existing[spec["id_nat"]], False))
            else:
                results.append((_create(spec), True))
        created = [p.id_nat for p, was_created in results if was_created]
        if created:
            record(EventTag.ACCOUNTS_DEMO_SEEDED, actor=SEED_ACTOR, data={"created": created})
    return results
