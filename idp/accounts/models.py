"""The professional identity, mirroring the national registry (Annuaire Santé: RPPS and ADELI).

Shape (``/work/shared/rpps-format.md``, ``/work/shared/psc-compat.md`` § UserInfo): a
``Professional`` (one person, keyed by idNat) has ``OtherId``s (every identifier ever known for the
person), ``Exercice``s (one per profession and professional category) and, under each exercice,
``Activity``s (one per practice situation: site x role). Exercices and activities map one to one
onto UserInfo's ``SubjectRefPro.exercices[].activities[]``.

Keys: the idNat is unique but *changes* (ADELI to RPPS re-keying), so nothing references it; other
tables point at the surrogate primary key, and relying parties get ``sub``, a random opaque value
generated once, never derived from the idNat and never changed (OpenID Connect Core 1.0 §2: "locally
unique and never reassigned"; §5.7: claims other than ``sub`` are not stable identifiers).

Registry values stay strings everywhere (leading zeros, ``2A104``, ``P`` street numbers,
``99132`` country codes: rpps-format.md § Public extract). Field verbose names of registry columns
are the extract's own French column names; administrators know the registry by those names.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Concat
from django.utils.translation import gettext_lazy as _

from idp.accounts.identifiers import (
    ID_NAT_MAX_LENGTH,
    IdentifierType,
    parse_id_nat,
    validate_id_nat,
)

# 32 random bytes, base64url without padding: 43 characters, 256 bits of entropy.
SUB_RANDOM_BYTES = 32
SUB_MAX_LENGTH = 64


def generate_sub() -> str:
    """A fresh subject identifier: random, URL-safe, unrelated to any registry number."""
    return secrets.token_urlsafe(SUB_RANDOM_BYTES)


class ImmutableSubError(ValueError):
    """Raised on any attempt to change a professional's ``sub`` once it has been stored."""


mobile_validator = RegexValidator(
    regex=r"^\+[1-9]\d{7,14}$",
    message=_("Enter the mobile number in international format, for example +33612345678."),
    code="mobile_format",
)


class ProfessionalQuerySet(models.QuerySet["Professional"]):
    """Refuses bulk writes to ``sub``, which would bypass ``Professional.save``."""

    def update(self, **kwargs: Any) -> int:
        if "sub" in kwargs:
            raise ImmutableSubError("a professional's sub never changes")
        return super().update(**kwargs)

    def bulk_update(
        self, objs: Iterable[Professional], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        fields = list(fields)
        if "sub" in fields:
            raise ImmutableSubError("a professional's sub never changes")
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def active(self) -> ProfessionalQuerySet:
        return self.filter(status=Professional.Status.ACTIVE)

    def with_userinfo(self) -> ProfessionalQuerySet:
        """Everything ``render_userinfo`` reads: three prefetch queries after the main one (the
        token and UserInfo endpoints load the same in one statement: idp/accounts/loading.py)."""
        return self.prefetch_related("exercices__activities", "other_ids")


class Professional(models.Model):
    """A health professional as the national registry knows them."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended by an administrator")
        DEACTIVATED = "deactivated", _("Deactivated")

    class RegistrySource(models.TextChoices):
        PUBLIC_EXTRACT = "public_extract", _("Public registry extract")
        RESTRICTED_EXTRACT = "restricted_extract", _("Restricted registry extract (PSC)")
        FHIR = "fhir", _("Annuaire Santé FHIR API")
        DEMO = "demo", _("Demonstration data")
        MANUAL = "manual", _("Entered by hand")

    # Fields the registry synchronisation owns; the admin shows them read-only.
    REGISTRY_FIELDS = (
        "id_nat",
        "identifier_type",
        "identifier",
        "civility_code",
        "family_name",
        "given_names",
        "birth_date",
        "sex_code",
        "registry_source",
        "registry_extract",
        "registry_seen_at",
        "deactivated_at",
        "deactivation_reason",
    )

    sub = models.CharField(
        _("subject identifier (sub)"),
        max_length=SUB_MAX_LENGTH,
        unique=True,
        editable=False,
        default=generate_sub,
        help_text=_("Opaque identifier given to relying parties. Never changes."),
    )
    id_nat = models.CharField(
        "Identification nationale PP",
        max_length=ID_NAT_MAX_LENGTH,
        unique=True,
        validators=[validate_id_nat],
    )
    identifier_type = models.CharField(
        "Type d'identifiant PP", max_length=1, choices=IdentifierType.choices
    )
    identifier = models.CharField("Identifiant PP", max_length=ID_NAT_MAX_LENGTH - 1)

    # Civil data: only in the restricted extract PSC receives (rpps-format.md § Public extract).
    civility_code = models.CharField("Code civilité", max_length=8, blank=True, default="")
    family_name = models.CharField("Nom de famille", max_length=150, blank=True, default="")
    given_names = models.CharField(
        "Prénoms",
        max_length=255,
        blank=True,
        default="",
        help_text=_("As the registry gives them: given names separated by an apostrophe (')."),
    )
    birth_date = models.DateField("Date de naissance", null=True, blank=True)
    sex_code = models.CharField("Code sexe", max_length=1, blank=True, default="")

    # Status: two independent facets, the registry's (deactivation) and the administrators'
    # (suspension); ``status`` is derived from them on every save, suspension first, so that a
    # professional suspended by an administrator stays suspended whatever the registry does.
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE, editable=False
    )
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    suspended_by = models.CharField(_("suspended by"), max_length=150, blank=True, default="")
    suspension_reason = models.TextField(_("reason for the suspension"), blank=True, default="")
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)
    deactivation_reason = models.TextField(_("reason for the deactivation"), blank=True, default="")

    # Registry provenance.
    registry_source = models.CharField(
        _("registry source"),
        max_length=32,
        choices=RegistrySource.choices,
        default=RegistrySource.MANUAL,
    )
    registry_extract = models.CharField(
        _("last registry extract seen"), max_length=255, blank=True, default=""
    )
    registry_seen_at = models.DateTimeField(_("last seen in the registry"), null=True, blank=True)

    # Correspondence contacts, used to activate the card app by email and SMS.
    email = models.EmailField(_("correspondence email"), blank=True, default="")
    mobile = models.CharField(
        _("correspondence mobile phone"),
        max_length=16,
        blank=True,
        default="",
        validators=[mobile_validator],
    )

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ProfessionalQuerySet.as_manager()

    class Meta:
        verbose_name = _("professional")
        verbose_name_plural = _("professionals")
        ordering = ["id_nat"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(sub=F("id_nat")), name="accounts_professional_sub_not_id_nat"
            ),
            models.CheckConstraint(
                condition=Q(id_nat=Concat(F("identifier_type"), F("identifier"))),
                name="accounts_professional_id_nat_is_type_and_identifier",
            ),
            models.CheckConstraint(
                condition=Q(identifier_type__in=IdentifierType.values),
                name="accounts_professional_identifier_type_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="active", suspended_at__isnull=True, deactivated_at__isnull=True)
                    | Q(status="suspended", suspended_at__isnull=False)
                    | Q(
                        status="deactivated",
                        suspended_at__isnull=True,
                        deactivated_at__isnull=False,
                    )
                ),
                name="accounts_professional_status_matches_facets",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="accounts_pro_status_idx")]
        permissions = [("suspend_professional", "Can suspend and reactivate professionals")]

    def __str__(self) -> str:
        # No query here: __str__ runs in admin messages and logs.
        name = f"{self.first_given_name} {self.family_name}".strip()
        return f"{self.id_nat} {name}" if name else self.id_nat

    # --- persistence ------------------------------------------------------------------------------

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = self._stored_sub_value()
            if stored is not None and stored != self.sub:
                raise ImmutableSubError("a professional's sub never changes")
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "sub" in update_fields:
            raise ImmutableSubError("a professional's sub never changes")
        self.status = self.derived_status()
        if update_fields is not None:
            facets = {"suspended_at", "deactivated_at"}
            if facets.intersection(update_fields):
                kwargs["update_fields"] = {*update_fields, "status"}
        super().save(*args, **kwargs)
        self._stored_sub = self.sub

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Professional:
        instance = super().from_db(db, field_names, values)
        # Remember the stored sub so that save() can refuse to change it without a query.
        instance._stored_sub = instance.__dict__.get("sub")
        return instance

    def _stored_sub_value(self) -> str | None:
        stored = getattr(self, "_stored_sub", None)
        if stored is None and self.pk is not None:
            stored = (
                type(self)._default_manager.filter(pk=self.pk).values_list("sub", flat=True).first()
            )
        return stored

    # --- identity ---------------------------------------------------------------------------------

    def set_id_nat(self, id_nat: str) -> None:
        """Set idNat, identifier type and identifier together, after validating the idNat."""
        parsed = parse_id_nat(id_nat)
        self.id_nat = id_nat
        self.identifier_type = parsed.type
        self.identifier = parsed.identifier

    @property
    def first_given_name(self) -> str:
        return self.given_names.split("'", 1)[0].strip()

    @property
    def display_name(self) -> str:
        """Exercise name of the first exercice, else the civil name (for lists and screens)."""
        exercice = self.main_exercice() if self.pk else None
        if exercice is not None and (exercice.nom_exercice or exercice.prenom_exercice):
            return f"{exercice.prenom_exercice} {exercice.nom_exercice}".strip()
        return f"{self.first_given_name} {self.family_name}".strip()

    def main_exercice(self) -> Exercice | None:
        """The first exercice in registry order (uses the prefetch cache when there is one)."""
        return next(iter(self.exercices.all()), None)

    def main_activity(self) -> Activity | None:
        """The first activity of the first exercice that has one, in registry order.

        PSC's ``SubjectOrganization``, ``SubjectOrganizationID`` and ``Secteur_Activite`` describe
        this activity (published PSC UserInfo samples: they match the first activity listed).
        """
        for activity in self.iter_activities():
            return activity
        return None

    def iter_activities(self) -> Iterator[Activity]:
        for exercice in self.exercices.all():
            yield from exercice.activities.all()

    # --- status -----------------------------------------------------------------------------------

    def derived_status(self) -> str:
        if self.suspended_at is not None:
            return self.Status.SUSPENDED
        if self.deactivated_at is not None:
            return self.Status.DEACTIVATED
        return self.Status.ACTIVE

    @property
    def is_active(self) -> bool:
        """Whether this professional may authenticate."""
        return self.derived_status() == self.Status.ACTIVE

    def clean(self) -> None:
        """Model-level rules (``full_clean``): idNat consistency and status bookkeeping."""
        errors: dict[str, list[ValidationError]] = {}
        try:
            parsed = parse_id_nat(self.id_nat)
        except ValidationError:
            pass  # reported on the field by its validator
        else:
            if (parsed.type, parsed.identifier) != (self.identifier_type, self.identifier):
                errors.setdefault("id_nat", []).append(
                    ValidationError(
                        _(
                            "The national id %(id_nat)s does not match the identifier type "
                            "%(type)s and identifier %(identifier)s."
                        ),
                        code="id_nat_mismatch",
                        params={
                            "id_nat": self.id_nat,
                            "type": self.identifier_type,
                            "identifier": self.identifier,
                        },
                    )
                )
        if self.sub and self.sub == self.id_nat:
            errors.setdefault("id_nat", []).append(
                ValidationError(_("The subject identifier must not be the national id."))
            )
        if self.suspended_at is not None and not self.suspension_reason.strip():
            errors.setdefault("suspension_reason", []).append(
                ValidationError(_("A suspension needs a reason."), code="reason_required")
            )
        if self.suspended_at is not None and not self.suspended_by.strip():
            errors.setdefault("suspended_by", []).append(
                ValidationError(_("A suspension must say who decided it."), code="who_required")
            )
        if self.deactivated_at is not None and not self.deactivation_reason.strip():
            errors.setdefault("deactivation_reason", []).append(
                ValidationError(_("A deactivation needs a reason."), code="reason_required")
            )
        if errors:
            raise ValidationError(errors)


class OtherId(models.Model):
    """One identifier of a person: current or former idNat, or another registry's number.

    PSC's ``otherIds`` claim lists them as ``{identifiant, origine, qualite}``; when a person moves
    from ADELI to RPPS the former ``0...`` idNat stays here (rpps-format.md § Identifiers).
    """

    class Origine(models.TextChoices):
        RPPS = "RPPS", "RPPS"
        ADELI = "ADELI", "ADELI"
        FINESS = "FINESS", "FINESS"
        SIREN = "SIREN", "SIREN"
        SIRET = "SIRET", "SIRET"

    professional = models.ForeignKey(
        Professional, on_delete=models.CASCADE, related_name="other_ids"
    )
    identifiant = models.CharField("identifiant", max_length=ID_NAT_MAX_LENGTH)
    origine = models.CharField("origine", max_length=16, choices=Origine.choices)
    qualite = models.PositiveSmallIntegerField(
        "qualité",
        default=1,
        help_text=_("Quality level of the identifier, as PSC publishes it (1 in every sample)."),
    )

    class Meta:
        verbose_name = _("other identifier")
        verbose_name_plural = _("other identifiers")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["professional", "origine", "identifiant"],
                name="accounts_otherid_unique_per_professional",
            )
        ]
        indexes = [models.Index(fields=["identifiant"], name="accounts_otherid_ident_idx")]

    def __str__(self) -> str:
        return f"{self.origine} {self.identifiant}"


def _code(verbose_name: str, max_length: int = 16) -> models.CharField:
    return models.CharField(verbose_name, max_length=max_length, blank=True, default="")


def _text(verbose_name: str, max_length: int = 255) -> models.CharField:
    return models.CharField(verbose_name, max_length=max_length, blank=True, default="")


class Exercice(models.Model):
    """One profession of a person (profession code x professional category), with its names.

    The extract's rows are grouped by (profession code, category code) into an exercice
    (rpps-format.md § Public extract); PSC: ``SubjectRefPro.exercices[]``.
    """

    professional = models.ForeignKey(
        Professional, on_delete=models.CASCADE, related_name="exercices"
    )
    position = models.PositiveSmallIntegerField(
        _("position"), default=0, help_text=_("Registry order; the first exercice is the main one.")
    )
    code_profession = _code("Code profession", 8)
    code_categorie_professionnelle = _code("Code catégorie professionnelle", 8)
    code_civilite_exercice = _code("Code civilité d'exercice", 8)
    nom_exercice = _text("Nom d'exercice", 150)
    prenom_exercice = _text("Prénom d'exercice", 150)
    code_type_savoir_faire = _code("Code type savoir-faire", 8)
    code_savoir_faire = _code("Code savoir-faire", 16)

    class Meta:
        verbose_name = _("exercice")
        verbose_name_plural = _("exercices")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["professional", "code_profession", "code_categorie_professionnelle"],
                name="accounts_exercice_unique_profession_category",
            )
        ]

    def __str__(self) -> str:
        name = f"{self.prenom_exercice} {self.nom_exercice}".strip()
        return f"{self.code_profession} {name}".strip()


class Activity(models.Model):
    """One practice situation of an exercice: a site and a role (PSC: ``activities[]``).

    Every field is a string copied from the registry column of the same meaning; the mapping to
    PSC names is ``ACTIVITY_PSC_FIELDS`` below.
    """

    exercice = models.ForeignKey(Exercice, on_delete=models.CASCADE, related_name="activities")
    position = models.PositiveSmallIntegerField(
        _("position"), default=0, help_text=_("Registry order; the first activity is the main one.")
    )
    code_mode_exercice = _code("Code mode exercice")
    code_secteur_activite = _code("Code secteur d'activité")
    code_section_pharmacien = _code("Code section tableau pharmaciens")
    code_role = _code("Code rôle")
    code_genre_activite = _code("Code genre activité")
    numero_siret_site = _code("Numéro SIRET site", 32)
    numero_siren_site = _code("Numéro SIREN site", 32)
    numero_finess_site = _code("Numéro FINESS site", 32)
    numero_finess_etablissement_juridique = _code("Numéro FINESS établissement juridique", 32)
    identifiant_technique_structure = _code("Identifiant technique de la structure", 64)
    raison_sociale_site = _text("Raison sociale site")
    enseigne_commerciale_site = _text("Enseigne commerciale site")
    complement_destinataire = _text("Complément destinataire (coord. structure)")
    complement_point_geographique = _text("Complément point géographique (coord. structure)")
    numero_voie = _code("Numéro Voie (coord. structure)")
    indice_repetition_voie = _code("Indice répétition voie (coord. structure)")
    code_type_voie = _code("Code type de voie (coord. structure)")
    libelle_voie = _text("Libellé Voie (coord. structure)")
    mention_distribution = _text("Mention distribution (coord. structure)")
    bureau_cedex = _text("Bureau cedex (coord. structure)")
    code_postal = _code("Code postal (coord. structure)")
    code_commune = _code("Code commune (coord. structure)")
    code_pays = _code("Code pays (coord. structure)")
    telephone = _code("Téléphone (coord. structure)", 32)
    telephone2 = _code("Téléphone 2 (coord. structure)", 32)
    telecopie = _code("Télécopie (coord. structure)", 32)
    adresse_email = _text("Adresse e-mail (coord. structure)")
    code_departement = _code("Code Département (structure)")
    ancien_identifiant_structure = _code("Ancien identifiant de la structure", 64)
    autorite_enregistrement = _text("Autorité d'enregistrement", 64)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.raison_sociale_site or self.identifiant_technique_structure or str(self.pk)


# PSC claim name -> model field, in the order PSC lists them (psc-compat.md § UserInfo).
EXERCICE_PSC_FIELDS: dict[str, str] = {
    "codeProfession": "code_profession",
    "codeCategorieProfessionnelle": "code_categorie_professionnelle",
    "codeCiviliteDexercice": "code_civilite_exercice",
    "nomDexercice": "nom_exercice",
    "prenomDexercice": "prenom_exercice",
    "codeTypeSavoirFaire": "code_type_savoir_faire",
    "codeSavoirFaire": "code_savoir_faire",
}

ACTIVITY_PSC_FIELDS: dict[str, str] = {
    "codeModeExercice": "code_mode_exercice",
    "codeSecteurDactivite": "code_secteur_activite",
    "codeSectionPharmacien": "code_section_pharmacien",
    "codeRole": "code_role",
    "codeGenreActivite": "code_genre_activite",
    "numeroSiretSite": "numero_siret_site",
    "numeroSirenSite": "numero_siren_site",
    "numeroFinessSite": "numero_finess_site",
    "numeroFinessetablissementJuridique": "numero_finess_etablissement_juridique",
    "identifiantTechniqueDeLaStructure": "identifiant_technique_structure",
    "raisonSocialeSite": "raison_sociale_site",
    "enseigneCommercialeSite": "enseigne_commerciale_site",
    "complementDestinataire": "complement_destinataire",
    "complementPointGeographique": "complement_point_geographique",
    "numeroVoie": "numero_voie",
    "indiceRepetitionVoie": "indice_repetition_voie",
    "codeTypeDeVoie": "code_type_voie",
    "libelleVoie": "libelle_voie",
    "mentionDistribution": "mention_distribution",
    "bureauCedex": "bureau_cedex",
    "codePostal": "code_postal",
    "codeCommune": "code_commune",
    "codePays": "code_pays",
    "telephone": "telephone",
    "telephone2": "telephone2",
    "telecopie": "telecopie",
    "adresseEMail": "adresse_email",
    "codeDepartement": "code_departement",
    "ancienIdentifiantDeLaStructure": "ancien_identifiant_structure",
    "autoriteDenregistrement": "autorite_enregistrement",
}
