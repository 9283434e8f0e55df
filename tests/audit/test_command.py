"""``manage.py audit_verify``: its report, its exit status and its own journal entry."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from idp.audit.journal import record
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from tests.audit.tampering import rewrite_event

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out, no_color=True)
    return out.getvalue()


def test_an_intact_chain_is_reported_with_its_head(three_events):
    head = three_events[-1]
    output = run()
    assert "Audit chain intact." in output
    assert "Events checked: 3" in output
    assert f"Head hash:      {head.hash}" in output
    assert f"--anchor 3:{head.hash}" in output


def test_a_successful_run_is_journalled(three_events):
    run()
    event = AuditEvent.objects.order_by("sequence").last()
    assert event.sequence == 4
    assert event.tag == EventTag.AUDIT_CHAIN_VERIFIED
    assert event.actor == "system:audit_verify"
    assert event.data == {
        "checked": 3,
        "head_sequence": 3,
        "head_hash": three_events[-1].hash,
        "anchor_sequence": None,
    }
    assert "Events checked: 4" in run(), "the journal entry is itself part of the chain"


def test_a_broken_chain_is_reported_and_exits_with_status_2(three_events):
    rewrite_event(2, subject="professional:someone-else")
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("audit_verify", stdout=out, no_color=True)
    assert raised.value.returncode == 2
    assert "sequence 2" in str(raised.value)
    output = out.getvalue()
    assert "AUDIT CHAIN BROKEN." in output
    assert "First broken event: sequence 2" in output
    assert "hash_mismatch" in output
    assert "edited" in output
    assert f"Intact before it:   1 events, up to sequence 1 (hash {three_events[0].hash})" in output


def test_a_broken_chain_is_journalled_too(three_events):
    rewrite_event(2, subject="professional:someone-else")
    with pytest.raises(CommandError):
        run()
    event = AuditEvent.objects.order_by("sequence").last()
    assert event.tag == EventTag.AUDIT_CHAIN_BROKEN
    assert event.data["broken_sequence"] == 2
    assert event.data["reason"] == "hash_mismatch"
    with pytest.raises(CommandError, match="sequence 2"):
        run()  # the new entry does not hide the break


def test_no_record_leaves_the_journal_untouched(three_events):
    run("--no-record")
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db(transaction=True)  # the command closes the connections when it ends
def test_the_process_exit_status(capsys):
    for _ in range(3):
        record(EventTag.ADMIN_LOGOUT, actor="admin:mallory")
    execute_from_command_line(["manage.py", "audit_verify", "--no-record"])  # no SystemExit: 0
    rewrite_event(3, actor="admin:alice")
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "audit_verify", "--no-record"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "First broken event: sequence 3" in captured.out
    assert "audit chain broken at sequence 3" in captured.err


def test_an_anchor_is_checked(three_events):
    head = three_events[-1]
    assert "Anchor 3 matches." in run("--no-record", "--anchor", f"3:{head.hash}")
    with pytest.raises(CommandError) as raised:
        run("--no-record", "--anchor", f"3:{'0' * 64}")
    assert raised.value.returncode == 2


@pytest.mark.parametrize("anchor", ["3", "x:" + "0" * 64, "0:" + "0" * 64, "3:abc"])
def test_a_malformed_anchor_is_a_usage_error(three_events, anchor):
    with pytest.raises(CommandError) as raised:
        run("--anchor", anchor)
    assert raised.value.returncode == 1
    assert AuditEvent.objects.count() == 3
