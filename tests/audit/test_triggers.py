"""The database itself refuses UPDATE and DELETE on the journal, whoever sends them."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from idp.audit.models import AuditEvent
from idp.audit.verify import verify_chain
from tests.audit.tampering import append_only_triggers_disabled

pytestmark = pytest.mark.django_db

TABLE = AuditEvent._meta.db_table


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {TABLE} SET actor = 'admin:mallory' WHERE sequence = 2",  # noqa: S608
        f"UPDATE {TABLE} SET data = data",  # noqa: S608
        f"DELETE FROM {TABLE} WHERE sequence = 3",  # noqa: S608
        f"DELETE FROM {TABLE}",  # noqa: S608
    ],
)
def test_raw_sql_cannot_update_or_delete(three_events, sql):
    before = list(AuditEvent.objects.values())
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert list(AuditEvent.objects.values()) == before
    assert verify_chain().ok


def test_inserting_is_still_possible_through_the_journal(three_events):
    assert AuditEvent.objects.count() == 3


def test_the_tampering_helper_restores_the_triggers(three_events):
    with append_only_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET actor = actor WHERE sequence = 1")  # noqa: S608
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET actor = actor WHERE sequence = 1")  # noqa: S608
