"""CIBA clients, professionals with a card app, requests and answers, for the CIBA tests.

Everything is real: clients registered through the registry, devices with a real P-256 key
(tests.authn.card.helpers), requests through the HTTP endpoints, answers through the card app's
API (``/api/card/v1/challenges``) signed by the phone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.test import Client as HttpClient

from idp.accounts.models import Professional
from idp.authn.card.models import CardChallenge, CardDevice
from idp.oidc.models import CibaRequest
from idp.oidc.protocol.ciba import GRANT_TYPE, auth_req_id_hash
from relying_parties.models import Client
from tests.authn.card.helpers import PIN, FakePhone, enrol
from tests.oidc.factories import make_client, make_professional, rpps
from tests.oidc.grant_helpers import FORM, basic, post_token

CIBA_URL = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/ext/ciba/auth"

__all__ = ["GRANT_TYPE", "PIN"]


def make_ciba_client(mode: str = "poll", **overrides: Any) -> tuple[Client, str]:
    """A confidential client registered for CIBA in ``mode`` (and the refresh grant)."""
    metadata: dict[str, Any] = {
        "name": "Logiciel de cabinet",
        "grant_types": ["authorization_code", "refresh_token", GRANT_TYPE],
        "ciba_mode": mode,
    }
    metadata.update(overrides)
    return make_client(**metadata)


def make_holder(serial: int = 7) -> tuple[Professional, CardDevice, FakePhone]:
    """A professional with one usable card app device."""
    professional = make_professional("8" + rpps(serial))
    device, phone = enrol(professional)
    return professional, device, phone


def ciba_auth(
    http: HttpClient, client: Client, secret: str, *, auth: str | None = None, **params: str
) -> Any:
    """POST a backchannel authentication request (client_secret_basic unless ``auth``)."""
    data = {k: v for k, v in params.items() if v is not None}
    header = auth if auth is not None else basic(client.client_id, secret)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    return http.post(CIBA_URL, urlencode(data), content_type=FORM, **extra)


def start(
    http: HttpClient,
    client: Client,
    secret: str,
    professional: Professional,
    **params: str,
) -> str:
    """A successful request for ``professional``; returns the auth_req_id."""
    values = {"scope": "openid scope_all", "login_hint": professional.id_nat, **params}
    response = ciba_auth(http, client, secret, **values)
    assert response.status_code == 200, response.content
    return response.json()["auth_req_id"]


def poll(http: HttpClient, client: Client, secret: str, auth_req_id: str) -> Any:
    data = {"grant_type": GRANT_TYPE, "auth_req_id": auth_req_id}
    return post_token(http, data, auth=basic(client.client_id, secret))


def row(auth_req_id: str) -> CibaRequest:
    return CibaRequest.objects.select_related("challenge").get(
        auth_req_id_hash=auth_req_id_hash(auth_req_id)
    )


def allow_next_poll(auth_req_id: str) -> None:
    """Pretend the interval elapsed since the last poll (instead of sleeping 5 seconds)."""
    ciba_row = row(auth_req_id)
    if ciba_row.last_polled_at is not None:
        from datetime import timedelta

        CibaRequest.objects.filter(pk=ciba_row.pk).update(
            last_polled_at=ciba_row.last_polled_at - timedelta(seconds=ciba_row.interval)
        )


def pending_challenge(http: HttpClient, phone: FakePhone) -> dict[str, Any]:
    """The one challenge waiting on the phone, as the app sees it (GET challenges)."""
    response = phone.call(http, "GET", "challenges")
    assert response.status_code == 200, response.content
    [challenge] = response.json()["challenges"]
    return challenge


def approve(
    http: HttpClient,
    device: CardDevice,
    phone: FakePhone,
    challenge_id: str,
    *,
    number: str,
    pin: str = PIN,
) -> Any:
    """The holder picks ``number`` and types ``pin`` on the phone (the app API, signed)."""
    return phone.call(
        http, "POST", f"challenges/{challenge_id}/approve", {"number": number, "pin": pin}
    )


def deny(http: HttpClient, device: CardDevice, phone: FakePhone, challenge_id: str) -> Any:
    response = phone.call(http, "POST", f"challenges/{challenge_id}/deny", {"reason": "not me"})
    assert response.status_code == 200, response.content
    return response


def challenge_of(auth_req_id: str) -> CardChallenge:
    return row(auth_req_id).challenge


class NotificationReceiver:
    """A real client notification endpoint on 127.0.0.1 (§10.2): records each POST's path,
    headers and raw body, answers the next scripted status (then 204)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.script: list[int] = []
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.received.append((self.path, dict(self.headers.items()), body))
                status = receiver.script.pop(0) if receiver.script else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/ciba/notify") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
