"""Verification of the chain: intact, then each way an attacker with the database could cheat."""

from __future__ import annotations

import pytest

from idp.audit import chain
from idp.audit.journal import record
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import BreakReason, verify_chain
from tests.audit.tampering import delete_events, rewrite_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def journal(db):
    """Seven events, enough for several batches of three."""
    return [
        record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor=f"admin:user{n}", data={"n": n})
        for n in range(1, 8)
    ]


def test_an_empty_journal_verifies_from_genesis():
    result = verify_chain()
    assert result.ok
    assert (result.checked, result.head_sequence, result.head_hash) == (0, 0, chain.GENESIS_HASH)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_an_intact_chain_verifies_whatever_the_batch_size(journal, batch_size):
    result = verify_chain(batch_size=batch_size)
    assert result.ok
    assert result.checked == 7
    assert result.head_sequence == 7
    assert result.head_hash == journal[-1].hash
    assert result.broken_sequence is None and result.reason is None


def test_batches_are_bounded_queries(journal, django_assert_num_queries):
    with django_assert_num_queries(3):  # 3 + 3 + 1 rows, the short batch ends the walk
        assert verify_chain(batch_size=3).ok


def test_an_edited_field_is_detected(journal):
    rewrite_event(4, actor="admin:someone-else")
    result = verify_chain(batch_size=3)
    assert not result.ok
    assert result.broken_sequence == 4
    assert result.reason == BreakReason.HASH_MISMATCH
    assert result.checked == 3
    assert result.head_hash == journal[2].hash


def test_edited_data_is_detected(journal):
    rewrite_event(2, data={"n": 200})
    result = verify_chain()
    assert (result.broken_sequence, result.reason) == (2, BreakReason.HASH_MISMATCH)


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(journal):
    event = AuditEvent.objects.get(sequence=5)
    event.tag = EventTag.ADMIN_LOGIN_FAILED.value
    rewrite_event(5, tag=event.tag, hash=event.compute_hash())
    result = verify_chain()
    assert (result.broken_sequence, result.reason) == (6, BreakReason.PREV_HASH_MISMATCH)


def test_a_deleted_event_is_detected(journal):
    delete_events(4)
    result = verify_chain(batch_size=2)
    assert not result.ok
    assert (result.broken_sequence, result.reason) == (5, BreakReason.SEQUENCE_GAP)
    assert result.checked == 3


def test_deleting_the_first_event_is_detected(journal):
    delete_events(1)
    result = verify_chain()
    assert (result.broken_sequence, result.reason) == (2, BreakReason.SEQUENCE_GAP)


def test_a_deletion_with_renumbered_and_rehashed_events_breaks_the_link(journal):
    """The attacker removes event 4 and renumbers 5..7 to close the gap, rehashing each one."""
    delete_events(4)
    for sequence in (5, 6, 7):
        event = AuditEvent.objects.get(sequence=sequence)
        event.sequence = sequence - 1
        rewrite_event(sequence, sequence=event.sequence, hash=event.compute_hash())
    result = verify_chain()
    assert (result.broken_sequence, result.reason) == (4, BreakReason.PREV_HASH_MISMATCH)


def test_reordered_sequence_numbers_are_detected(journal):
    """Swapping the positions of events 2 and 3."""
    rewrite_event(2, sequence=1000)
    rewrite_event(3, sequence=2)
    rewrite_event(1000, sequence=3)
    result = verify_chain()
    assert (result.broken_sequence, result.reason) == (2, BreakReason.HASH_MISMATCH)


def test_reordered_and_rehashed_events_are_detected(journal):
    """Swapping events 2 and 3 and recomputing their own hashes still breaks the links."""
    second, third = AuditEvent.objects.get(sequence=2), AuditEvent.objects.get(sequence=3)
    for event, new_sequence in ((second, 3), (third, 2)):
        event.sequence = new_sequence
    second_hash, third_hash = second.compute_hash(), third.compute_hash()
    rewrite_event(2, sequence=1000, prev_hash="f" * 64)  # out of the way of the unique columns
    rewrite_event(3, sequence=2, hash=third_hash)
    rewrite_event(1000, sequence=3, prev_hash=second.prev_hash, hash=second_hash)
    result = verify_chain()
    assert (result.broken_sequence, result.reason) == (2, BreakReason.PREV_HASH_MISMATCH)


def test_a_truncated_tail_is_caught_by_the_external_anchor(journal):
    anchor = (7, journal[-1].hash)
    assert verify_chain(anchor=anchor).ok
    delete_events(7, 6)
    assert verify_chain().ok, "the chain alone cannot see a truncated tail"
    result = verify_chain(anchor=anchor)
    assert (result.broken_sequence, result.reason) == (7, BreakReason.ANCHOR_MISMATCH)


def test_a_complete_rewrite_is_caught_by_the_external_anchor(journal):
    anchor = (7, journal[-1].hash)
    prev_hash = chain.GENESIS_HASH
    for event in AuditEvent.objects.order_by("sequence"):  # history rewritten and rechained
        event.actor, event.prev_hash = "admin:mallory", prev_hash
        event.hash = event.compute_hash()
        rewrite_event(event.sequence, actor=event.actor, prev_hash=prev_hash, hash=event.hash)
        prev_hash = event.hash
    assert verify_chain().ok, "a full rewrite is internally consistent"
    result = verify_chain(anchor=anchor)
    assert (result.broken_sequence, result.reason) == (7, BreakReason.ANCHOR_MISMATCH)


def test_a_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        verify_chain(batch_size=0)
