"""Administrators see the SSO sessions and can end them (with back-channel logout to the clients).

Sessions are never edited or deleted here: ending one goes through ``sessions.end``, which revokes
its tokens, tells its relying parties and journals who did it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from idp.core.admin_mixins import ReadOnlyAdminMixin
from idp.oidc import sessions
from idp.oidc.models import SessionClient, SsoSession


class SessionClientInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SessionClient
    fields = ("client_id", "first_seen_at")
    readonly_fields = fields
    extra = 0


@admin.register(SsoSession)
class SsoSessionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "sid_prefix",
        "professional",
        "auth_mode",
        "acr",
        "created_at",
        "last_active_at",
        "expires_at",
        "ended_at",
        "end_reason",
    )
    list_filter = ("auth_mode", "acr", ("ended_at", admin.EmptyFieldListFilter))
    search_fields = ("professional__id_nat", "professional__sub", "sid")
    list_select_related = ("professional",)
    ordering = ("-created_at",)
    readonly_fields = (
        "sid",
        "professional",
        "auth_time",
        "acr",
        "amr",
        "auth_mode",
        "created_at",
        "last_active_at",
        "expires_at",
        "ended_at",
        "end_reason",
        "ip",
        "user_agent",
    )
    inlines = (SessionClientInline,)
    actions = ("end_selected",)

    @admin.display(description=_("session"))
    def sid_prefix(self, session: SsoSession) -> str:
        return f"{session.sid[:8]}…"

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The "end" action needs the change permission on the list; a single session's page
        # stays read-only: ending it is the only change the admin may make.
        return obj is None and request.user.has_perm("oidc.change_ssosession")

    @admin.action(description=_("End the selected sessions"), permissions=["change"])
    def end_selected(self, request: HttpRequest, queryset: QuerySet[SsoSession]) -> None:
        actor = f"admin:{request.user.get_username()}"
        count = 0
        for session in queryset.filter(ended_at__isnull=True).select_related("professional"):
            sessions.end(session, "admin", actor=actor)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d session ended.", "%(count)d sessions ended.", count)
            % {"count": count},
            messages.SUCCESS,
        )
