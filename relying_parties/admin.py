"""Administration of relying parties (OAuth clients).

A client secret is never displayed: only its creation date. A new secret is produced in two cases,
and shown exactly once, on a page that is not cached (``Cache-Control: no-store``) and whose
value is never put in a message, a log or the journal:

* when a confidential client (client_secret_basic / client_secret_post) is added;
* with the *rotate secret* action, after a confirmation: the old secret stops working at once.

Both are journaled (``oidc:client:created``, ``oidc:client:secret_rotated``). Every save drops
this worker's cached copy of the client; other workers see the change within
``registry.CACHE_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.core.management import CommandError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.core import hashing
from relying_parties import registry
from relying_parties.management.commands.create_client import validate_uri
from relying_parties.models import Client

SECRET_METHODS = frozenset(
    {Client.AuthMethod.CLIENT_SECRET_BASIC, Client.AuthMethod.CLIENT_SECRET_POST}
)
_SHOWN_TEMPLATE = "admin/relying_parties/client/secret.html"


def _formfield(db_field: models.Field, **kwargs: Any) -> forms.Field | None:
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class ClientForm(forms.ModelForm):
    class Meta:
        model = Client
        formfield_callback = _formfield
        # Never the secret hash: it is replaced only through the rotate action.
        fields = (
            "client_id",
            "name",
            "is_active",
            "application_type",
            "token_endpoint_auth_method",
            "jwks",
            "jwks_uri",
            "tls_client_auth_subject_dn",
            "redirect_uris",
            "post_logout_redirect_uris",
            "backchannel_logout_uri",
            "backchannel_logout_session_required",
            "ciba_mode",
            "ciba_notification_endpoint",
            "grant_types",
            "response_types",
            "allowed_scopes",
            "require_pkce",
            "allow_plain_pkce",
            "id_token_signed_response_alg",
            "access_token_signed_response_alg",
            "userinfo_signed_response_alg",
            "access_token_lifetime",
            "refresh_token_lifetime",
            "id_token_lifetime",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "client_id" in self.fields:
            self.fields["client_id"].required = False
            self.fields["client_id"].help_text = _("Leave empty for a random identifier.")

    def _uris(self, name: str, what: str) -> list[str]:
        value = self.cleaned_data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
            raise ValidationError(_("A JSON list of URIs is expected."))
        try:
            return [validate_uri(u, what=what) for u in value]
        except CommandError as exc:
            raise ValidationError(str(exc)) from None

    def clean_redirect_uris(self) -> list[str]:
        return self._uris("redirect_uris", "redirect URI")

    def clean_post_logout_redirect_uris(self) -> list[str]:
        return self._uris("post_logout_redirect_uris", "post-logout redirect URI")

    def clean_ciba_notification_endpoint(self) -> str:
        """Validated like a back-channel logout URI: the provider POSTs to it (CIBA §10.2)."""
        uri = self.cleaned_data.get("ciba_notification_endpoint") or ""
        if uri:
            try:
                validate_uri(uri, what="CIBA notification endpoint")
            except CommandError as exc:
                raise ValidationError(str(exc)) from None
        return uri

    def clean_backchannel_logout_uri(self) -> str:
        uri = self.cleaned_data.get("backchannel_logout_uri") or ""
        if uri:
            try:
                validate_uri(uri, what="back-channel logout URI")
            except CommandError as exc:
                raise ValidationError(str(exc)) from None
        return uri


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    form = ClientForm
    list_display = ("name", "client_id", "token_endpoint_auth_method", "is_active", "created_at")
    list_filter = ("is_active", "token_endpoint_auth_method", "application_type")
    search_fields = ("name", "client_id")
    readonly_fields = ("secret_created_at", "created_at", "updated_at")
    actions = ("rotate_secret",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The client_id is what relying parties are configured with: fixed once created.
        return (*self.readonly_fields, "client_id") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Client, form: Any, change: bool) -> None:
        secret = ""
        if not change:
            if not obj.client_id:
                obj.client_id = hashing.new_secret(18)
            if obj.token_endpoint_auth_method in SECRET_METHODS:
                secret = registry.set_new_secret(obj)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if not change:
                record(
                    EventTag.OIDC_CLIENT_CREATED,
                    actor=f"admin:{request.user.get_username()}",
                    subject=f"client:{obj.client_id}",
                    request=request,
                    data={
                        "client_id": obj.client_id,
                        "name": obj.name,
                        "auth_method": obj.token_endpoint_auth_method,
                    },
                )
        registry.forget(obj.client_id)
        request._new_client_secret = secret  # shown by response_add, never stored

    def response_add(self, request: HttpRequest, obj: Client, *args: Any) -> HttpResponse:
        secret = getattr(request, "_new_client_secret", "")
        if secret:
            return self._show_secrets(request, [(obj, secret)], _("Client registered"))
        return super().response_add(request, obj, *args)

    @admin.action(description=_("Rotate the secret of the selected clients"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        clients = [c for c in queryset if c.token_endpoint_auth_method in SECRET_METHODS]
        if not clients:
            self.message_user(request, _("None of the selected clients uses a secret."))
            return None
        if "apply" not in request.POST:
            return self._render(
                request,
                {
                    "title": _("Rotate client secrets"),
                    "confirm": True,
                    "clients": clients,
                    "action": request.POST.get("action", ""),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        actor = f"admin:{request.user.get_username()}"
        shown: list[tuple[Client, str]] = []
        with transaction.atomic():
            for client in clients:
                secret = registry.set_new_secret(client)
                client.save(update_fields=["secret_hash", "secret_created_at", "updated_at"])
                record(
                    EventTag.OIDC_CLIENT_SECRET_ROTATED,
                    actor=actor,
                    subject=f"client:{client.client_id}",
                    request=request,
                    data={"client_id": client.client_id},
                )
                shown.append((client, secret))
        for client, _secret in shown:
            registry.forget(client.client_id)
        return self._show_secrets(request, shown, _("New client secrets"))

    def _show_secrets(
        self, request: HttpRequest, shown: list[tuple[Client, str]], title: str
    ) -> HttpResponse:
        return self._render(request, {"title": title, "confirm": False, "shown": shown})

    def _render(self, request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
        request.current_app = self.admin_site.name
        response = TemplateResponse(
            request,
            _SHOWN_TEMPLATE,
            {**self.admin_site.each_context(request), "opts": self.model._meta, **context},
        )
        response["Cache-Control"] = "no-store"
        return response
