"""Second factors in the admin: administrators' TOTP devices, card app devices and activations.

Administrators' TOTP devices: visible, removable, never showing or taking a seed.

Enrolment needs the seed shown once to the person enrolling, so it stays on the command line
(``manage.py admin_totp``); the admin only lists devices and can remove them (journaled).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.authn.card import devices
from idp.authn.models import CardActivation, CardDevice, StaffTOTPDevice
from idp.core.admin_mixins import ReadOnlyAdminMixin


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


# --- the card app ------------------------------------------------------------------------------
# Devices are enrolled by the holder's phone (its key and PIN never pass through an
# administrator), so the admin only lists them and acts through idp.authn.card.devices: revoke a
# lost phone, lift a PIN block after checking who the holder is. PIN hashes, salts and TOTP seeds
# are never shown. Activations are the journal of codes issued, read-only, hashes hidden.

CARD_DEVICE_CHANGE_PERMISSION = "authn.change_carddevice"


@admin.register(CardDevice)
class CardDeviceAdmin(admin.ModelAdmin):
    list_display = [
        "professional",
        "name",
        "status_label",
        "activated_by",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    list_filter = ["activated_by"]
    search_fields = ["=professional__id_nat", "=kid", "name"]
    search_help_text = _("National id (exact), key id (exact) or device name.")
    list_select_related = ["professional"]
    show_full_result_count = False
    actions = ["revoke_selected", "unblock_selected"]
    fields = [
        "professional",
        "name",
        "kid",
        "status_label",
        "activated_by",
        "pin_failures",
        "blocked_at",
        "revoked_at",
        "revoked_reason",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("status"))
    def status_label(self, device: CardDevice) -> str:
        return device.status

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A device is a key held by a phone: only the phone can enrol it (activation).
        return False

    def has_change_permission(self, request: HttpRequest, obj: CardDevice | None = None) -> bool:
        return False  # the actions below are the only changes

    def has_delete_permission(self, request: HttpRequest, obj: CardDevice | None = None) -> bool:
        return False  # revoke instead: the row stays for the journal and the holder's list

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CARD_DEVICE_CHANGE_PERMISSION)

    has_unblock_permission = has_revoke_permission

    @admin.action(description=_("Revoke the selected card app devices"), permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[CardDevice]) -> None:
        actor = f"admin:{request.user.get_username()}"
        done = sum(
            devices.revoke(device, actor=actor, reason="admin", request=request)
            for device in queryset.select_related("professional")
        )
        self.message_user(
            request,
            ngettext("%(count)d device revoked.", "%(count)d devices revoked.", done)
            % {"count": done},
            messages.SUCCESS if done else messages.WARNING,
        )

    @admin.action(description=_("Unblock the selected card app devices"), permissions=["unblock"])
    def unblock_selected(self, request: HttpRequest, queryset: QuerySet[CardDevice]) -> None:
        actor = f"admin:{request.user.get_username()}"
        done = sum(
            devices.unblock(device, actor=actor, request=request)
            for device in queryset.select_related("professional")
        )
        self.message_user(
            request,
            ngettext("%(count)d device unblocked.", "%(count)d devices unblocked.", done)
            % {"count": done},
            messages.SUCCESS if done else messages.WARNING,
        )


@admin.register(CardActivation)
class CardActivationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "professional",
        "method",
        "created_by",
        "created_at",
        "expires_at",
        "consumed_at",
        "attempts",
    ]
    list_filter = ["method"]
    search_fields = ["=professional__id_nat", "created_by"]
    list_select_related = ["professional"]
    show_full_result_count = False
    # The code hashes are not shown (they are not secrets, but nobody needs them).
    fields = [
        "professional",
        "method",
        "created_by",
        "created_at",
        "expires_at",
        "consumed_at",
        "attempts",
        "device",
    ]
    readonly_fields = fields
