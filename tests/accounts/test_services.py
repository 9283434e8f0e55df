"""State changes of a professional (idp.accounts.services) and their audit events."""

from __future__ import annotations

import pytest
from django.db import transaction

from idp.accounts import services
from idp.accounts.models import Professional
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from tests.accounts.factories import make_professional

pytestmark = pytest.mark.django_db


def _events(tag: EventTag) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tag=tag).order_by("sequence"))


def test_suspend_changes_status_and_records_the_event():
    professional = make_professional()
    services.suspend(professional, by="admin:alice", reason="card reported stolen")

    assert professional.status == Professional.Status.SUSPENDED
    stored = Professional.objects.get(pk=professional.pk)
    assert stored.status == Professional.Status.SUSPENDED
    assert stored.suspended_by == "admin:alice"
    assert stored.suspension_reason == "card reported stolen"
    assert stored.suspended_at is not None

    (event,) = _events(EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED)
    assert event.actor == "admin:alice"
    assert event.subject == professional.sub
    assert event.data["id_nat"] == professional.id_nat
    assert event.data["reason"] == "card reported stolen"
    assert (event.data["old_status"], event.data["new_status"]) == ("active", "suspended")


def test_suspend_twice_is_refused_and_keeps_the_first_decision():
    professional = make_professional()
    services.suspend(professional, by="admin:alice", reason="first")
    with pytest.raises(services.TransitionError):
        services.suspend(professional, by="admin:bob", reason="second")
    stored = Professional.objects.get(pk=professional.pk)
    assert (stored.suspended_by, stored.suspension_reason) == ("admin:alice", "first")
    assert len(_events(EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED)) == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(reason):
    professional = make_professional()
    with pytest.raises(services.TransitionError):
        services.suspend(professional, by="admin:alice", reason=reason)
    assert Professional.objects.get(pk=professional.pk).status == Professional.Status.ACTIVE
    assert not AuditEvent.objects.exists()


def test_reactivate_lifts_the_suspension():
    professional = make_professional()
    services.suspend(professional, by="admin:alice", reason="investigation")
    services.reactivate(professional, by="admin:bob", reason="investigation closed")

    stored = Professional.objects.get(pk=professional.pk)
    assert stored.status == Professional.Status.ACTIVE
    assert (stored.suspended_at, stored.suspended_by, stored.suspension_reason) == (None, "", "")
    (event,) = _events(EventTag.ACCOUNTS_PROFESSIONAL_REACTIVATED)
    assert event.actor == "admin:bob"
    assert event.data["facet"] == "suspension"
    assert event.data["reason"] == "investigation closed"
    assert event.data["lifted"]["suspended_by"] == "admin:alice"


def test_reactivate_refuses_a_professional_who_is_not_suspended():
    professional = make_professional()
    with pytest.raises(services.TransitionError):
        services.reactivate(professional, by="admin:bob", reason="?")
    assert not AuditEvent.objects.exists()


def test_deactivation_and_suspension_are_independent():
    professional = make_professional()
    services.deactivate(professional, by="system:rpps_sync", reason="absent from extract X")
    assert professional.status == Professional.Status.DEACTIVATED
    services.suspend(professional, by="admin:alice", reason="fraud")
    assert professional.status == Professional.Status.SUSPENDED
    # Back in the registry: still suspended.
    services.reinstate(professional, by="system:rpps_sync", reason="present in extract Y")
    assert professional.status == Professional.Status.SUSPENDED
    services.deactivate(professional, by="system:rpps_sync", reason="absent again")
    # Lifting the suspension does not bring back someone the registry no longer lists.
    services.reactivate(professional, by="admin:alice", reason="cleared")
    assert professional.status == Professional.Status.DEACTIVATED
    assert Professional.objects.get(pk=professional.pk).status == Professional.Status.DEACTIVATED
    tags = list(AuditEvent.objects.order_by("sequence").values_list("tag", flat=True))
    assert tags == [
        "accounts:professional:deactivated",
        "accounts:professional:suspended",
        "accounts:professional:reactivated",
        "accounts:professional:deactivated",
        "accounts:professional:reactivated",
    ]


def test_deactivate_twice_and_reinstate_an_active_one_are_refused():
    professional = make_professional()
    with pytest.raises(services.TransitionError):
        services.reinstate(professional, by="system:rpps_sync", reason="x")
    services.deactivate(professional, by="system:rpps_sync", reason="gone")
    with pytest.raises(services.TransitionError):
        services.deactivate(professional, by="system:rpps_sync", reason="gone again")


def test_the_author_is_required():
    professional = make_professional()
    with pytest.raises(services.TransitionError):
        services.suspend(professional, by="", reason="x")


def test_signal_is_sent_after_commit_only(django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, professional, old_status, new_status, by, **kwargs):
        received.append((professional.pk, old_status, new_status, by))

    services.professional_status_changed.connect(receiver)
    try:
        professional = make_professional()
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            services.suspend(professional, by="admin:alice", reason="will roll back")
            raise RuntimeError
        assert callbacks == []
        assert received == []
        assert Professional.objects.get(pk=professional.pk).status == Professional.Status.ACTIVE
        assert not AuditEvent.objects.exists()  # the event rolled back with the change

        professional.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            services.suspend(professional, by="admin:alice", reason="for real")
        assert received == [(professional.pk, "active", "suspended", "admin:alice")]
    finally:
        services.professional_status_changed.disconnect(receiver)
