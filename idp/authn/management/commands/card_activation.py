"""``manage.py card_activation IDNAT [--json]``: an in-person activation code for the card app.

For a holder who cannot receive the self-service codes (no email or mobile on record) or who
comes to a registration desk: after checking their identity, the operator runs this command and
hands over the code (or shows the QR code). The code is valid ``IDP_CARD_ADMIN_CODE_SECONDS``
(a week by default), works once, and is shown only here: the database keeps its keyed hash.
Journaled as ``authn:card:activation_started`` with the operating-system account as actor.
"""

from __future__ import annotations

import getpass
import io
import json
from typing import Any

import segno
from django.core.management.base import BaseCommand, CommandError, CommandParser

from idp.accounts.models import Professional
from idp.authn.card import activation
from idp.authn.card.errors import CardError
from idp.authn.card.models import ActivationMethod


def cli_actor() -> str:
    """Who runs the command, for the journal: the operating-system account if there is one."""
    try:
        return f"admin:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        return "system:command"


class Command(BaseCommand):
    help = "Issue a one-time card app activation code for a professional (in-person enrolment)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id_nat", help="The professional's national identifier (idNat).")
        parser.add_argument(
            "--json", action="store_true", help="Print {id_nat, code, uri, expires_at} as JSON."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        id_nat = options["id_nat"].strip()
        professional = Professional.objects.filter(id_nat=id_nat).first()
        if professional is None:
            raise CommandError(f"No professional has the idNat {id_nat!r}.")
        try:
            issued = activation.issue_code(professional, ActivationMethod.ADMIN, actor=cli_actor())
        except CardError as exc:
            raise CommandError(f"{id_nat}: {exc.message('en')}") from exc
        expires_at = issued.expires_at.isoformat()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "id_nat": professional.id_nat,
                        "code": issued.code,
                        "uri": issued.uri,
                        "expires_at": expires_at,
                    }
                )
            )
            return
        buffer = io.StringIO()
        segno.make(issued.uri, error="m").terminal(out=buffer, compact=True)
        self.stdout.write(buffer.getvalue(), ending="")
        self.stdout.write(f"Professional:    {professional}")
        self.stdout.write(f"Activation code: {issued.code}")
        self.stdout.write(f"QR URI:          {issued.uri}")
        self.stdout.write(f"Valid until:     {expires_at} (single use)")
        self.stdout.write(
            "Give the code to the holder in person; it is not shown again. "
            "In the app: Activate > Code from an administrator."
        )
