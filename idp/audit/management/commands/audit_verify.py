"""``manage.py audit_verify``: prove the security journal is intact, or name its first broken link.

Exit status: 0 intact, 2 broken (1 is Django's usual status for a usage error), so that a cron job
or a monitoring probe can tell tampering from a typo.

Each run is itself journalled, actor ``system:audit_verify``: ``audit:chain:verified`` with the
head that was checked, or ``audit:chain:broken`` with the first broken link. Recording on a broken
chain is deliberate: the new event chains from the current head and dates the detection, and it
cannot hide the break (verification still stops at the same first broken link). ``--no-record``
makes the run read-only, for a replica or a copy of the database.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from idp.audit import journal
from idp.audit.tags import EventTag
from idp.audit.verify import DEFAULT_BATCH_SIZE, EXPLANATIONS, VerificationResult, verify_chain

ACTOR = "system:audit_verify"
EXIT_BROKEN = 2
_ANCHOR = re.compile(r"(?P<sequence>[1-9][0-9]*):(?P<hash>[0-9a-f]{64})")


class Command(BaseCommand):
    help = (
        "Verify the audit journal's hash chain. Prints the head hash to keep outside the database, "
        "or the first broken event; exits with status 2 when the chain is broken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"events read per query (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--anchor",
            metavar="SEQUENCE:HASH",
            help="a head printed by an earlier run, kept outside the database; the event at that "
            "sequence must still carry that hash (detects truncation and full rewrites)",
        )
        parser.add_argument(
            "--no-record",
            action="store_true",
            help="do not journal this verification (read-only run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive")
        anchor = _parse_anchor(options["anchor"])
        result = verify_chain(options["batch_size"], anchor=anchor)
        if result.ok:
            self._report_intact(result, anchor)
        else:
            self._report_broken(result)
        if not options["no_record"]:
            self._record(result, anchor)
        if not result.ok:
            raise CommandError(
                f"audit chain broken at sequence {result.broken_sequence} ({result.reason})",
                returncode=EXIT_BROKEN,
            )

    def _report_intact(self, result: VerificationResult, anchor: tuple[int, str] | None) -> None:
        self.stdout.write(self.style.SUCCESS("Audit chain intact."))
        self.stdout.write(f"Events checked: {result.checked}")
        self.stdout.write(f"Head sequence:  {result.head_sequence}")
        self.stdout.write(f"Head hash:      {result.head_hash}")
        if anchor is not None:
            self.stdout.write(f"Anchor {anchor[0]} matches.")
        self.stdout.write(
            "Keep the head outside the database and pass it back later with "
            f"--anchor {result.head_sequence}:{result.head_hash}"
        )

    def _report_broken(self, result: VerificationResult) -> None:
        assert result.reason is not None  # noqa: S101 (a broken result always has a reason)
        self.stdout.write(self.style.ERROR("AUDIT CHAIN BROKEN."))
        self.stdout.write(f"First broken event: sequence {result.broken_sequence}")
        self.stdout.write(f"Reason:             {result.reason}: {EXPLANATIONS[result.reason]}")
        self.stdout.write(f"Detail:             {result.detail}")
        self.stdout.write(
            f"Intact before it:   {result.checked} events, up to sequence "
            f"{result.head_sequence} (hash {result.head_hash})"
        )

    def _record(self, result: VerificationResult, anchor: tuple[int, str] | None) -> None:
        if result.ok:
            journal.record(
                EventTag.AUDIT_CHAIN_VERIFIED,
                actor=ACTOR,
                data={
                    "checked": result.checked,
                    "head_sequence": result.head_sequence,
                    "head_hash": result.head_hash,
                    "anchor_sequence": anchor[0] if anchor else None,
                },
            )
        else:
            journal.record(
                EventTag.AUDIT_CHAIN_BROKEN,
                actor=ACTOR,
                data={
                    "broken_sequence": result.broken_sequence,
                    "reason": str(result.reason),
                    "detail": result.detail,
                    "checked": result.checked,
                },
            )


def _parse_anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    match = _ANCHOR.fullmatch(value.strip().lower())
    if match is None:
        raise CommandError("--anchor must be SEQUENCE:HASH, e.g. 1234:<64 hex digits>")
    return int(match["sequence"]), match["hash"]
