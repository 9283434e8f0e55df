"""Recording events and reading them back, on the real database."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from idp.audit import chain
from idp.audit.journal import record
from idp.audit.models import AppendOnlyError, AuditEvent, InvalidEventTag
from idp.audit.scrub import fingerprint
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain

pytestmark = pytest.mark.django_db


def test_an_event_is_recorded_and_read_back(http_request):
    event = record(
        EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED,
        actor="admin:alice",
        subject="professional:f3c9",
        request=http_request,
        data={"reason": "licence withdrawn", "idnat": "810001234567"},
    )

    stored = AuditEvent.objects.get(sequence=event.sequence)
    assert stored.sequence == 1
    assert (
        stored.tag == EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED == "accounts:professional:suspended"
    )
    assert stored.actor == "admin:alice"
    assert stored.subject == "professional:f3c9"
    assert stored.ip == "203.0.113.7"
    assert stored.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    assert stored.request_id == "req-42"
    assert stored.data == {"reason": "licence withdrawn", "idnat": "810001234567"}
    assert stored.occurred_at.tzinfo is not None
    assert stored.prev_hash == chain.GENESIS_HASH
    assert re.fullmatch(r"[0-9a-f]{64}", stored.hash)
    assert stored.hash == stored.compute_hash() == event.hash


def test_events_are_numbered_and_chained(three_events):
    first, second, third = AuditEvent.objects.order_by("sequence")
    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert first.prev_hash == chain.GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert first.occurred_at <= second.occurred_at <= third.occurred_at


def test_free_strings_are_refused_even_when_they_spell_a_known_tag():
    for tag in ["admin:login:succeeded", "authn:card:teleported", None]:
        with pytest.raises(InvalidEventTag, match="EventTag"):
            record(tag)  # type: ignore[arg-type]
    assert not AuditEvent.objects.exists()


def test_the_client_address_is_remote_addr_never_x_forwarded_for(http_request):
    event = record(EventTag.ADMIN_LOGIN_FAILED, request=http_request)
    assert event.ip == "203.0.113.7"
    assert "198.51.100.99" not in str(AuditEvent.objects.values().get())


def test_ipv6_addresses_are_stored_in_one_spelling():
    factory = RequestFactory()
    mapped = record(EventTag.ADMIN_LOGOUT, request=factory.get("/", REMOTE_ADDR="::ffff:192.0.2.1"))
    upper = record(EventTag.ADMIN_LOGOUT, request=factory.get("/", REMOTE_ADDR="2001:DB8:0::1"))
    junk = record(EventTag.ADMIN_LOGOUT, request=factory.get("/", REMOTE_ADDR="unix:/run/x"))
    assert AuditEvent.objects.get(pk=mapped.pk).ip == "192.0.2.1"
    assert AuditEvent.objects.get(pk=upper.pk).ip == "2001:db8::1"
    assert AuditEvent.objects.get(pk=junk.pk).ip is None
    assert verify_chain().ok


def test_user_agent_is_truncated_and_request_id_sanitised():
    request = RequestFactory().get(
        "/", HTTP_USER_AGENT="A" * 5000, HTTP_X_REQUEST_ID="<script>alert(1)</script>"
    )
    event = record(EventTag.ADMIN_LOGOUT, request=request)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.user_agent == "A" * 256
    assert stored.request_id == ""


def test_secrets_in_data_are_fingerprinted_before_storage(settings):
    record(
        EventTag.ADMIN_LOGIN_FAILED,
        actor="admin:alice",
        data={"username": "alice", "password": "hunter2hunter2", "form": {"otp_token": "123456"}},
    )
    stored = AuditEvent.objects.get()
    assert stored.data == {
        "username": "alice",
        "password": fingerprint("hunter2hunter2", key=settings.SECRET_KEY),
        "form": {"otp_token": fingerprint("123456", key=settings.SECRET_KEY)},
    }
    assert "hunter2hunter2" not in str(AuditEvent.objects.values().get())


def test_data_is_reduced_to_json_types_so_the_hash_survives_the_round_trip():
    record(
        EventTag.ACCOUNTS_PROFESSIONAL_UPDATED,
        data={
            "when": dt.datetime(2025, 1, 31, 8, 15, tzinfo=dt.UTC),
            "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "amount": Decimal("12.50"),
            "ratio": 0.1,
            "whole_float": 1.0,
            "huge_float": 1e16,
            "huger_floats": [1e23, 2.0**70, 1.7976931348623157e308],
            "tiny_float": 1e-7,
            "unicode": "Dr Hélène Ørsted ✓",
            "nul": "a\x00b",
            "nested": [1, [2, {"k": None}], True],
        },
    )
    stored = AuditEvent.objects.get()
    assert stored.data["when"] == "2025-01-31T08:15:00Z"
    assert stored.data["id"] == "12345678-1234-5678-1234-567812345678"
    assert stored.data["amount"] == "12.50"
    assert stored.data["unicode"] == "Dr Hélène Ørsted ✓"
    assert stored.data["nul"] == "a\ufffdb"
    assert stored.compute_hash() == stored.hash
    assert verify_chain().ok


def test_values_that_are_not_json_are_refused():
    with pytest.raises(TypeError):
        record(EventTag.ADMIN_LOGOUT, data={"things": {1, 2}})
    with pytest.raises(ValueError):
        record(EventTag.ADMIN_LOGOUT, data={"ratio": float("nan")})
    assert not AuditEvent.objects.exists()


def test_overlong_identifiers_are_refused_not_truncated():
    with pytest.raises(ValueError, match="actor"):
        record(EventTag.ADMIN_LOGOUT, actor="admin:" + "a" * 300)
    with pytest.raises(TypeError, match="subject"):
        record(EventTag.ADMIN_LOGOUT, subject=42)  # type: ignore[arg-type]


def test_recording_inside_an_outer_transaction_rolls_back_with_it(three_events):
    class Failure(Exception):
        pass

    with pytest.raises(Failure), transaction.atomic():
        record(EventTag.ACCOUNTS_PROFESSIONAL_DEACTIVATED, actor="admin:bob")
        record(EventTag.ACCOUNTS_PROFESSIONAL_REACTIVATED, actor="admin:bob")
        raise Failure

    assert AuditEvent.objects.count() == 3
    with transaction.atomic():
        event = record(EventTag.ADMIN_LOGOUT, actor="admin:bob")
    assert event.sequence == 4, "no gap is left by the rolled-back events"
    assert verify_chain().ok


def test_the_model_refuses_to_change_or_delete_an_event(three_events):
    event = AuditEvent.objects.get(sequence=2)
    event.actor = "admin:mallory"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(sequence=2).update(actor="admin:mallory")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent()])
    assert AuditEvent.objects.get(sequence=2).actor == "admin:alice"


def test_the_model_refuses_unchained_or_mistagged_inserts(three_events):
    head = AuditEvent.objects.order_by("-sequence").first()
    fields = {
        "sequence": 4,
        "occurred_at": head.occurred_at,
        "tag": EventTag.ADMIN_LOGOUT.value,
        "actor": "admin:mallory",
        "subject": "",
        "ip": None,
        "user_agent": "",
        "request_id": "",
        "data": {},
        "prev_hash": head.hash,
    }
    with pytest.raises(ValueError, match=r"journal\.record"):
        AuditEvent(**fields, hash="0" * 64).save()
    with pytest.raises(InvalidEventTag):
        AuditEvent(**{**fields, "tag": "admin:free:text"}, hash="0" * 64).save()
    assert AuditEvent.objects.count() == 3


def test_a_forked_chain_is_impossible_in_the_database(three_events):
    """Even a correctly hashed event cannot chain from a hash another event already chains from."""
    second = AuditEvent.objects.get(sequence=2)
    fork = AuditEvent(
        sequence=99,
        occurred_at=second.occurred_at,
        tag=EventTag.ADMIN_LOGOUT.value,
        actor="admin:mallory",
        data={},
        prev_hash=second.prev_hash,
    )
    fork.hash = fork.compute_hash()
    with pytest.raises(IntegrityError), transaction.atomic():
        fork.save()


def test_the_returned_event_is_the_row_as_stored(http_request):
    with transaction.atomic():
        record(EventTag.ADMIN_LOGOUT, actor="admin:alice")
        event = record(
            EventTag.ACCOUNTS_PROFESSIONAL_UPDATED,
            actor="admin:alice",
            subject="professional:f3c9",
            request=http_request,
            data={"when": dt.datetime(2025, 1, 31, tzinfo=dt.UTC), "ratio": 0.5, "n": [1, 2]},
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert not event._state.adding
    for name in (*chain.HASHED_FIELDS, "hash"):
        assert getattr(event, name) == getattr(stored, name), name
    assert event.hash == event.compute_hash() == stored.compute_hash()
    with pytest.raises(AppendOnlyError):
        event.save()
