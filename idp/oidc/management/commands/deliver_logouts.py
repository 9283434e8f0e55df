"""``manage.py deliver_logouts [--once]``: retry back-channel logout deliveries that are due.

The first attempt of each delivery is made in the web process right after the session ended;
this worker makes the retries (exponential backoff, ``IDP_BACKCHANNEL_MAX_ATTEMPTS``) and picks up
anything a stopped web process left behind. Deploy it as a long-running service, or as a oneshot
service with ``--once`` behind a timer (every minute).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from idp.oidc import backchannel


class Command(BaseCommand):
    help = "Deliver due back-channel logout tokens (OIDC Back-Channel Logout 1.0), with retries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit (timers).")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="Seconds between passes (default 5)."
        )
        parser.add_argument("--batch", type=int, default=100, help="Deliveries per pass.")

    def handle(self, *args: Any, once: bool, interval: float, batch: int, **options: Any) -> None:
        while True:
            delivered, failed = backchannel.deliver_due(limit=batch)
            if delivered or failed or once:
                self.stdout.write(f"delivered {delivered}, failed {failed}")
            if once:
                return
            if delivered + failed < batch:
                time.sleep(interval)
            # A long-running worker must not hold a broken or expired connection (CONN_MAX_AGE).
            close_old_connections()
