"""The one place a professional becomes a Pro Santé Connect UserInfo document.

The structure is PSC's, field for field, so that a relying party integrated with PSC reads ours
unchanged (``/work/shared/psc-compat.md`` § UserInfo). Values and formats were aligned with UserInfo
responses of PSC's sandbox published in public repositories:

* ``prosanteconnect/generate-VIHF`` ``src/test/java/fr/ans/psc/VihfBuilderTest.java`` (ANS, 2022):
  a doctor with two exercices of two activities each (a "cabinet" in libéral mode, SA07, and a
  salaried hospital activity, SA01);
* ``prosanteconnect/generate-VIHF`` ``src/main/java/fr/ans/psc/model/prosanteconnect/*.java``:
  the client model (``otherIds[].qualite`` is an ``Integer``, every other leaf a ``String``,
  ``SubjectRole`` a ``List<String>``);
* an ANS test class ``fr.ans.psc.remote.cache.api.utils.TmpTest`` (2023, PSC remote cache API)
  holding a full sandbox introspection + UserInfo pair with ``authMode: "CARD"`` and ``otherIds``;
* ``ad2ien/prosante-connect-synapse-module`` ``tests/test_mapping.py`` (Matrix/Synapse mapping
  provider, 2023): "a legit PSC userinfo" of a pédicure-podologue with ``codeGenreActivite``.

What those samples fix:

* ``given_name`` / ``family_name`` are the *exercise* names (``prenomDexercice``/``nomDexercice``
  of the first exercice): every sample has them equal. We fall back to the civil names only when
  there is no exercice.
* ``SubjectOrganization`` is the ``raisonSocialeSite`` and ``SubjectOrganizationID`` the
  ``identifiantTechniqueDeLaStructure`` of the first activity (``"R102671"``, ``"F0B0193488"``
  style), ``Secteur_Activite`` its sector as ``"<code>^1.2.250.1.71.4.2.4"``: all three are single
  strings, not lists.
* ``SubjectRole`` is a list, one ``"<codeProfession>^1.2.250.1.213.1.1.5.5"`` per profession
  (two exercices of profession 10 give one entry).
* ``Palier_Authentification`` is ``"APPPRIP3^1.2.250.1.213.1.5.1.1.1"`` in every sample, for cards
  and for the app alike; ``PSI_Locale`` ``"1.2.250.1.213.1.3.1.1"``; ``UITVersion`` ``"1.0"``;
  ``Acces_Regulation_Medicale`` ``"FAUX"``; ``Mode_Acces_Raison`` ``""``.
* ``otherIds``: ``[{"identifiant": <idNat>, "origine": "RPPS", "qualite": 1}]``, the identifier
  in its idNat form and ``qualite`` a JSON **number**: the one non-string leaf, kept as PSC sends
  it because PSC's own Java client declares it ``Integer``.
* Deliberate difference: PSC's ``sub`` is Keycloak's federated id ``f:<uuid>:<idNat>``, which
  embeds the mutable idNat; ours is opaque and stable (OpenID Connect Core 1.0 §2). Relying
  parties must key accounts on ``sub`` or ``SubjectNameID`` per their PSC integration anyway.
* PSC's early samples also carry ``email_verified: false``; it is not part of the documented
  claim set (psc-compat.md) and is not emitted.

Every other value is a string, ``""`` when unknown, never missing, never ``null``.
"""

from __future__ import annotations

from typing import Any

from idp.accounts.models import (
    ACTIVITY_PSC_FIELDS,
    EXERCICE_PSC_FIELDS,
    Activity,
    Exercice,
    OtherId,
    Professional,
)

# OIDs of the code systems PSC suffixes to codes ("<code>^<oid>", HL7 v2 CE style).
PROFESSION_OID = "1.2.250.1.213.1.1.5.5"
SECTEUR_ACTIVITE_OID = "1.2.250.1.71.4.2.4"
# Values PSC publishes as constants (see the module docstring for the samples).
PALIER_AUTHENTIFICATION = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
PSI_LOCALE = "1.2.250.1.213.1.3.1.1"
UIT_VERSION = "1.0"
ACCES_REGULATION_MEDICALE = "FAUX"
MODE_ACCES_RAISON = ""

TOP_LEVEL_KEYS = (
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
)


def palier_authentification(acr: str | None) -> str:
    """The ``Palier_Authentification`` claim for an authentication level (``acr``).

    Every published PSC sample says APPPRIP3, for the card and for the app, whether the token's
    ``acr`` is the ``eidas1`` relying parties ask for or the ``eidas3`` seen in 2023 tokens; no
    other value has been published, so none is invented: the level does not change the claim.
    """
    return PALIER_AUTHENTIFICATION


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _render_activity(activity: Activity) -> dict[str, str]:
    return {claim: _text(getattr(activity, field)) for claim, field in ACTIVITY_PSC_FIELDS.items()}


def _render_exercice(exercice: Exercice) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        claim: _text(getattr(exercice, field)) for claim, field in EXERCICE_PSC_FIELDS.items()
    }
    rendered["activities"] = [_render_activity(a) for a in exercice.activities.all()]
    return rendered


def _render_other_id(other: OtherId) -> dict[str, Any]:
    return {
        "identifiant": _text(other.identifiant),
        "origine": _text(other.origine),
        "qualite": int(other.qualite),
    }


def render_userinfo(
    professional: Professional, *, auth_mode: str, acr: str | None = None
) -> dict[str, Any]:
    """The PSC UserInfo document of ``professional`` (psc-compat.md § UserInfo).

    ``auth_mode`` is the means used to authenticate (``"CARD"``, ``"MOBILE"``…) and ``acr`` the
    level achieved. Reads the professional's exercices, activities and other ids through
    ``professional.exercices`` / ``other_ids``: load it with
    ``Professional.objects.with_userinfo()`` and the whole rendering costs no further query;
    otherwise it costs 1 + number of exercices + 1 queries.
    """
    exercices = list(professional.exercices.all())
    first_exercice = exercices[0] if exercices else None
    rendered_exercices = [_render_exercice(e) for e in exercices]

    main_activity = next(
        (activity for exercice in exercices for activity in exercice.activities.all()), None
    )

    if first_exercice is not None:
        given_name, family_name = first_exercice.prenom_exercice, first_exercice.nom_exercice
    else:
        given_name, family_name = professional.first_given_name, professional.family_name

    roles: list[str] = []
    for exercice in exercices:
        if exercice.code_profession:
            role = f"{exercice.code_profession}^{PROFESSION_OID}"
            if role not in roles:
                roles.append(role)

    secteur = ""
    if main_activity is not None and main_activity.code_secteur_activite:
        secteur = f"{main_activity.code_secteur_activite}^{SECTEUR_ACTIVITE_OID}"

    return {
        "sub": professional.sub,
        "SubjectNameID": professional.id_nat,
        "preferred_username": professional.id_nat,
        "given_name": _text(given_name),
        "family_name": _text(family_name),
        "SubjectRefPro": {
            "codeCivilite": _text(professional.civility_code),
            "exercices": rendered_exercices,
        },
        "SubjectOrganization": _text(main_activity.raison_sociale_site if main_activity else ""),
        "SubjectOrganizationID": _text(
            main_activity.identifiant_technique_structure if main_activity else ""
        ),
        "SubjectRole": roles,
        "Secteur_Activite": secteur,
        "PSI_Locale": PSI_LOCALE,
        "Palier_Authentification": palier_authentification(acr),
        "Acces_Regulation_Medicale": ACCES_REGULATION_MEDICALE,
        "Mode_Acces_Raison": MODE_ACCES_RAISON,
        "UITVersion": UIT_VERSION,
        "otherIds": [_render_other_id(o) for o in professional.other_ids.all()],
        "authMode": _text(auth_mode),
    }
