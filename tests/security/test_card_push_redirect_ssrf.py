"""Attack: server-side request forgery through the card app's push endpoint. An enrolled app
chooses its Web Push endpoint; it is checked to be a public https address, but the push service
behind it answers ``307 Location: http://<internal address>/…``. The redirect must not be followed
(the POST and its VAPID Authorization would reach the internal address); the push just fails.
The same file checks that a push really delivered is an RFC 8291 message only the phone can read,
signed with VAPID (RFC 8292), and that a private address is refused before any connection."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from idp.authn.card import push
from tests.authn.card.helpers import push_subscription, use_vapid_key

AUTH_SECRET = b"0123456789abcdef"


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        self.hits.append(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((dict(self.headers), body))
        if self.path == "/push":
            self.send_response(307)
            self.send_header("Location", "/internal")
        else:
            self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def push_service():
    _Recorder.hits = []
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _vapid_key(settings, tmp_path) -> None:
    use_vapid_key(settings, tmp_path)


def _subscription(endpoint: str, phone_key: ec.EllipticCurvePrivateKey) -> dict:
    return push_subscription(endpoint, phone_key, AUTH_SECRET)


def test_a_redirecting_push_endpoint_is_not_followed(push_service, settings, tmp_path):
    _vapid_key(settings, tmp_path)
    # The test's push service is on loopback: allowed here as private addresses may be.
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    phone = ec.generate_private_key(ec.SECP256R1())
    push._send(_subscription(f"{push_service}/push", phone), '{"type":"challenge"}')
    assert _Recorder.hits == ["/push"]


def test_a_push_is_encrypted_for_the_phone_and_signed_with_vapid(push_service, settings, tmp_path):
    _vapid_key(settings, tmp_path)
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True
    phone = ec.generate_private_key(ec.SECP256R1())
    push._send(_subscription(f"{push_service}/deliver", phone), '{"type":"challenge","id":"c1"}')
    assert _Recorder.hits == ["/deliver"]
    headers, body = _Recorder.received[-1]
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Authorization"].startswith("vapid t=")
    assert b"challenge" not in body  # only the phone's key opens it
    clear = http_ece.decrypt(body, private_key=phone, auth_secret=AUTH_SECRET, version="aes128gcm")
    assert clear == b'{"type":"challenge","id":"c1"}'


def test_a_private_push_endpoint_is_refused_before_any_connection(push_service, settings, tmp_path):
    _vapid_key(settings, tmp_path)
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = False
    phone = ec.generate_private_key(ec.SECP256R1())
    push._send(_subscription(f"{push_service}/deliver", phone), '{"type":"challenge"}')
    assert _Recorder.hits == []
