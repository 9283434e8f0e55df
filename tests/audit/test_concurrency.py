"""Many writers at once still make one unbroken chain (PostgreSQL: real concurrent connections)."""

from __future__ import annotations

import threading

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


def test_concurrent_writers_make_one_intact_chain():
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            start.wait()
            for n in range(EVENTS_PER_THREAD):
                if n % 3 == 0:
                    # Inside a caller's transaction, with other work: the lock is held to its end.
                    with transaction.atomic():
                        record(EventTag.ADMIN_LOGIN_FAILED, actor=f"admin:w{worker}", data={"n": n})
                        AuditEvent.objects.count()
                else:
                    record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor=f"admin:w{worker}", data={"n": n})
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
    total = THREADS * EVENTS_PER_THREAD
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, total + 1))
    written = sorted(AuditEvent.objects.values_list("actor", "data__n"))
    assert written == sorted((f"admin:w{w}", n) for w in range(THREADS) for n in range(15))
    result = verify_chain(batch_size=17)
    assert result.ok, result
    assert result.checked == total
