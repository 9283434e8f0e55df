"""The WSGI entry point: protocol endpoints through the lean stack, pages through the full one."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import urlencode

import pytest
from django.core import signals
from django.db import close_old_connections
from django.urls import reverse

from idp.core.protocol_handler import PROTOCOL_ROUTES
from tests.oidc.factories import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def wsgi_app():
    """``idp.wsgi.application``, keeping the test's database connection open between requests
    (as Django's test client does)."""
    from idp.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def call(app, method: str, path: str, *, body: bytes = b"", headers: dict | None = None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_FORWARDED_PROTO": "https",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded" if body else "",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()},
    }
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = {name.lower(): value for name, value in response_headers}

    chunks = app(environ, start_response)
    content = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return captured["status"], captured["headers"], content


def test_protocol_paths_are_the_named_routes(wsgi_app):
    assert wsgi_app.paths == {reverse(f"oidc:{name}") for name in PROTOCOL_ROUTES}
    assert reverse("oidc:authorize") not in wsgi_app.paths
    assert reverse("oidc:logout") not in wsgi_app.paths


def test_discovery_through_the_lean_stack(wsgi_app, settings):
    status, headers, content = call(wsgi_app, "GET", reverse("oidc:discovery"))
    assert status == 200
    assert json.loads(content)["issuer"] == settings.IDP_ISSUER
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in headers


def test_token_endpoint_through_the_lean_stack(wsgi_app, settings):
    client, secret = make_client()
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    status, headers, content = call(
        wsgi_app,
        "POST",
        reverse("oidc:token"),
        body=urlencode({"grant_type": "client_credentials"}).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    assert status == 200, content
    assert json.loads(content)["token_type"] == "Bearer"
    assert headers["cache-control"] == "no-store"
    assert "set-cookie" not in headers


def test_token_errors_through_the_lean_stack(wsgi_app):
    status, _, content = call(
        wsgi_app,
        "POST",
        reverse("oidc:token"),
        body=b"grant_type=client_credentials",
        headers={"Authorization": "Basic bm9ib2R5Om5vcGU="},
    )
    assert status == 401
    assert json.loads(content)["error"] == "invalid_client"


def test_pages_keep_the_full_stack(wsgi_app):
    status, headers, content = call(wsgi_app, "GET", "/")
    assert status == 200
    assert "content-security-policy" in headers
    assert headers["x-frame-options"] == "DENY"
    assert b"Caduc" in content


def test_lean_stack_refuses_a_foreign_host(wsgi_app):
    status, _, _ = call(wsgi_app, "GET", reverse("oidc:jwks"), headers={"Host": "evil.example"})
    assert status == 400
