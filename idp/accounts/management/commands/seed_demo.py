"""``manage.py seed_demo``: create the fictitious demonstration professionals, idempotently."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from idp.accounts import codes
from idp.accounts.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Create demonstration professionals (test-range RPPS numbers starting with 997). "
        "Existing ones, matched by idNat, are left untouched: running it twice changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even when DEBUG is off (the professionals are fictitious).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates fictitious professionals; it runs only with IDP_DEBUG=1 "
                "(or --force)."
            )
        results = seed_demo()
        rows = [
            (
                professional.id_nat,
                professional.display_name,
                self._profession(professional),
                "created" if created else "exists",
            )
            for professional, created in results
        ]
        header = ("idNat", "name", "profession", "")
        widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
        for row in (header, *rows):
            cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
        created = sum(1 for _, was_created in results if was_created)
        self.stdout.write(
            self.style.SUCCESS(f"{created} created, {len(results) - created} already present.")
        )

    @staticmethod
    def _profession(professional: Any) -> str:
        exercice = professional.main_exercice()
        if exercice is None:
            return ""
        return codes.label("profession", exercice.code_profession) or exercice.code_profession
