"""A new challenge and its journal event in one statement (PostgreSQL), inside the transaction
that holds the professional's lock: the event is appended if and only if the challenge was
inserted (not when the pending limit refuses it); elsewhere the event follows the INSERT."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import Client as BrowserClient
from django.test.utils import CaptureQueriesContext

from idp.audit import journal
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain
from idp.authn.card.models import CardChallenge
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import enrol
from tests.oidc.factories import make_client, make_doctor_with_two_activities

CREATED = EventTag.AUTHN_CARD_CHALLENGE_CREATED.value
REFUSED = EventTag.AUTHN_CARD_CHALLENGE_REFUSED.value


@pytest.fixture
def page(db):
    doctor = make_doctor_with_two_activities()
    enrol(doctor)
    browser = BrowserClient(HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)
    return doctor, browser, flow.begin(browser, make_client()[0])


@pytest.mark.django_db(transaction=True)
def test_a_challenge_is_journaled_once_with_it_on_every_database(page):
    doctor, browser, login = page
    with CaptureQueriesContext(connection) as queries:
        started = flow.start_push(browser, login, doctor.id_nat)
    assert started.status_code == 200, started.content
    body = started.json()
    [event] = AuditEvent.objects.filter(tag=CREATED)
    assert event.subject == f"professional:{doctor.sub}"
    assert event.data == {
        "challenge": body["challenge"][:16],
        "purpose": "login",
        "browser": CardChallenge.objects.get().browser,
    }
    assert verify_chain().ok
    if connection.vendor == "postgresql":
        # The INSERT's own statement carries the event: the lock, then one statement.
        statements = [q["sql"] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]
        assert len(statements) == 2, [sql[:60] for sql in statements]
        assert "FOR UPDATE" in statements[0]
        assert "WITH inserted AS" in statements[1] and "caducee_audit_append" in statements[1]


@pytest.mark.django_db(transaction=True)
def test_a_challenge_over_the_pending_limit_appends_no_creation(page, settings):
    doctor, browser, login = page
    settings.IDP_CARD_MAX_PENDING = 1
    assert flow.start_push(browser, login, doctor.id_nat).status_code == 200
    before = list(AuditEvent.objects.values_list("tag", flat=True).order_by("sequence"))

    refused = flow.start_push(browser, login, doctor.id_nat)

    assert refused.status_code == 429, refused.content
    assert refused.json()["error"] == "too_many_pending"
    after = list(AuditEvent.objects.values_list("tag", flat=True).order_by("sequence"))
    assert after == [*before, REFUSED]  # the refusal, and no second creation
    assert CardChallenge.objects.count() == 1
    assert verify_chain().ok


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="an event in a statement is PostgreSQL's"
)
@pytest.mark.django_db(transaction=True)
def test_a_statement_event_in_a_transaction_only_when_asked_and_never_in_a_batch():
    with transaction.atomic():
        assert journal.for_statement(EventTag.ADMIN_LOGOUT, actor="admin:a") is None
        assert journal.for_statement(EventTag.ADMIN_LOGOUT, actor="admin:a", in_transaction=True)
    with journal.batched():
        # Events queued in the batch must keep their place before this one.
        assert (
            journal.for_statement(EventTag.ADMIN_LOGOUT, actor="admin:a", in_transaction=True)
            is None
        )
    assert AuditEvent.objects.count() == 0
