"""Attack: an intercepted authorization code is presented a second time.

RFC 6749 §4.1.2 / §10.5: the code is single use; a second use is refused AND every token issued
from the first use is revoked (the attacker may have been the first), and the replay is journaled.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client as HttpClient

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.oidc import tokens
from idp.oidc.models import AuthorizationCode, RefreshToken, RevokedGrant
from idp.oidc.protocol.errors import InvalidGrant, InvalidToken
from tests.oidc.factories import make_client, make_doctor_with_two_activities
from tests.oidc.grant_helpers import exchange, make_code, make_session, refresh

pytestmark = pytest.mark.django_db


def test_replayed_code_is_refused_and_revokes_what_it_issued(client):
    model, secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    code = make_code(model.client_id, session)
    bystander = exchange(client, model.client_id, secret, make_code(model.client_id, session))
    first = exchange(client, model.client_id, secret, code).json()
    tokens.validate_access_token(first["access_token"])

    replay = exchange(client, model.client_id, secret, code)

    assert replay.status_code == 400
    assert replay.json() == InvalidGrant().as_dict()  # no hint that it was a replay
    assert "access_token" not in replay.json()
    grant_id = code.row.grant_id
    assert RevokedGrant.objects.get(grant_id=grant_id).reason == "code_replayed"
    assert RefreshToken.objects.get(grant_id=grant_id).revoked_at is not None
    with pytest.raises(InvalidToken):
        tokens.validate_access_token(first["access_token"])
    assert refresh(client, model.client_id, secret, first["refresh_token"]).status_code == 400
    event = AuditEvent.objects.get(tag=EventTag.OIDC_CODE_REPLAYED)
    assert event.data["grant_id"] == grant_id
    assert code.value not in str(event.data)

    # Nothing else changed: the other grant of the same session lives on.
    other = bystander.json()
    tokens.validate_access_token(other["access_token"])
    assert RevokedGrant.objects.count() == 1
    assert RefreshToken.objects.filter(revoked_at__isnull=True).count() == 1
    assert AuthorizationCode.objects.filter(consumed_at__isnull=True).count() == 0
    assert refresh(client, model.client_id, secret, other["refresh_token"]).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent connections to one database: run with DATABASE_URL=postgres://…; "
    "SQLite serialises writers with BEGIN IMMEDIATE, there is no race to observe",
)
def test_parallel_redemptions_of_one_code_one_wins_then_the_grant_dies():
    model, secret = make_client()
    session = make_session(make_doctor_with_two_activities())
    code = make_code(model.client_id, session)
    barrier = threading.Barrier(2)
    bodies: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def redeem() -> None:
        try:
            http = HttpClient()
            barrier.wait()
            response = exchange(http, model.client_id, secret, code)
            with lock:
                bodies.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in bodies) == [200, 400]
    [winner] = [body for status, body in bodies if status == 200]
    assert RevokedGrant.objects.filter(grant_id=code.row.grant_id).exists()
    with pytest.raises(InvalidToken):
        tokens.validate_access_token(winner["access_token"])
    assert RefreshToken.objects.get().revoked_at is not None
