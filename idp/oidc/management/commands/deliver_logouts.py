"""``manage.py deliver_logouts [--once]``: retry back-channel logout deliveries that are due, and
CIBA ping notifications (OpenID CIBA Core 1.0 §10.2, :mod:`idp.oidc.ciba_delivery`).

The first attempt of each delivery is made in the web process right after the session ended (or
the card app answered); this worker makes the retries (exponential backoff,
``IDP_BACKCHANNEL_MAX_ATTEMPTS``) and picks up anything a stopped web process left behind.
Deploy it as a long-running service, or as a oneshot service with ``--once`` behind a timer
(every minute).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from idp.oidc import backchannel, ciba_delivery


class Command(BaseCommand):
    help = (
        "Deliver due back-channel logout tokens (OIDC Back-Channel Logout 1.0) and CIBA ping "
        "notifications (CIBA Core 1.0 §10.2), with retries."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit (timers).")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="Seconds between passes (default 5)."
        )
        parser.add_argument("--batch", type=int, default=100, help="Deliveries per pass.")

    def handle(self, *args: Any, once: bool, interval: float, batch: int, **options: Any) -> None:
        while True:
            delivered, failed = backchannel.deliver_due(limit=batch)
            pinged, ping_failed = ciba_delivery.deliver_due(limit=batch)
            if delivered or failed or once:
                self.stdout.write(f"delivered {delivered}, failed {failed}")
            if pinged or ping_failed or once:
                self.stdout.write(f"CIBA pings delivered {pinged}, failed {ping_failed}")
            if once:
                return
            if delivered + failed < batch and pinged + ping_failed < batch:
                time.sleep(interval)
            # A long-running worker must not hold a broken or expired connection (CONN_MAX_AGE).
            close_old_connections()
