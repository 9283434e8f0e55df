"""The code's redemption and its journal event in one statement (PostgreSQL): the event is
appended if and only if the code was consumed; elsewhere, the same in a transaction."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idp.audit import journal
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.audit.verify import verify_chain
from idp.oidc import code_store
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import exchange, make_code, make_session

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement for both is PostgreSQL's"
)


@pytest.fixture
def issued_code(db):
    model, secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    return model, secret, make_code(model.client_id, session)


def _issued_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tag=EventTag.OIDC_TOKEN_ISSUED.value))


@pytest.mark.django_db(transaction=True)
def test_an_exchange_journals_its_token_once_on_every_database(client, issued_code):
    model, secret, code = issued_code
    with CaptureQueriesContext(connection) as queries:
        assert exchange(client, model.client_id, secret, code).status_code == 200
    [event] = _issued_events()
    assert event.data["grant_id"] == code.row.grant_id
    assert event.actor == f"client:{model.client_id}"
    assert verify_chain().ok
    appends = [q["sql"] for q in queries if "caducee_audit_append" in q["sql"]]
    if connection.vendor == "postgresql":
        # The redemption's own statement carries the event: no separate append.
        assert len(appends) == 1 and "WITH consumed AS" in appends[0]
    # A replay journals a replay, not a second issuance.
    assert exchange(client, model.client_id, secret, code).status_code == 400
    assert len(_issued_events()) == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_code_not_consumed_appends_nothing(issued_code):
    _model, _secret, code = issued_code
    now = timezone.now()
    assert code_store.redeem(code.row.pk, now=now)  # consumed once, without an event
    before = AuditEvent.objects.count()
    event = journal.for_statement(EventTag.OIDC_TOKEN_ISSUED, actor="client:x", data={"n": 1})

    assert code_store.redeem(code.row.pk, now=now, journal_event=event) is False

    assert AuditEvent.objects.count() == before
    assert verify_chain().ok


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_no_statement_event_inside_a_transaction_or_a_batch():
    assert journal.for_statement(EventTag.ADMIN_LOGOUT, actor="admin:a") is not None
    with transaction.atomic():
        assert journal.for_statement(EventTag.ADMIN_LOGOUT, actor="admin:a") is None
    with journal.batched():
        assert journal.for_statement(EventTag.ADMIN_LOGOUT, actor="admin:a") is None


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the other databases' side")
@pytest.mark.django_db
def test_elsewhere_there_is_no_statement_event(issued_code):
    assert journal.for_statement(EventTag.ADMIN_LOGOUT, actor="admin:a") is None
    with pytest.raises(ValueError):
        code_store.redeem(issued_code[2].row.pk, now=timezone.now(), journal_event="[]")
