"""Administration of professionals: read the registry's data, suspend and reactivate.

Everything about a professional comes from the registry synchronisation (identifiers, names,
exercices, activities, correspondence email and mobile), so the admin shows it read-only: an
edited mobile number would be a way to take over the card app's activation. Administrators act on
professionals only through the *suspend* and *reactivate* actions, which ask for a reason on an
intermediate page and go through ``idp.accounts.services`` (state change + audit event, actor
``admin:<username>``), and the *issue a card app activation code* action (in-person enrolment,
``idp.authn.card.activation``; the code is shown once). Nothing is deleted from the admin:
departures are deactivations, done by the registry synchronisation.

The site is the project's OTP admin site (``idp.core.admin_site``); ``admin.register`` targets it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from idp.accounts import codes, services
from idp.accounts.models import Activity, Exercice, OtherId, Professional
from idp.authn.card import activation
from idp.authn.card.errors import CardError
from idp.authn.card.models import ActivationMethod
from idp.core.admin_mixins import ReadOnlyAdminMixin

SUSPEND_PERMISSION = "accounts.suspend_professional"
# Issuing a card app activation code lets its bearer enrol a phone as this professional.
CARD_ACTIVATION_PERMISSION = "authn.add_cardactivation"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Recorded in the security journal with your name."),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required."), code="required")
        return reason


class OtherIdInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OtherId
    fields = ("identifiant", "origine", "qualite")
    extra = 0


class ExerciceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Exercice
    fields = (
        "position",
        "profession",
        "code_categorie_professionnelle",
        "code_civilite_exercice",
        "nom_exercice",
        "prenom_exercice",
        "savoir_faire",
    )
    readonly_fields = ("profession", "savoir_faire")
    extra = 0
    show_change_link = True

    @admin.display(description=_("profession"))
    def profession(self, obj: Exercice) -> str:
        return codes.labelled("profession", obj.code_profession)

    @admin.display(description=_("savoir-faire"))
    def savoir_faire(self, obj: Exercice) -> str:
        if not obj.code_savoir_faire:
            return ""
        kind = codes.label("type_savoir_faire", obj.code_type_savoir_faire)
        text = codes.labelled("savoir_faire", obj.code_savoir_faire)
        return f"{text} ({kind})" if kind else text


class ProfessionFilter(admin.SimpleListFilter):
    title = _("profession")
    parameter_name = "profession"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # From the code table, not from SELECT DISTINCT over millions of exercices.
        return sorted(
            ((code, codes.labelled("profession", code)) for code in codes.table("profession")),
            key=lambda item: item[1],
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(exercices__code_profession=self.value()).distinct()
        return queryset


@admin.register(Professional)
class ProfessionalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id_nat", "name", "main_profession", "status")
    list_filter = ("status", ProfessionFilter, "identifier_type")
    search_fields = (
        "=id_nat",
        "family_name",
        "exercices__nom_exercice",
        "exercices__prenom_exercice",
    )
    search_help_text = _("National id (exact) or name.")
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over two million rows on every page is wasteful
    ordering = ("id_nat",)
    actions = ("suspend_selected", "reactivate_selected", "issue_card_activation_code")
    inlines = (OtherIdInline, ExerciceInline)
    readonly_fields = ("sub", "status", "activities_summary", "created_at", "updated_at")
    fieldsets = (
        (
            _("Identity"),
            {"fields": ("sub", "id_nat", "identifier_type", "identifier", "status")},
        ),
        (
            _("Civil data"),
            {"fields": ("civility_code", "family_name", "given_names", "birth_date", "sex_code")},
        ),
        (
            _("Suspension and deactivation"),
            {
                "fields": (
                    "suspended_at",
                    "suspended_by",
                    "suspension_reason",
                    "deactivated_at",
                    "deactivation_reason",
                )
            },
        ),
        (_("Correspondence"), {"fields": ("email", "mobile")}),
        (_("Activities"), {"fields": ("activities_summary",)}),
        (
            _("Registry"),
            {
                "fields": (
                    "registry_source",
                    "registry_extract",
                    "registry_seen_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("exercices")

    # --- permissions ------------------------------------------------------------------------------

    def has_suspend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SUSPEND_PERMISSION)

    def has_issue_card_code_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CARD_ACTIVATION_PERMISSION)

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description=_("name"))
    def name(self, obj: Professional) -> str:
        return obj.display_name

    @admin.display(description=_("main profession"))
    def main_profession(self, obj: Professional) -> str:
        exercice = obj.main_exercice()
        if exercice is None:
            return ""
        return codes.label("profession", exercice.code_profession) or exercice.code_profession

    @admin.display(description=_("activities"))
    def activities_summary(self, obj: Professional) -> str:
        rows = [
            (
                activity.raison_sociale_site or activity.identifiant_technique_structure,
                codes.labelled("mode_exercice", activity.code_mode_exercice),
                codes.labelled("secteur_activite", activity.code_secteur_activite),
                activity.bureau_cedex or activity.code_postal,
            )
            for activity in Activity.objects.filter(exercice__professional=obj).order_by(
                "exercice__position", "exercice_id", "position", "id"
            )
        ]
        if not rows:
            return ""
        return format_html(
            "<ol>{}</ol>",
            format_html_join("", "<li>{} / {} / {} / {}</li>", rows),
        )

    # --- actions ----------------------------------------------------------------------------------

    @admin.action(description=_("Suspend the selected professionals"), permissions=["suspend"])
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._status_action(
            request,
            queryset,
            operation=services.suspend,
            title=_("Suspend professionals"),
            intro=_(
                "The professionals below will no longer be able to log in until an administrator "
                "reactivates them."
            ),
            done_message=ngettext_lazy(
                "%(count)d professional suspended.", "%(count)d professionals suspended.", "count"
            ),
        )

    @admin.action(description=_("Reactivate the selected professionals"), permissions=["suspend"])
    def reactivate_selected(
        self, request: HttpRequest, queryset: QuerySet
    ) -> TemplateResponse | None:
        return self._status_action(
            request,
            queryset,
            operation=services.reactivate,
            title=_("Reactivate professionals"),
            intro=_(
                "The suspension of the professionals below will be lifted. Professionals the "
                "registry no longer lists stay deactivated."
            ),
            done_message=ngettext_lazy(
                "%(count)d professional reactivated.",
                "%(count)d professionals reactivated.",
                "count",
            ),
        )

    @admin.action(
        description=_("Issue a card app activation code"), permissions=["issue_card_code"]
    )
    def issue_card_activation_code(self, request: HttpRequest, queryset: QuerySet) -> None:
        """An in-person activation code for one professional, shown once in a message.

        Check the holder's identity first: whoever has the code can enrol a phone in their name.
        """
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(
                request, _("Select exactly one professional to issue a code."), messages.ERROR
            )
            return
        professional = selected[0]
        try:
            issued = activation.issue_code(
                professional,
                ActivationMethod.ADMIN,
                actor=f"admin:{request.user.get_username()}",
                request=request,
            )
        except CardError as exc:
            self.message_user(
                request, f"{professional.id_nat}: {exc.message('en')}", messages.ERROR
            )
            return
        self.message_user(
            request,
            _(
                "Card app activation code for %(professional)s: %(code)s (single use, valid "
                "until %(expires)s). Give it to the holder in person; it will not be shown again."
            )
            % {
                "professional": professional,
                "code": issued.code,
                "expires": issued.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            },
            messages.SUCCESS,
        )

    def _status_action(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        operation: Any,
        title: str,
        intro: str,
        done_message: str,
    ) -> TemplateResponse | None:
        """Ask for a reason on an intermediate page, then apply ``operation`` to each one."""
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            actor = f"admin:{request.user.get_username()}"
            done = 0
            for professional in queryset:
                try:
                    operation(
                        professional, by=actor, reason=form.cleaned_data["reason"], request=request
                    )
                except services.TransitionError as exc:
                    self.message_user(request, f"{professional.id_nat}: {exc}", messages.WARNING)
                else:
                    done += 1
            if done:
                self.message_user(request, done_message % {"count": done}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/professional/status_change.html", context)


class ActivityInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = Activity
    extra = 0
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "position",
                    ("code_mode_exercice", "code_secteur_activite", "code_genre_activite"),
                    ("code_role", "code_section_pharmacien"),
                )
            },
        ),
        (
            _("Site"),
            {
                "fields": (
                    "identifiant_technique_structure",
                    ("raison_sociale_site", "enseigne_commerciale_site"),
                    ("numero_siret_site", "numero_siren_site"),
                    ("numero_finess_site", "numero_finess_etablissement_juridique"),
                    "ancien_identifiant_structure",
                    "autorite_enregistrement",
                )
            },
        ),
        (
            _("Address"),
            {
                "fields": (
                    "complement_destinataire",
                    "complement_point_geographique",
                    ("numero_voie", "indice_repetition_voie", "code_type_voie", "libelle_voie"),
                    "mention_distribution",
                    ("code_postal", "bureau_cedex"),
                    ("code_commune", "code_departement", "code_pays"),
                    ("telephone", "telephone2", "telecopie", "adresse_email"),
                )
            },
        ),
    )


@admin.register(Exercice)
class ExerciceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Reached from a professional's page (not listed on the admin index)."""

    list_display = ("professional", "code_profession", "nom_exercice", "prenom_exercice")
    list_select_related = ("professional",)
    search_fields = ("=professional__id_nat",)
    inlines = (ActivityInline,)
    fields = (
        "professional",
        "position",
        ("code_profession", "code_categorie_professionnelle"),
        ("code_civilite_exercice", "nom_exercice", "prenom_exercice"),
        ("code_type_savoir_faire", "code_savoir_faire"),
    )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False
