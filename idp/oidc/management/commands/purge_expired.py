"""Delete protocol records that can no longer matter (run periodically: deploy/caducee-purge.timer).

Expired codes and refresh tokens are kept a day after expiry so that a late replay is still
recognised (and journaled) as one; revocations are kept until no token they concern can be valid.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from idp.oidc.revocation import purge_expired


class Command(BaseCommand):
    help = "Delete expired codes, refresh tokens, revocations and used client assertion ids."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = purge_expired()
        for table, count in counts.items():
            self.stdout.write(f"{table}: {count} deleted")
