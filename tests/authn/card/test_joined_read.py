"""The view's first read made with the device's lookup (device_auth.JoinedRead): one statement
for the device and the challenges, the same answers as two."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from idp.authn.card.models import CardChallenge, CardDevice
from tests.accounts.factories import make_professional, rpps
from tests.authn.card.helpers import PIN, FakePhone, enrol, login_challenge

pytestmark = pytest.mark.django_db

CHALLENGE_TABLE = CardChallenge._meta.db_table


@pytest.fixture
def holder():
    return make_professional("8" + rpps(91))


@pytest.fixture
def phone(holder):
    return enrol(holder)[1]


def _selects(queries) -> list[str]:
    """The reads of devices or challenges (not the journal's, which SQLite reads from Python)."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("SELECT")
        and (CHALLENGE_TABLE in q["sql"] or CardDevice._meta.db_table in q["sql"])
    ]


def test_the_listing_is_read_with_the_device_in_one_statement(client, holder, phone):
    first, second = login_challenge(holder), login_challenge(holder)
    with CaptureQueriesContext(connection) as queries:
        response = phone.call(client, "GET", "challenges")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["challenges"]] == [first.public_id, second.public_id]
    [select] = _selects(queries)
    assert f"LEFT JOIN {CHALLENGE_TABLE} c" in select


def test_a_holder_with_nothing_pending_gets_an_empty_list(client, phone):
    response = phone.call(client, "GET", "challenges")
    assert response.status_code == 200 and response.json() == {"challenges": []}


def test_an_approval_reads_its_challenge_with_the_device(client, holder, phone):
    challenge = login_challenge(holder)
    with CaptureQueriesContext(connection) as queries:
        response = phone.call(
            client,
            "POST",
            f"challenges/{challenge.public_id}/approve",
            {"number": challenge.number, "pin": PIN},
        )
    assert response.status_code == 200, response.content
    [select] = _selects(queries)
    assert f"LEFT JOIN {CHALLENGE_TABLE} c" in select
    assert CardChallenge.objects.get(pk=challenge.pk).status == "approved"


def test_another_professionals_challenge_is_not_found_and_nothing_moves(client, phone):
    other = make_professional("8" + rpps(92))
    enrol(other)
    theirs = login_challenge(other)
    for action, body in (("approve", {"number": theirs.number, "pin": PIN}), ("deny", {})):
        response = phone.call(client, "POST", f"challenges/{theirs.public_id}/{action}", body)
        assert (response.status_code, response.json()["error"]) == (404, "challenge_not_found")
    assert CardChallenge.objects.get(pk=theirs.pk).status == "pending"
    assert set(CardDevice.objects.values_list("pin_failures", flat=True)) == {0}


def test_an_id_no_challenge_can_have_is_not_found_without_a_joined_read(client, holder, phone):
    login_challenge(holder)
    with CaptureQueriesContext(connection) as queries:
        response = phone.call(client, "POST", f"challenges/{'x' * 65}/approve", {"pin": PIN})
    assert (response.status_code, response.json()["error"]) == (404, "challenge_not_found")
    assert all(CHALLENGE_TABLE not in sql for sql in _selects(queries))


def test_an_unknown_device_is_refused_before_its_rows_are_used(client, holder, phone):
    challenge = login_challenge(holder)
    stranger = FakePhone()  # a key never enrolled
    response = stranger.call(
        client,
        "POST",
        f"challenges/{challenge.public_id}/approve",
        {"number": challenge.number, "pin": PIN},
    )
    assert (response.status_code, response.json()["error"]) == (401, "unknown_device")
    assert CardChallenge.objects.get(pk=challenge.pk).status == "pending"
