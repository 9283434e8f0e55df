"""Attack: learning which idNats exist (or have contacts) from ``activation/start``.

The answer is 202 with the same keys, types, headers and lengths for a known idNat, an unknown
one and one without contacts; a decoy id then behaves like a real activation with wrong codes
(``activation_invalid``, then ``too_many_attempts`` after five tries).
"""

from __future__ import annotations

import pytest
from django.core import mail

from idp.authn.card.models import CardActivation, CardDevice
from idp.core import sms
from tests.accounts.factories import rpps
from tests.authn.card.helpers import FakePhone
from tests.authn.card.test_activation import (
    complete_self_service,
    holder,
    sms_outbox,  # noqa: F401 (fixture)
    start,
)

pytestmark = pytest.mark.django_db


def shape(response) -> tuple:
    body = response.json()
    return (
        response.status_code,
        sorted(body),
        {key: type(value).__name__ for key, value in body.items()},
        len(body["activation_id"]),
        body["expires_in"],
        body["channels"],
        response["Content-Type"],
        response["Cache-Control"],
    )


def test_known_unknown_and_contactless_look_alike(client):
    known = start(client, holder(1).id_nat)
    contactless = start(client, holder(2, email="", mobile="").id_nat)
    unknown = start(client, "8" + rpps(3))
    assert shape(known) == shape(unknown) == shape(contactless)
    # Only the known one sent anything (to its own contacts, not to the requester).
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1
    assert CardActivation.objects.count() == 1


def test_a_decoy_fails_like_a_real_activation(client):
    real = start(client, holder(1).id_nat).json()["activation_id"]
    decoy = start(client, "8" + rpps(3)).json()["activation_id"]
    phone = FakePhone()

    def errors(activation_id: str) -> list[tuple[int, str]]:
        out = []
        for _ in range(7):
            response = complete_self_service(client, phone, activation_id, "000000", "000000")
            out.append((response.status_code, response.json()["error"]))
        return out

    assert errors(real) == errors(decoy)
    assert not CardDevice.objects.exists()


def test_an_expired_decoy_expires_like_a_real_activation(client, settings):
    settings.IDP_CARD_ACTIVATION_SECONDS = -1  # both ids are born expired
    real = start(client, holder(1).id_nat).json()["activation_id"]
    decoy = start(client, "8" + rpps(3)).json()["activation_id"]
    phone = FakePhone()
    answers = {
        (response.status_code, response.json()["error"])
        for response in (
            complete_self_service(client, phone, real, "000000", "000000"),
            complete_self_service(client, phone, decoy, "000000", "000000"),
        )
    }
    assert answers == {(410, "activation_expired")}
    assert CardActivation.objects.get().attempts == 0
    assert not CardDevice.objects.exists()


def test_an_id_the_server_did_not_make_is_invalid(client):
    real = start(client, holder(1).id_nat).json()["activation_id"]
    forged = real[:-2] + ("AA" if real[-2:] != "AA" else "BB")  # MAC broken
    response = complete_self_service(client, FakePhone(), forged, "000000", "000000")
    assert response.status_code == 400 and response.json()["error"] == "activation_invalid"
    assert CardActivation.objects.get().attempts == 0
