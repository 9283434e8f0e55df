"""The approval and its journal event in one statement (PostgreSQL): the event is appended if
and only if the challenge was answered; elsewhere, the event follows the approval."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client as BrowserClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idp.audit import journal
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain
from idp.authn.card import challenges
from idp.authn.card.models import CardChallenge, CardDevice, ChallengeStatus
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import make_client, make_doctor_with_two_activities

APPROVED = EventTag.AUTHN_CARD_APPROVED.value


@pytest.fixture
def started(db):
    doctor = make_doctor_with_two_activities()
    device, phone = enrol(doctor)
    browser = BrowserClient(HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)
    login = flow.begin(browser, make_client()[0])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    return device, phone, body


@pytest.mark.django_db(transaction=True)
def test_an_approval_is_journaled_once_on_every_database(client, started):
    device, phone, body = started
    with CaptureQueriesContext(connection) as queries:
        answer = flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert answer.status_code == 200, answer.content
    [event] = AuditEvent.objects.filter(tag=APPROVED)
    assert event.actor == f"card_device:{device.kid}"
    assert event.data["challenge"] == body["challenge"][:16]
    assert event.data["acr"] == "eidas2"
    assert verify_chain().ok
    assert CardChallenge.objects.get(public_id=body["challenge"]).status == "approved"
    appends = [q["sql"] for q in queries if "caducee_audit_append" in q["sql"]]
    if connection.vendor == "postgresql":
        # The answer's own statement carries the event: no separate append.
        assert len(appends) == 1 and "WITH answered AS" in appends[0]
    # A second approval is refused and journals no second approval.
    again = flow.approve(client, phone, body["challenge"], body["number"], PIN)
    assert again.status_code == 409 and again.json()["error"] == "challenge_answered"
    assert AuditEvent.objects.filter(tag=APPROVED).count() == 1


@pytest.mark.django_db
def test_a_pin_that_is_no_text_fails_the_challenge_as_a_wrong_pin(client, started):
    """A lone surrogate passes JSON decoding but cannot be encoded: a wrong PIN, not a 500."""
    device, phone, body = started
    answer = flow.approve(client, phone, body["challenge"], body["number"], "\ud800")
    assert answer.status_code == 403 and answer.json()["error"] == "wrong_pin"
    device.refresh_from_db()
    assert device.pin_failures == 1
    assert CardChallenge.objects.get(public_id=body["challenge"]).failure == "wrong_pin"


def _denied_meanwhile(challenge, _device):
    CardChallenge.objects.filter(pk=challenge.pk).update(status=ChallengeStatus.DENIED)
    return ChallengeStatus.DENIED


def _device_blocked_meanwhile(challenge, device):
    CardDevice.objects.filter(pk=device.pk).update(blocked_at=timezone.now())
    return ChallengeStatus.PENDING


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement for both is PostgreSQL's"
)
@pytest.mark.parametrize("meanwhile", [_denied_meanwhile, _device_blocked_meanwhile])
@pytest.mark.django_db(transaction=True)
def test_an_approval_that_does_not_happen_appends_nothing(started, meanwhile):
    """Answered already, or the device blocked by a concurrent wrong PIN: no approval, no event."""
    device, _phone, body = started
    challenge = CardChallenge.objects.get(public_id=body["challenge"])
    status_left = meanwhile(challenge, device)
    before = AuditEvent.objects.count()
    event = journal.for_statement(EventTag.AUTHN_CARD_APPROVED, actor="card_device:x")
    assert event is not None

    answered = challenges._answer(
        challenge, device, ChallengeStatus.APPROVED, unblocked=True, journal_event=event
    )

    assert answered is False
    assert AuditEvent.objects.count() == before
    assert CardChallenge.objects.get(pk=challenge.pk).status == status_left
    assert verify_chain().ok


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the other databases' side")
@pytest.mark.django_db
def test_elsewhere_the_answer_takes_no_statement_event(started):
    device, _phone, body = started
    challenge = CardChallenge.objects.get(public_id=body["challenge"])
    with pytest.raises(ValueError):
        challenges._answer(challenge, device, ChallengeStatus.APPROVED, journal_event="[]")
    assert CardChallenge.objects.get(pk=challenge.pk).status == ChallengeStatus.PENDING
