"""Many writers at once still make one unbroken chain (PostgreSQL: real concurrent connections)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction

from idp.audit.journal import record
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain

THREADS = 8
EVENTS_PER_THREAD = 15

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent connections to one database: run with DATABASE_URL=postgres://…; "
        "SQLite serialises writers with BEGIN IMMEDIATE, there is no race to observe",
    ),
    pytest.mark.django_db(transaction=True),
]


def _run_writers(write: Callable[[int], None]) -> None:
    """``write(worker)`` in THREADS threads started together, each on its own connection; the
    first error of any of them fails the test."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            start.wait()
            write(worker)
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_concurrent_writers_make_one_intact_chain():
    def write(worker: int) -> None:
        for n in range(EVENTS_PER_THREAD):
            if n % 3 == 0:
                # Inside a caller's transaction, with other work: the lock is held to its end.
                with transaction.atomic():
                    record(EventTag.ADMIN_LOGIN_FAILED, actor=f"admin:w{worker}", data={"n": n})
                    AuditEvent.objects.count()
            else:
                record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor=f"admin:w{worker}", data={"n": n})

    _run_writers(write)
    total = THREADS * EVENTS_PER_THREAD
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, total + 1))
    written = sorted(AuditEvent.objects.values_list("actor", "data__n"))
    assert written == sorted((f"admin:w{w}", n) for w in range(THREADS) for n in range(15))
    result = verify_chain(batch_size=17)
    assert result.ok, result
    assert result.checked == total


def test_concurrent_batches_and_single_records_make_one_intact_chain():
    from idp.audit import journal

    def write(worker: int) -> None:
        for n in range(5):
            if worker % 2:
                with journal.batched():
                    for k in range(3):
                        record(
                            EventTag.ADMIN_LOGOUT, actor=f"admin:w{worker}", data={"n": n * 3 + k}
                        )
            else:
                for k in range(3):
                    record(EventTag.ADMIN_LOGOUT, actor=f"admin:w{worker}", data={"n": n * 3 + k})

    _run_writers(write)
    total = THREADS * 15
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, total + 1))
    for worker in range(1, THREADS, 2):  # a batch's events are consecutive links
        sequences = list(
            AuditEvent.objects.filter(actor=f"admin:w{worker}")
            .order_by("sequence")
            .values_list("sequence", flat=True)
        )
        for first in range(0, 15, 3):
            assert sequences[first : first + 3] == list(
                range(sequences[first], sequences[first] + 3)
            )
    result = verify_chain(batch_size=17)
    assert result.ok, result
    assert result.checked == total


def _advisory_lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]


def test_a_writer_that_waited_for_the_lock_reads_the_head_committed_meanwhile():
    """record() sends the lock and the head read in one round trip, as two statements: the read
    must see the row committed while the writer waited for the lock (a snapshot taken before the
    wait would chain from the old head and fail on the unique sequence)."""
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor="admin:first")
                holding.set()
                release.wait(30)
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)
            holding.set()
        finally:
            connections.close_all()

    def second() -> None:
        try:
            record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor="admin:second")
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)
        finally:
            connections.close_all()

    first_thread = threading.Thread(target=first)
    first_thread.start()
    assert holding.wait(30)
    second_thread = threading.Thread(target=second)
    second_thread.start()
    try:
        for _ in range(300):  # until the second writer waits on the chain lock
            if _advisory_lock_waiters():
                break
            time.sleep(0.01)
        else:
            pytest.fail("the second writer never waited for the chain lock")
    finally:
        release.set()
        first_thread.join(timeout=30)
        second_thread.join(timeout=30)

    assert not errors, errors
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [(event.sequence, event.actor) for event in events] == [
        (1, "admin:first"),
        (2, "admin:second"),
    ]
    assert events[1].prev_hash == events[0].hash
    assert verify_chain().ok
