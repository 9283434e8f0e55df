"""Attack: someone with write access to the database edits the security journal to hide an action.

They get past the append-only triggers (as the table owner or a superuser can) and rewrite one
event. The attack must fail: verification names the edited event, and nothing else changed, neither
the other events nor the edited row beyond what the attacker wrote.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from idp.audit.journal import record
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import BreakReason, verify_chain
from tests.audit.tampering import rewrite_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def journal():
    record(EventTag.ADMIN_LOGIN_SUCCEEDED, actor="admin:mallory")
    record(
        EventTag.ACCOUNTS_PROFESSIONAL_DEACTIVATED,
        actor="admin:mallory",
        subject="professional:2b1e",
        data={"reason": "none given"},
    )
    record(EventTag.ADMIN_LOGOUT, actor="admin:mallory")


def snapshot() -> dict[int, dict]:
    return {row["sequence"]: row for row in AuditEvent.objects.values()}


def test_an_edited_event_is_detected_and_nothing_else_changed(journal):
    intact_head = verify_chain()
    before = snapshot()

    # Without bypassing the triggers, the edit does not even happen.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET actor = 'admin:alice' WHERE sequence = 2"  # noqa: S608
        )
    assert snapshot() == before

    # With the triggers out of the way, the attacker blames someone else.
    rewrite_event(2, actor="admin:alice")

    result = verify_chain()
    assert not result.ok
    assert result.broken_sequence == 2
    assert result.reason == BreakReason.HASH_MISMATCH
    with pytest.raises(CommandError) as raised:
        call_command("audit_verify", "--no-record", "--anchor", f"3:{intact_head.head_hash}")
    assert raised.value.returncode == 2

    after = snapshot()
    assert after.keys() == before.keys()
    assert after[1] == before[1]
    assert after[3] == before[3]
    assert after[2] == {**before[2], "actor": "admin:alice"}
