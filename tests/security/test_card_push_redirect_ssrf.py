"""Attack: server-side request forgery through the card app's push endpoint. An enrolled app
chooses its Web Push endpoint; it is checked to be a public https address, but the push service
behind it answers ``307 Location: http://<internal address>/…``. The redirect must not be followed
(the POST and its VAPID Authorization would reach the internal address); the push just fails."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from idp.authn.card import push
from idp.oidc import ssrf


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        self.hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
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
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_redirecting_push_endpoint_is_not_followed(push_service, settings, tmp_path, monkeypatch):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "vapid.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.IDP_CARD_VAPID_PRIVATE_KEY = str(pem)
    # The test's push service is local: let the address check pass as for a public one.
    monkeypatch.setattr(ssrf, "resolve", lambda url, allow_private: None)
    phone_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    p256dh = phone_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    subscription = {
        "endpoint": f"{push_service}/push",
        "keys": {
            "p256dh": base64.urlsafe_b64encode(p256dh).rstrip(b"=").decode(),
            "auth": base64.urlsafe_b64encode(b"0123456789abcdef").rstrip(b"=").decode(),
        },
    }
    push._send(subscription, '{"type":"challenge"}')
    assert _Recorder.hits == ["/push"]
