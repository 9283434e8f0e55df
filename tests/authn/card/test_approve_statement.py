"""The approval and its journal event in one statement (PostgreSQL): the event is appended if
and only if the challenge was answered; elsewhere, the event follows the approval."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client as BrowserClient
from django.test.utils import CaptureQueriesContext

from idp.audit import journal
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain
from idp.authn.card import challenges
from idp.authn.card.models import CardChallenge, ChallengeStatus
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


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement for both is PostgreSQL's"
)
@pytest.mark.django_db(transaction=True)
def test_a_challenge_not_answered_appends_nothing(started):
    device, _phone, body = started
    challenge = CardChallenge.objects.get(public_id=body["challenge"])
    CardChallenge.objects.filter(pk=challenge.pk).update(status=ChallengeStatus.DENIED)
    before = AuditEvent.objects.count()
    event = journal.for_statement(EventTag.AUTHN_CARD_APPROVED, actor="card_device:x")
    assert event is not None

    answered = challenges._answer(
        challenge, device, ChallengeStatus.APPROVED, unblocked=True, journal_event=event
    )

    assert answered is False
    assert AuditEvent.objects.count() == before
    assert CardChallenge.objects.get(pk=challenge.pk).status == ChallengeStatus.DENIED
    assert verify_chain().ok
