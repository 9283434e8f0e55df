"""Delete protocol records that can no longer matter (run periodically: deploy/caducee-purge.timer).

Expired codes and refresh tokens are kept a day after expiry so that a late replay is still
recognised (and journaled) as one; revocations are kept until no token they concern can be valid.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from idp.authn.card import purge as card_purge
from idp.oidc.revocation import purge_expired


class Command(BaseCommand):
    help = (
        "Delete expired codes, refresh tokens, revocations, used client assertion ids, CIBA "
        "requests and card app challenges and activations."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = {**purge_expired(), **card_purge.purge_expired()}
        for table, count in counts.items():
            self.stdout.write(f"{table}: {count} deleted")
