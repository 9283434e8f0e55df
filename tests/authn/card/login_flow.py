"""Driving a card app login through HTTP: the browser (Django test client) and the phone
(:class:`~tests.authn.card.helpers.FakePhone`, real ES256 signatures).

``begin`` runs the authorization request up to the login page; ``start_push`` / ``start_qr``
post the page's forms asking for JSON (as scripted clients do); ``approve`` answers on the phone;
``finish`` posts the complete form, follows the resume redirect and returns the callback's code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.test import Client as BrowserClient

from idp.authn.card.models import CardChallenge
from tests.oidc.factories import REDIRECT_URI
from tests.oidc.flows import AUTHORIZE_PATH, authorize_params, callback_params, login_location
from tests.oidc.grant_helpers import VERIFIER, basic, post_token

JSON = {"HTTP_ACCEPT": "application/json"}
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def authorization(rp: Any, **extra: str) -> dict[str, str]:
    """The authorization request's parameters, with PKCE."""
    return authorize_params(rp, code_verifier=VERIFIER, nonce="card-nonce", extra=extra)


def begin(browser: BrowserClient, rp: Any, **extra: str) -> str:
    """Authorize with PKCE; return the login page's path ``/login/<txn>`` (the authorization
    endpoint answers with the page itself)."""
    return login_location(browser.get(AUTHORIZE_PATH, authorization(rp, **extra)))


def start_push(browser: BrowserClient, login: str, id_nat: str, **headers: Any) -> Any:
    return browser.post(f"{login}/card", {"id_nat": id_nat}, **{**JSON, **headers})


def start_qr(browser: BrowserClient, login: str, **headers: Any) -> Any:
    return browser.post(f"{login}/card/qr", {}, **{**JSON, **headers})


def pending_on_phone(client: Any, phone: Any) -> list[dict[str, Any]]:
    response = phone.call(client, "GET", "challenges")
    assert response.status_code == 200, response.content
    return response.json()["challenges"]


def approve(client: Any, phone: Any, challenge_id: str, number: str, pin: str) -> Any:
    return phone.call(
        client, "POST", f"challenges/{challenge_id}/approve", {"number": number, "pin": pin}
    )


def number_of(challenge_id: str) -> str:
    """What the browser shows (read from the database in tests that skip the page)."""
    return CardChallenge.objects.get(public_id=challenge_id).number


def wrong_choice(challenge: dict[str, Any], number: str) -> str:
    return next(c for c in challenge["choices"] if c != number)


def code_from(browser: BrowserClient, complete_response: Any) -> str:
    """The code the complete form's answer carries to the client (interaction.complete_login
    answers at once: no detour through resume)."""
    assert complete_response.status_code == 302, complete_response.content[:500]
    params = callback_params(complete_response)
    assert complete_response["Location"].startswith(REDIRECT_URI)
    return params["code"]


def exchange(http: Any, rp: Any, secret: str, code: str) -> Any:
    return post_token(
        http,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        },
        auth=basic(rp.client_id, secret),
    )


def qr_parts(qr_uri: str) -> dict[str, str]:
    query = parse_qs(urlsplit(qr_uri).query)
    return {k: v[0] for k, v in query.items()}


def card_state() -> dict[str, Any]:
    """Everything a refused card request must leave as it was (with tests.oidc.flows'
    state_snapshot for sessions, codes and tokens)."""
    from idp.authn.card.models import CardDevice
    from idp.oidc.models import SsoSession

    return {
        "challenges": list(
            CardChallenge.objects.order_by("pk").values_list(
                "public_id", "status", "failure", "professional_id", "device_id", "consumed_at"
            )
        ),
        "devices": list(
            CardDevice.objects.order_by("pk").values_list(
                "kid", "pin_failures", "blocked_at", "revoked_at", "last_t"
            )
        ),
        "sessions": list(SsoSession.objects.order_by("pk").values_list("sid", "ended_at")),
    }
