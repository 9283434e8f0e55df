"""A real HTTP endpoint on 127.0.0.1 answering POSTs with scripted statuses, for delivery tests:
a relying party's back-channel logout endpoint, a CIBA client's notification endpoint, a Web Push
service."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from idp.oidc.keys import get_keystore


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        """The body as application/x-www-form-urlencoded (a logout token's POST)."""
        return parse_qs(self.body.decode())


@dataclass
class LogoutReceiver:
    """Answers each POST with the next scripted (status, delay, extra headers), then 200."""

    script: list[tuple[int, float, dict[str, str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                status, delay, extra = receiver.script.pop(0) if receiver.script else (200, 0, {})
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/backchannel-logout") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_logout_token(token: str) -> tuple[dict, dict]:
    """Verify a logout token as a relying party would, with the published JWKS (§2.6)."""
    keyset = KeySet.import_key_set(get_keystore().public_jwks())
    decoded = jose_jwt.decode(token, keyset, algorithms=["RS256", "ES256"])
    return dict(decoded.header), dict(decoded.claims)
