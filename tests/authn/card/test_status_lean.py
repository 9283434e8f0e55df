"""The card login's status endpoint (polled every second) is served through the lean stack.

It reads the ``caducee_txn`` cookie and the signed transaction: no Django session, user or
locale; its ``POST`` (the page's poll, which completes an approved login) checks the page's CSRF
token in the view. The lean stack keeps the Host check and the security headers; the view sets
the ones a page's middleware would have added (no framing, no content policy needed for JSON).
"""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client as BrowserClient

from idp.authn.card.models import CardChallenge
from idp.core.protocol_handler import ProtocolRouter, is_lean_path
from idp.oidc import sessions
from idp.oidc.models import SsoSession
from idp.wsgi import application
from tests.authn.card import login_flow as flow
from tests.authn.card.helpers import PIN, enrol
from tests.oidc.factories import REDIRECT_URI, make_client, make_doctor_with_two_activities

pytestmark = pytest.mark.django_db


def _wsgi_get(
    path: str,
    cookies: dict[str, str],
    host: str = "testserver",
    *,
    method: str = "GET",
    extra: dict[str, str] | None = None,
) -> tuple[str, dict]:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": host,
        "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https", "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False, **(extra or {}),
    }  # fmt: skip
    got: dict = {}

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        got["status"] = status
        got["headers"] = dict(headers)
        got["cookies"] = [value.strip() for name, value in headers if name == "Set-Cookie"]

    # As Django's test client does: the request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(application(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return got["status"], {**got["headers"], "body": body, "cookies": got["cookies"]}


def test_status_paths_go_to_the_lean_handler():
    router = ProtocolRouter(pages=lambda *a: "pages", protocol=lambda *a: "protocol")
    assert router({"PATH_INFO": "/login/T/card/C/status"}, None) == "protocol"
    for page in ("/login/T", "/login/T/card", "/login/T/card/C/complete", "/login/status"):
        assert router({"PATH_INFO": page}, None) == "pages"
        assert not is_lean_path(page)


def test_status_through_the_lean_stack_answers_with_the_right_headers():
    model, _secret = make_client()
    doctor = make_doctor_with_two_activities()
    enrol(doctor)
    browser = BrowserClient(HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)
    login = flow.begin(browser, model)
    body = flow.start_push(browser, login, doctor.id_nat).json()
    cookies = {name: morsel.value for name, morsel in browser.cookies.items()}

    status, headers = _wsgi_get(body["status_url"], cookies)
    assert status.startswith("200"), headers
    assert headers["body"] == b'{"status": "pending"}'
    assert headers["Content-Type"] == "application/json"
    assert "no-store" in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "Set-Cookie" not in headers  # no session, no CSRF cookie

    # Another browser (no caducee_txn cookie) learns nothing; a foreign Host is refused.
    status, headers = _wsgi_get(body["status_url"], {})
    assert status.startswith("404")
    assert "no-store" in headers["Cache-Control"]
    status, _headers = _wsgi_get(body["status_url"], cookies, host="evil.example")
    assert status.startswith("400")


def _approved(client, settings) -> tuple[dict, str]:
    """A login page whose push challenge the phone approved: the start's JSON answer (with the
    browser's cookies under ``cookies``) and the page's CSRF token."""
    settings.ALLOWED_HOSTS = ["testserver"]
    model, _secret = make_client()
    doctor = make_doctor_with_two_activities()
    _device, phone = enrol(doctor)
    browser = BrowserClient(HTTP_USER_AGENT=flow.FIREFOX_WINDOWS)
    login = flow.begin(browser, model)
    token = str(browser.get(login).context["csrf_token"])
    body = flow.start_push(browser, login, doctor.id_nat).json()
    flow.approve(client, phone, body["challenge"], body["number"], PIN)
    body["cookies"] = {name: morsel.value for name, morsel in browser.cookies.items()}
    return body, token


def test_the_completing_poll_through_the_lean_stack_checks_csrf_and_sets_the_session(
    client, settings
):
    body, token = _approved(client, settings)
    cookies = body["cookies"]
    origin = {"HTTP_ORIGIN": "https://testserver", "HTTP_ACCEPT": "application/json"}

    # No CSRF middleware on the lean stack: the view checks the token itself.
    status, headers = _wsgi_get(body["status_url"], cookies, method="POST", extra=origin)
    assert status.startswith("403"), headers
    assert not SsoSession.objects.exists()
    assert CardChallenge.objects.get().consumed_at is None

    status, headers = _wsgi_get(
        body["status_url"], cookies, method="POST", extra={**origin, "HTTP_X_CSRFTOKEN": token}
    )
    assert status.startswith("200"), headers
    assert json.loads(headers["body"])["location"].startswith(REDIRECT_URI)
    assert any(c.startswith(f"{sessions.COOKIE_NAME}=") for c in headers["cookies"])
    assert headers["X-Frame-Options"] == "DENY"
    assert "no-store" in headers["Cache-Control"]
    assert SsoSession.objects.count() == 1


def test_a_refused_completion_through_the_lean_stack_answers_the_plain_status(client, settings):
    """The completion's refusal page is rendered on the lean stack (no locale or content-policy
    middleware) and not sent: the poll answers the status, and nothing is written."""
    from django.utils import timezone

    from idp.authn.card.models import CardDevice

    body, token = _approved(client, settings)
    CardDevice.objects.update(revoked_at=timezone.now())  # revoked after approving
    cookies = body["cookies"]
    extra = {"HTTP_ORIGIN": "https://testserver", "HTTP_X_CSRFTOKEN": token}

    status, headers = _wsgi_get(body["status_url"], cookies, method="POST", extra=extra)

    assert status.startswith("200"), headers
    assert json.loads(headers["body"]) == {"status": "approved"}
    assert not any(c.startswith(f"{sessions.COOKIE_NAME}=") for c in headers["cookies"])
    assert not SsoSession.objects.exists()
    assert CardChallenge.objects.get().consumed_at is None
