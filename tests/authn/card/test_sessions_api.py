"""The app's session endpoints: list the holder's SSO sessions, end one, end them all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.oidc import sessions
from idp.oidc.models import LogoutDelivery, RefreshToken, SsoSession
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import enrol
from tests.oidc.factories import make_client
from tests.oidc.issued import issue, open_session

pytestmark = pytest.mark.django_db

BACKCHANNEL = "https://rp.example.fr/backchannel-logout"


@pytest.fixture
def holder():
    return make_professional("8" + rpps(91))


@pytest.fixture
def phone(holder):
    return enrol(holder)[1]


@pytest.fixture
def clients():
    with_bc, _ = make_client(client_id="dmp", name="DMP", backchannel_logout_uri=BACKCHANNEL)
    plain, _ = make_client(client_id="lgc", name="Logiciel de cabinet")
    return with_bc, plain


def test_lists_live_sessions_with_their_services(client, holder, phone, clients):
    with_bc, plain = clients
    first = open_session(holder)
    issue(with_bc, holder, session=first)
    issue(plain, holder, session=first)
    second = open_session(holder, auth_mode="MOBILE")
    ended = open_session(holder)
    sessions.end(ended, sessions.REASON_LOGOUT)
    idle = open_session(holder)
    SsoSession.objects.filter(pk=idle.pk).update(last_active_at=timezone.now() - timedelta(days=2))
    someone_else = open_session(make_professional("8" + rpps(92)))
    response = phone.call(client, "GET", "sessions")
    assert response.status_code == 200
    listed = response.json()["sessions"]
    assert [s["sid"] for s in listed] == [second.sid, first.sid]
    assert someone_else.sid not in {s["sid"] for s in listed}
    by_sid = {s["sid"]: s for s in listed}
    assert by_sid[first.sid]["clients"] == [
        {"client_id": "dmp", "client_name": "DMP"},
        {"client_id": "lgc", "client_name": "Logiciel de cabinet"},
    ]
    assert by_sid[second.sid]["clients"] == []
    assert by_sid[second.sid]["auth_mode"] == "MOBILE"
    assert by_sid[first.sid]["acr"] == "eidas1"
    assert set(by_sid[first.sid]) >= {"sid", "started_at", "last_active_at", "acr", "auth_mode"}


def test_end_one_session_logs_its_clients_out(client, holder, phone, clients):
    with_bc, plain = clients
    target = open_session(holder)
    issued = issue(with_bc, holder, session=target)
    issue(plain, holder, session=target)
    kept = open_session(holder)
    response = phone.call(client, "DELETE", f"sessions/{target.sid}")
    assert response.status_code == 204, response.content
    target.refresh_from_db()
    assert target.ended_at is not None and target.end_reason == "logout"
    assert list(LogoutDelivery.objects.values_list("client_id", "sid")) == [("dmp", target.sid)]
    assert RefreshToken.objects.get(pk=issued.refresh_row.pk).revoked_at is not None
    kept.refresh_from_db()
    assert kept.ended_at is None
    event = AuditEvent.objects.get(tag="authn:card:sessions_ended")
    assert event.actor.startswith("card_device:")
    assert event.data["sids"] == [target.sid] and event.data["count"] == 1
    ended = AuditEvent.objects.get(tag="oidc:session:ended")
    assert ended.actor == event.actor


def test_cannot_end_someone_elses_session(client, holder, phone):
    other = open_session(make_professional("8" + rpps(93)))
    response = phone.call(client, "DELETE", f"sessions/{other.sid}")
    assert (response.status_code, response.json()["error"]) == (404, "session_not_found")
    other.refresh_from_db()
    assert other.ended_at is None
    assert not AuditEvent.objects.filter(tag="authn:card:sessions_ended").exists()


def test_ending_an_ended_or_unknown_session(client, holder, phone):
    gone = open_session(holder)
    sessions.end(gone, sessions.REASON_LOGOUT)
    assert phone.call(client, "DELETE", f"sessions/{gone.sid}").status_code == 404
    assert phone.call(client, "DELETE", "sessions/nope").status_code == 404


def test_logout_all(client, holder, phone, clients):
    with_bc, _plain = clients
    a, b = open_session(holder), open_session(holder)
    issue(with_bc, holder, session=a)
    other = open_session(make_professional("8" + rpps(94)))
    response = phone.call(client, "POST", "sessions/logout-all", {})
    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert SsoSession.objects.filter(pk__in=[a.pk, b.pk], ended_at__isnull=False).count() == 2
    other.refresh_from_db()
    assert other.ended_at is None
    assert LogoutDelivery.objects.filter(sid=a.sid).count() == 1
    event = AuditEvent.objects.get(tag="authn:card:sessions_ended")
    assert event.data["count"] == 2
    again = phone.call(client, "POST", "sessions/logout-all")
    assert again.json() == {"ended": 0}


def test_methods(client, phone):
    assert phone.call(client, "POST", "sessions", {}).status_code == 405
    assert phone.call(client, "GET", "sessions/logout-all").status_code == 405
    assert client.get("/api/card/v1/sessions").status_code == 401
