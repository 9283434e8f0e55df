"""``manage.py reencrypt_totp_seeds``: re-encrypt stored TOTP seeds under the newest field key.

Key rotation (see idp.core.crypto): put the new key first in IDP_FIELD_ENCRYPTION_KEYS and deploy,
run this command, then remove the old key. Seeds never leave the process in clear.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from idp.authn.models import StaffTOTPDevice


class Command(BaseCommand):
    help = "Re-encrypt every stored TOTP seed under the newest key of IDP_FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        for pk in StaffTOTPDevice.objects.values_list("pk", flat=True).iterator():
            # One short transaction per device, locking the row so that a concurrent login's
            # update of last_t is neither lost nor overwritten.
            with transaction.atomic():
                device = StaffTOTPDevice.objects.select_for_update().filter(pk=pk).first()
                if device is None:
                    continue
                device.reencrypt_seed()
                device.save(update_fields=["encrypted_seed"])
                count += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} TOTP seed(s)."))
