"""A fake app API server for the card app's unit tests: a requests transport adapter.

It answers from canned routes and records every prepared request, so tests can check the exact
bytes, headers and signatures the app sends without any server running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

BASE_URL = "https://idp.test"
ISSUER = f"{BASE_URL}/auth/realms/esante-wallet"


@dataclass
class Route:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class FakeServer(BaseAdapter):
    """Routes ``(METHOD, path)`` to canned answers; ``requests`` lists what was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[requests.PreparedRequest] = []
        self.failure: Exception | None = None

    def add(self, method: str, path: str, status: int = 200, body: Any = None, **kw: Any) -> None:
        self.routes[(method, path)] = Route(status, body, **kw)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure
        path = urlsplit(request.url).path
        route = self.routes.get((request.method, path), Route(404, {"error": "not_routed"}))
        body = route.body(request) if callable(route.body) else route.body
        response = requests.Response()
        response.status_code = route.status
        response.reason = "Fake"
        if route.raw is not None:
            response._content = route.raw
        elif body is None:
            response._content = b""
        else:
            response._content = json.dumps(body).encode("utf-8")
        response.headers = CaseInsensitiveDict(
            {"Content-Type": "application/json", **route.headers}
        )
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass

    def session(self) -> requests.Session:
        """A session whose every request goes to this fake."""
        session = requests.Session()
        session.mount("https://", self)
        session.mount("http://", self)
        return session

    @property
    def last(self) -> requests.PreparedRequest:
        return self.requests[-1]


def body_bytes(request: requests.PreparedRequest) -> bytes:
    """The body a prepared request sends (``None`` is the empty body)."""
    body = request.body
    if body is None:
        return b""
    return body if isinstance(body, bytes) else body.encode("utf-8")


TEST_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of RFC 6238 Appendix B's SHA-1 seed


def activation_answer(kid: str, *, secret: str = TEST_SEED) -> dict:
    """What ``activation/complete`` answers (201) for a device whose kid is ``kid``."""
    return {
        "device": {
            "kid": kid,
            "name": "Test phone",
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2029-01-01T00:00:00Z",
            "last_used_at": None,
            "status": "active",
            "push": None,
        },
        "professional": {"id_nat": "810000000001", "display_name": "Dr Jeanne Martin"},
        "totp": {"secret": secret, "digits": 6, "period": 30, "algorithm": "SHA1"},
    }


def jws_parts(request: requests.PreparedRequest) -> tuple[dict, dict, str]:
    """The (protected header, payload, compact JWS) of a request's CardDevice authorization."""
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert scheme == "CardDevice"
    header_b64, payload_b64, _ = token.split(".")
    return json.loads(_b64decode(header_b64)), json.loads(_b64decode(payload_b64)), token


def _b64decode(value: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def answer_activation(request: requests.PreparedRequest) -> dict:
    """A 201 body for ``activation/complete`` naming the key that signed the request."""
    from joserfc.jwk import ECKey

    header, _, _ = jws_parts(request)
    return activation_answer(ECKey.import_key(header["jwk"]).thumbprint())
