"""journal.batched(): the events of one unit of work appended together, in one intact chain."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from idp.accounts.models import Professional
from idp.audit import journal
from idp.audit.journal import record
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain
from tests.accounts.factories import make_professional

pytestmark = pytest.mark.django_db


def _head_reads(queries: CaptureQueriesContext) -> int:
    """Statements reading the chain head (PostgreSQL: the append function reads it itself)."""
    return sum(
        ("ORDER BY" in q["sql"] and "audit_auditevent" in q["sql"])
        or "caducee_audit_append" in q["sql"]
        for q in queries
    )


def _inserts(queries: CaptureQueriesContext) -> list[str]:
    """Statements writing events: the INSERT (SQLite), the append function (PostgreSQL)."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith('INSERT INTO "audit_auditevent"')
        or "caducee_audit_append" in q["sql"]
    ]


def test_a_batch_is_one_head_read_and_one_insert_and_chains_like_single_records(three_events):
    with CaptureQueriesContext(connection) as queries, journal.batched():
        events = [
            record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor="admin:a", data={"n": 1}),
            record(EventTag.ADMIN_LOGIN_FAILED, actor="admin:b", subject="x", data={"n": 2}),
            record(EventTag.ADMIN_LOGOUT, actor="admin:c"),
        ]
        # Queued, not yet written: nothing is read or inserted before the block ends.
        assert _head_reads(queries) == 0 and not _inserts(queries)
    assert _head_reads(queries) == 1
    assert len(_inserts(queries)) == 1
    journal_statements = [q["sql"] for q in queries if "audit_auditevent" in q["sql"]]
    if connection.vendor == "postgresql":
        # One statement appends the whole batch: lock, head, hashes and rows in the function.
        assert _inserts(queries)[0].startswith("SELECT * FROM caducee_audit_append(")
        assert not journal_statements

    stored = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in stored] == [1, 2, 3, 4, 5, 6]
    assert [(e.actor, e.data) for e in stored[3:]] == [
        ("admin:a", {"n": 1}),
        ("admin:b", {"n": 2}),
        ("admin:c", {}),
    ]
    assert stored[3].prev_hash == three_events[-1].hash
    # The returned events are filled in as written.
    for returned, row in zip(events, stored[3:], strict=True):
        assert (returned.sequence, returned.hash, returned.prev_hash) == (
            row.sequence,
            row.hash,
            row.prev_hash,
        )
        assert returned.occurred_at == row.occurred_at
        assert not returned._state.adding
    result = verify_chain()
    assert result.ok and result.checked == 6


def test_a_failing_batch_appends_nothing_and_rolls_back_the_work(three_events):
    professionals = Professional.objects.count()
    with pytest.raises(RuntimeError), journal.batched():
        record(EventTag.ADMIN_LOGOUT, actor="admin:a")
        make_professional()
        raise RuntimeError("the unit of work fails")
    assert AuditEvent.objects.count() == 3
    assert Professional.objects.count() == professionals
    assert verify_chain().ok


def test_a_record_in_a_savepoint_is_appended_at_once_and_can_roll_back_alone(three_events):
    with journal.batched():
        record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor="admin:queued")
        try:
            with transaction.atomic():
                record(EventTag.ADMIN_LOGIN_FAILED, actor="admin:in-savepoint")
                assert AuditEvent.objects.filter(actor="admin:in-savepoint").exists()
                raise ValueError("roll back the savepoint only")
        except ValueError:
            pass
        record(EventTag.ADMIN_LOGOUT, actor="admin:queued-too")
    actors = list(AuditEvent.objects.order_by("sequence").values_list("actor", flat=True))
    assert actors[3:] == ["admin:queued", "admin:queued-too"]
    assert verify_chain().ok


def test_nested_batches_join_the_outermost(three_events):
    with CaptureQueriesContext(connection) as queries, journal.batched():
        record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor="admin:outer")
        with journal.batched():
            record(EventTag.ADMIN_LOGOUT, actor="admin:inner")
        assert AuditEvent.objects.count() == 3  # still queued
    assert len(_inserts(queries)) == 1
    actors = list(AuditEvent.objects.order_by("sequence").values_list("actor", flat=True))
    assert actors[3:] == ["admin:outer", "admin:inner"]
    assert verify_chain().ok


def test_an_empty_batch_writes_nothing(three_events):
    with CaptureQueriesContext(connection) as queries, journal.batched():
        pass
    assert _head_reads(queries) == 0 and not _inserts(queries)
    assert AuditEvent.objects.count() == 3


def test_outside_a_batch_record_still_appends_at_once(db):
    event = record(EventTag.ADMIN_LOGOUT, actor="admin:single")
    assert AuditEvent.objects.get(sequence=event.sequence).hash == event.hash


def test_a_batch_that_asks_for_its_rollback_appends_nothing(three_events):
    with journal.batched():
        record(EventTag.ADMIN_LOGOUT, actor="admin:undone")
        transaction.set_rollback(True)
    assert AuditEvent.objects.count() == 3
    assert verify_chain().ok
