"""Code table labels (idp.accounts.codes) and the shipped JSON tables."""

from __future__ import annotations

import json

import pytest

from idp.accounts import codes
from idp.accounts.demo import DEMO_PROFESSIONALS


@pytest.mark.parametrize(
    ("table", "code", "expected"),
    [
        ("profession", "10", "Médecin"),
        ("profession", "21", "Pharmacien"),
        ("profession", "26", "Audioprothésiste"),
        ("profession", "60", "Infirmier"),
        ("profession", "70", "Masseur-Kinésithérapeute"),
        ("profession", "93", "Psychologue"),
        ("categorie_professionnelle", "C", "Civil"),
        ("categorie_professionnelle", "M", "Agent public"),
        ("mode_exercice", "S", "Salarié"),
        ("mode_exercice", "L", "Libéral, indépendant, artisan, commerçant"),
        ("type_savoir_faire", "S", "Spécialité ordinale"),
        ("savoir_faire", "SM53", "Spécialiste en Médecine générale"),
        ("savoir_faire", "SM26", "Qualifié en Médecine générale"),
        ("savoir_faire", "SM54", "Médecine générale"),
        ("secteur_activite", "SA01", "Etablissement public de santé"),
        ("secteur_activite", "SA07", "Cabinet individuel"),
        ("secteur_activite", "SA33", "Pharmacie d'officine"),
        ("secteur_activite", "SA42", "Appareillage médical"),
        ("civilite_exercice", "DR", "Docteur"),
        ("civilite_exercice", "PR", "Professeur"),
        ("civilite", "M", "Monsieur"),
        ("civilite", "MME", "Madame"),
        ("genre_activite", "GENR01", "Activité de soin et de pharmacie"),
        ("role", "FON-01", "Titulaire de cabinet"),
        ("section_pharmacien", "A", "Pharmacien titulaire d'officine"),
    ],
)
def test_known_labels(table, code, expected):
    assert codes.label(table, code) == expected


@pytest.mark.parametrize("code", ["", "ZZ99", "SM999", " "])
def test_unknown_or_empty_code_gives_empty_string(code):
    assert codes.label("savoir_faire", code) == ""


def test_unknown_table_is_a_programming_error():
    with pytest.raises(codes.UnknownCodeTable):
        codes.label("professions", "10")
    with pytest.raises(codes.UnknownCodeTable):
        codes.label("professions", "")


def test_labelled():
    assert codes.labelled("profession", "10") == "Médecin (10)"
    assert codes.labelled("profession", "X") == "X"


def test_tables_are_cached_and_read_only():
    assert codes.table("profession") is codes.table("profession")
    with pytest.raises(TypeError):
        codes.table("profession")["10"] = "changed"  # type: ignore[index]


def test_every_table_file_names_its_source_and_has_string_codes():
    for name in codes.TABLES:
        document = json.loads((codes.DATA_DIR / f"{name}.json").read_text("utf-8"))
        assert document["table"] and document["source"], name
        assert document["codes"], name
        assert all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in document["codes"].items()
        )


def test_the_sample_rows_and_the_demo_data_have_labels():
    # Codes of /work/shared/data/rpps (real rows) and of seed_demo must all be displayable.
    sample = {
        "profession": ["10", "26"],
        "savoir_faire": ["SM53"],
        "mode_exercice": ["S"],
        "secteur_activite": ["SA01", "SA42"],
        "civilite_exercice": ["DR"],
        "civilite": ["M"],
    }
    for table, values in sample.items():
        for value in values:
            assert codes.label(table, value), (table, value)
    for spec in DEMO_PROFESSIONALS:
        assert codes.label("civilite", spec["civil"]["civility_code"])
        for exercice in spec["exercices"]:
            assert codes.label("profession", exercice["code_profession"])
            if exercice.get("code_savoir_faire"):
                assert codes.label("savoir_faire", exercice["code_savoir_faire"])
            for activity in exercice["activities"]:
                assert codes.label("mode_exercice", activity["code_mode_exercice"])
                assert codes.label("secteur_activite", activity["code_secteur_activite"])
                assert codes.label("genre_activite", activity["code_genre_activite"])
                if activity.get("code_role"):
                    assert codes.label("role", activity["code_role"])
