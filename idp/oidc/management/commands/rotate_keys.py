"""``manage.py rotate_keys``: move the signing keys one step along, without breaking a token.

Each run, per algorithm (idp/oidc/keys.py § plan_rotation):

* retires ``previous`` keys older than the longest token lifetime (plus leeway);
* creates an ``active`` key if there is none (first setup), otherwise a ``next`` key if there is
  none: published in the JWKS, not signing;
* otherwise promotes ``next`` to ``active`` (and the active key to ``previous``), but only once the
  next key has been published for ``keys.PUBLISH_DELAY_SECONDS`` (``--force`` overrides), so that
  relying parties' JWKS caches know it before the first token it signs.

A routine rotation is therefore two runs at least an hour apart (a daily cron job does it). Every
change is journalled (``oidc:keys:rotated``, actor ``cli:<os user>``). ``--status`` only prints.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Max

from idp.audit import journal
from idp.audit.tags import EventTag
from idp.oidc import keys


def longest_token_lifetime() -> int:
    """Seconds a token signed now may stay valid: provider defaults and per-client lifetimes.

    Only JWTs count: refresh tokens are opaque (stored as HMACs), unaffected by key rotation.
    """
    from relying_parties.models import Client  # the CLI reads clients; idp.oidc does not import it

    per_client = Client.objects.aggregate(
        access=Max("access_token_lifetime"), id=Max("id_token_lifetime")
    )
    return max(
        settings.IDP_ACCESS_TOKEN_SECONDS,
        settings.IDP_ID_TOKEN_SECONDS,
        per_client["access"] or 0,
        per_client["id"] or 0,
    )


def minimum_retire_after() -> int:
    return longest_token_lifetime() + keys.RETIRE_LEEWAY_SECONDS


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers running as a bare uid)
        user = "unknown"
    return f"cli:{user}"


def _fmt(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


class Command(BaseCommand):
    help = "Rotate the token signing keys one step (next -> active -> previous -> retired)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--alg", choices=[*keys.ALGORITHMS, "all"], default="all", help="Default: all."
        )
        parser.add_argument("--status", action="store_true", help="Print the keys and exit.")
        parser.add_argument(
            "--retire-after",
            type=int,
            default=None,
            metavar="SECONDS",
            help="Keep previous keys this long after they stop signing "
            "(default and minimum: the longest token lifetime + leeway).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Promote the next key before its publish delay, or retire keys early.",
        )
        parser.add_argument(
            "--rsa-bits", type=int, choices=[2048, 3072, 4096], default=keys.DEFAULT_RSA_BITS
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if getattr(settings, "IDP_SIGNING_JWKS", "") and options["status"]:
            self._print_records(keys.get_keystore().records, "IDP_SIGNING_JWKS", 0)
            return
        if getattr(settings, "IDP_SIGNING_JWKS", ""):
            raise CommandError(
                "Keys come from IDP_SIGNING_JWKS: rotate them there (add the new key with "
                '"state": "next", later mark it active and the old one previous).'
            )
        directory = Path(settings.IDP_KEY_DIR)
        minimum = minimum_retire_after()
        retire_after = options["retire_after"]
        if retire_after is None:
            retire_after = minimum
        elif retire_after < minimum and not options["force"]:
            raise CommandError(
                f"--retire-after {retire_after} is shorter than the longest token lifetime plus "
                f"leeway ({minimum} s): tokens still valid would stop verifying. Use --force."
            )
        if options["status"]:
            self._print_status(directory, retire_after)
            return
        algorithms = keys.ALGORITHMS if options["alg"] == "all" else (options["alg"],)
        actor = _actor()
        for alg in algorithms:

            def audit(change: keys.Change) -> None:
                journal.record(
                    EventTag.OIDC_KEYS_ROTATED,
                    actor=actor,
                    subject=change.kid,
                    data={"action": change.action, "alg": change.alg, "key_dir": str(directory)},
                )

            # The journal entries and the files succeed or fail together (keys.rotate).
            with transaction.atomic():
                changes = keys.rotate(
                    directory,
                    alg,
                    retire_after=retire_after,
                    force=options["force"],
                    rsa_bits=options["rsa_bits"],
                    audit=audit,
                )
            for change in changes:
                line = f"{alg}: {change.action} {change.kid}".rstrip()
                if change.detail:
                    line += f" ({change.detail})"
                style = self.style.WARNING if change.action == "waiting" else self.style.SUCCESS
                self.stdout.write(style(line))
        self._print_status(directory, retire_after)

    def _print_status(self, directory: Path, retire_after: int) -> None:
        records = keys.read_manifest(directory)
        if records is None:
            self.stdout.write(f"No manifest in {directory}.")
            return
        self._print_records(records, str(directory), retire_after)

    def _print_records(
        self, records: Sequence[keys.KeyRecord], source: str, retire_after: int
    ) -> None:
        self.stdout.write(f"Keys in {source} (previous keys retire {retire_after} s after):")
        header = f"{'kid':<44} {'alg':<6} {'state':<9} {'created':<21} {'activated':<21} "
        self.stdout.write(header + f"{'deactivated':<21} retire/promote after")
        for r in records:
            if r.state is keys.State.PREVIOUS and r.deactivated_at:
                when = _fmt(r.deactivated_at + dt.timedelta(seconds=retire_after))
            elif r.state is keys.State.NEXT:
                when = _fmt(r.created_at + dt.timedelta(seconds=keys.PUBLISH_DELAY_SECONDS))
            else:
                when = "-"
            self.stdout.write(
                f"{r.kid:<44} {r.alg:<6} {r.state.value:<9} {_fmt(r.created_at):<21} "
                f"{_fmt(r.activated_at):<21} {_fmt(r.deactivated_at):<21} {when}"
            )
