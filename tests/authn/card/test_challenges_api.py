"""The app's challenge endpoints: GET challenges, POST challenges/scan, approve, deny."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from idp.audit.models import AuditEvent
from idp.authn.card.models import CardChallenge
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import PIN, enrol, login_challenge

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder():
    return make_professional("8" + rpps(81))


@pytest.fixture
def phone(holder):
    return enrol(holder)[1]


def test_route_names():
    assert reverse("card_api:challenges") == "/api/card/v1/challenges"
    assert reverse("card_api:challenge_scan") == "/api/card/v1/challenges/scan"
    assert reverse("card_api:challenge_approve", args=["x"]) == "/api/card/v1/challenges/x/approve"
    assert reverse("card_api:challenge_deny", args=["x"]) == "/api/card/v1/challenges/x/deny"
    assert reverse("card_api:sessions") == "/api/card/v1/sessions"
    assert reverse("card_api:session_end", args=["s"]) == "/api/card/v1/sessions/s"
    assert reverse("card_api:sessions_logout_all") == "/api/card/v1/sessions/logout-all"


def test_lists_only_the_holders_pending_challenges(client, holder, phone):
    mine = login_challenge(holder)
    answered = login_challenge(holder)
    CardChallenge.objects.filter(pk=answered.pk).update(status="denied")
    expired = login_challenge(holder)
    CardChallenge.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    other = make_professional("8" + rpps(82))
    enrol(other)
    login_challenge(other)
    response = phone.call(client, "GET", "challenges")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    [shown] = response.json()["challenges"]
    assert shown == {
        "id": mine.public_id,
        "purpose": "login",
        "choices": mine.choices,
        "client_name": "DMP",
        "binding_message": "",
        "browser": "Firefox",
        "created_at": mine.created_at.isoformat(),
        "expires_at": mine.expires_at.isoformat(),
    }


def test_approve_and_its_audit(client, holder, phone):
    challenge = login_challenge(holder)
    response = phone.call(
        client,
        "POST",
        f"challenges/{challenge.public_id}/approve",
        {"number": challenge.number, "pin": PIN},
    )
    assert response.status_code == 200 and response.json() == {"status": "approved"}
    challenge.refresh_from_db()
    assert challenge.status == "approved" and challenge.answered_at is not None
    event = AuditEvent.objects.get(tag="authn:card:approved")
    assert event.actor.startswith("card_device:")
    assert event.data["acr"] == "eidas2"


@pytest.mark.parametrize(
    "body",
    [
        {"number": 42, "pin": PIN},  # an integer: malformed, not a wrong answer
        {"number": ["42"], "pin": PIN},
        {"number": "42"},
        {"number": "42", "pin": 4826},
        {"number": "42", "pin": "1" * 40},
    ],
)
def test_malformed_answers_leave_the_challenge_pending(client, holder, phone, body):
    challenge = login_challenge(holder)
    response = phone.call(client, "POST", f"challenges/{challenge.public_id}/approve", body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    challenge.refresh_from_db()
    assert challenge.status == "pending"


def test_unknown_challenge(client, phone):
    response = phone.call(client, "POST", "challenges/nope/approve", {"number": "10", "pin": PIN})
    assert (response.status_code, response.json()["error"]) == (404, "challenge_not_found")
    deny = phone.call(client, "POST", "challenges/nope/deny", {})
    assert (deny.status_code, deny.json()["error"]) == (404, "challenge_not_found")


def test_deny_without_reason(client, holder, phone):
    challenge = login_challenge(holder)
    response = phone.call(client, "POST", f"challenges/{challenge.public_id}/deny")
    assert response.status_code == 200 and response.json() == {"status": "denied"}
    assert AuditEvent.objects.get(tag="authn:card:denied").data["possible_fraud"] is True
    again = phone.call(client, "POST", f"challenges/{challenge.public_id}/deny")
    assert (again.status_code, again.json()["error"]) == (409, "challenge_answered")


def test_deny_with_a_bad_reason(client, holder, phone):
    challenge = login_challenge(holder)
    response = phone.call(client, "POST", f"challenges/{challenge.public_id}/deny", {"reason": 5})
    assert response.status_code == 400
    challenge.refresh_from_db()
    assert challenge.status == "pending"


def test_methods_and_bodies(client, holder, phone):
    challenge = login_challenge(holder)
    get = phone.call(client, "GET", f"challenges/{challenge.public_id}/approve")
    assert get.status_code == 405 and get["Allow"] == "POST"
    post = phone.call(client, "POST", "challenges", {})
    assert post.status_code == 405
    scan = phone.call(client, "POST", "challenges/scan", {"qr": 12})
    assert (scan.status_code, scan.json()["error"]) == (400, "invalid_request")


def test_unsigned_requests_are_refused(client, holder):
    challenge = _challenge_with_device(holder)
    response = client.post(
        f"/api/card/v1/challenges/{challenge.public_id}/approve",
        {"number": challenge.number, "pin": PIN},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")
    assert client.get("/api/card/v1/challenges").status_code == 401
    challenge.refresh_from_db()
    assert challenge.status == "pending"


def _challenge_with_device(pro):
    enrol(pro)
    return login_challenge(pro)


def test_a_ciba_challenge_is_listed_with_its_binding_message(client, holder, phone):
    challenge = login_challenge(holder, binding_message="Ordonnance 42")
    CardChallenge.objects.filter(pk=challenge.pk).update(purpose="ciba")
    [shown] = phone.call(client, "GET", "challenges").json()["challenges"]
    assert (shown["purpose"], shown["binding_message"]) == ("ciba", "Ordonnance 42")


def test_no_number_for_a_numbered_challenge_fails_it(client, holder, phone):
    challenge = login_challenge(holder)
    response = phone.call(client, "POST", f"challenges/{challenge.public_id}/approve", {"pin": PIN})
    assert (response.status_code, response.json()["error"]) == (403, "wrong_number")
    challenge.refresh_from_db()
    assert (challenge.status, challenge.failure) == ("failed", "wrong_number")
