"""Administrators' TOTP devices in the admin: visible, removable, never showing or taking a seed.

Enrolment needs the seed shown once to the person enrolling, so it stays on the command line
(``manage.py admin_totp``); the admin only lists devices and can remove them (journaled).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.authn.models import StaffTOTPDevice


@admin.register(StaffTOTPDevice)
class StaffTOTPDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at", "throttled"]
    list_filter = ["confirmed"]
    search_fields = ["user__username", "name"]
    list_select_related = ["user"]
    # The seed (even encrypted) is never displayed; verification state is not editable by hand.
    fields = [
        "user",
        "name",
        "confirmed",
        "digits",
        "step",
        "tolerance",
        "drift",
        "last_t",
        "throttling_failure_count",
        "throttling_failure_timestamp",
        "created_at",
        "last_used_at",
    ]
    readonly_fields = [field for field in fields if field != "name"]

    @admin.display(boolean=True, description=_("throttled"))
    def throttled(self, device: StaffTOTPDevice) -> bool:
        return device.throttling_failure_count > 0

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A seed created here could never be shown to its owner: use `manage.py admin_totp`.
        return False

    def delete_model(self, request: HttpRequest, obj: StaffTOTPDevice) -> None:
        username = obj.user.get_username()
        super().delete_model(request, obj)
        record(
            EventTag.ADMIN_TOTP_REMOVED,
            actor=f"admin:{request.user.get_username()}",
            subject=f"admin:{username}",
            request=request,
            data={"reason": "admin"},
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StaffTOTPDevice]) -> None:
        usernames = sorted({d.user.get_username() for d in queryset.select_related("user")})
        super().delete_queryset(request, queryset)
        for username in usernames:
            record(
                EventTag.ADMIN_TOTP_REMOVED,
                actor=f"admin:{request.user.get_username()}",
                subject=f"admin:{username}",
                request=request,
                data={"reason": "admin"},
            )
