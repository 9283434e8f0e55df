"""Appending in one statement: PostgreSQL links and hashes the canonical document Python
prepared (chain.canonical_pieces, migration 0003), and gets the very hash compute_hash gives."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from idp.audit import chain, journal
from idp.audit.journal import record
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain

#: Events whose canonical form has every kind of character JSON escapes or keeps as is.
AWKWARD = [
    {"actor": "admin:alice", "subject": "", "ip": "203.0.113.7", "user_agent": "UA",
     "request_id": "", "data": {}},
    {"actor": "professional:é-ü-ß", "subject": 'card_device:"quoted"\\back', "ip": "2001:db8::1",
     "user_agent": "Mozilla/5.0 (Linux; Android 14) 📱 « ça »", "request_id": "req-42",
     "data": {"z": [1.0, 2.5, -0.0, 10**16], "a": {"nested": ["\t tab", "\u2028", "\x01"]},
              "emoji": "😀", "none": None, "bool": True, "empty": ""}},
    {"actor": "", "subject": "", "ip": None, "user_agent": "", "request_id": "",
     "data": {"n": 1e16}},
]  # fmt: skip


@pytest.mark.parametrize("fields", AWKWARD)
@pytest.mark.parametrize("sequence", [1, 9, 1234567890123])
def test_the_pieces_around_the_head_make_the_canonical_document(fields, sequence):
    occurred_at = dt.datetime(2026, 11, 26, 14, 0, 0, 0, tzinfo=dt.UTC)
    prev_hash = "ab" * 32
    head, mid, tail = chain.canonical_pieces(tag="admin:logout:done", **fields)

    document = (
        head + chain.canonical_datetime(occurred_at) + chain.PREV_HASH_PIECE + prev_hash + mid
        + str(sequence) + tail
    )  # fmt: skip

    reference = chain.canonical_json(
        {
            "sequence": sequence,
            "occurred_at": chain.canonical_datetime(occurred_at),
            "tag": "admin:logout:done",
            "ip": chain.canonical_ip(fields["ip"]),
            "prev_hash": prev_hash,
            **{k: v for k, v in fields.items() if k != "ip"},
        }
    )
    assert document.encode("utf-8") == reference


@pytest.mark.django_db
def test_awkward_events_appended_verify(three_events):
    """Whatever appends (the function on PostgreSQL, Python on SQLite), audit_verify's own
    recomputation agrees with every stored hash."""
    factory = RequestFactory()
    written = []
    for fields in AWKWARD:
        request = factory.get(
            "/",
            REMOTE_ADDR=fields["ip"] or "",
            HTTP_USER_AGENT=fields["user_agent"],
            HTTP_X_REQUEST_ID=fields["request_id"],
        )
        written.append(
            record(
                EventTag.ADMIN_LOGIN_FAILED,
                actor=fields["actor"],
                subject=fields["subject"],
                request=request if fields["ip"] else None,
                data=fields["data"],
            )
        )
    with journal.batched():
        batch = [record(EventTag.ADMIN_LOGOUT, actor=f"admin:{n}", data={"n": n}) for n in range(3)]

    result = verify_chain()
    assert result.ok, result.detail
    assert result.checked == 3 + len(AWKWARD) + 3
    for event in [*written, *batch]:
        row = AuditEvent.objects.get(sequence=event.sequence)
        assert (row.hash, row.prev_hash, row.occurred_at) == (
            event.hash,
            event.prev_hash,
            event.occurred_at,
        )
        assert row.hash == chain.compute_hash(
            **{name: getattr(row, name) for name in chain.HASHED_FIELDS}
        )
    # One batch, one time; sequence and time grow together.
    assert len({e.occurred_at for e in batch}) == 1
    times = [e.occurred_at for e in [*three_events, *written, batch[0]]]
    assert times == sorted(times)
    assert all(t.tzinfo is not None and t.utcoffset() == dt.timedelta(0) for t in times)


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append function is PostgreSQL's"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_lone_event_outside_a_transaction_is_one_statement():
    with CaptureQueriesContext(connection) as queries:
        event = record(EventTag.ADMIN_LOGOUT, actor="admin:alone")
    assert len(queries) == 1
    assert queries[0]["sql"].startswith("SELECT * FROM caducee_audit_append(")
    assert not connection.in_atomic_block
    assert AuditEvent.objects.get().hash == event.hash
    assert verify_chain().ok


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_event_rolled_back_with_its_transaction_leaves_no_link():
    with pytest.raises(RuntimeError), transaction.atomic():
        record(EventTag.ADMIN_LOGOUT, actor="admin:rolled-back")
        raise RuntimeError("the caller's work fails")
    assert not AuditEvent.objects.exists()
    record(EventTag.ADMIN_LOGOUT, actor="admin:kept")
    kept = AuditEvent.objects.get()
    assert (kept.sequence, kept.prev_hash) == (1, chain.GENESIS_HASH)
    assert verify_chain().ok
