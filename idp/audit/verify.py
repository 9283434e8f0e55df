"""Walking the hash chain to prove the journal was not edited, pruned or reordered.

The walk is streamed in batches by keyset pagination on ``sequence`` (``WHERE sequence > last
ORDER BY sequence LIMIT n``): constant memory and an index range scan per batch, so it runs on a
journal of millions of events. It stops at the first broken link, which is the one that matters:
everything after it chains from a row that cannot be trusted.

What the chain alone cannot see: the removal of the *last* events (truncation), or a complete
rewrite of the table with recomputed hashes. Both change the head; compare with a head hash kept
outside the database (``anchor``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db import router

from idp.audit import chain
from idp.audit.models import AuditEvent

DEFAULT_BATCH_SIZE = 2000


class BreakReason(enum.StrEnum):
    HASH_MISMATCH = "hash_mismatch"
    SEQUENCE_GAP = "sequence_gap"
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    ANCHOR_MISMATCH = "anchor_mismatch"


EXPLANATIONS = {
    BreakReason.HASH_MISMATCH: "the event's stored hash does not match its contents: it was edited",
    BreakReason.SEQUENCE_GAP: "events are missing before it: they were deleted",
    BreakReason.PREV_HASH_MISMATCH: (
        "its prev_hash is not the previous event's hash: events were deleted, inserted or reordered"
    ),
    BreakReason.ANCHOR_MISMATCH: (
        "it does not match the anchored head kept outside the database: the journal was truncated "
        "or rewritten"
    ),
}


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of :func:`verify_chain`.

    ``checked`` counts the events found intact before the break (all of them when ``ok``);
    ``head_sequence``/``head_hash`` are those of the last intact event (``0``/genesis when the
    journal is empty): anchor them externally.
    """

    ok: bool
    checked: int
    head_sequence: int
    head_hash: str
    broken_sequence: int | None = None
    reason: BreakReason | None = None
    detail: str = ""


def verify_chain(
    batch_size: int = DEFAULT_BATCH_SIZE, *, anchor: tuple[int, str] | None = None
) -> VerificationResult:
    """Check every event's hash and its link to the previous one, from genesis to the head.

    ``anchor`` is a ``(sequence, hash)`` pair recorded earlier outside the database: the event at
    that sequence must still exist and still carry that hash.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    using = router.db_for_read(AuditEvent)
    fields = (*chain.HASHED_FIELDS, "hash")
    last_sequence, last_hash, checked = 0, chain.GENESIS_HASH, 0

    def broken(sequence: int, reason: BreakReason, detail: str) -> VerificationResult:
        return VerificationResult(
            ok=False,
            checked=checked,
            head_sequence=last_sequence,
            head_hash=last_hash,
            broken_sequence=sequence,
            reason=reason,
            detail=detail,
        )

    while True:
        batch = list(
            AuditEvent.objects.using(using)
            .filter(sequence__gt=last_sequence)
            .order_by("sequence")
            .values(*fields)[:batch_size]
        )
        for row in batch:
            sequence, stored_hash = row.pop("sequence"), row.pop("hash")
            try:
                expected_hash = chain.compute_hash(sequence=sequence, **row)
            except (TypeError, ValueError) as exc:
                return broken(sequence, BreakReason.HASH_MISMATCH, f"unhashable contents: {exc}")
            if stored_hash != expected_hash:
                return broken(
                    sequence,
                    BreakReason.HASH_MISMATCH,
                    f"stored {stored_hash}, contents hash to {expected_hash}",
                )
            if sequence != last_sequence + 1:
                return broken(
                    sequence,
                    BreakReason.SEQUENCE_GAP,
                    f"sequence jumps from {last_sequence} to {sequence}",
                )
            if row["prev_hash"] != last_hash:
                return broken(
                    sequence,
                    BreakReason.PREV_HASH_MISMATCH,
                    f"prev_hash {row['prev_hash']}, previous event's hash {last_hash}",
                )
            if anchor is not None and sequence == anchor[0] and stored_hash != anchor[1]:
                return broken(
                    sequence, BreakReason.ANCHOR_MISMATCH, f"hash {stored_hash}, anchor {anchor[1]}"
                )
            last_sequence, last_hash = sequence, stored_hash
            checked += 1
        if len(batch) < batch_size:
            break

    if anchor is not None and anchor[0] > last_sequence:
        return broken(
            anchor[0],
            BreakReason.ANCHOR_MISMATCH,
            f"the anchored event {anchor[0]} is beyond the head {last_sequence}",
        )
    return VerificationResult(
        ok=True, checked=checked, head_sequence=last_sequence, head_hash=last_hash
    )
