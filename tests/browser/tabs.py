"""A browser tab on the login pages, with what it logged, and the relying party it lands on."""

from __future__ import annotations

import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
)

from tests.interop.card_helpers import RelyingParty

#: Explicit waits never wait longer than this (ms): a test stays well under 15 s.
WAIT_MS = 10_000

#: What the relying party's redirect URI answers.
RP_PAGE = b"<!doctype html><title>Relying party</title><p>Back at the service</p>"


class RelyingPartySite:
    """The relying party's web front on 127.0.0.1 (a loopback http redirect URI, RFC 8252 §7.3):
    another origin than the provider's ``localhost``, so the browser applies the login pages'
    CSP ``form-action`` to the redirect that leaves them, as it would for a real service.
    Answers every GET with a small page and remembers the paths asked."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(RP_PAGE)))
                self.end_headers()
                self.wfile.write(RP_PAGE)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Tab:
    """One page of a fresh browser profile.

    ``errors`` keeps what a person's browser would flag on the pages it showed: uncaught
    exceptions, console errors (Chromium reports a CSP violation as one: "… violates the
    following Content Security Policy directive …") and
    sub-resources (scripts, stylesheets, images, the page's ``fetch``) that failed to load. A
    document's own status is not one of them: the login page answers a failed login with 400
    on purpose, which Chromium's console repeats as "Failed to load resource"; those console
    lines are left out and failed loads are read from the responses instead. The login ends when
    the tab lands on the relying party's redirect URI, whose query the test then reads.
    """

    def __init__(self, context: BrowserContext, rp: RelyingParty) -> None:
        self.context = context
        self.rp = rp
        self.errors: list[str] = []
        #: (method, path) of every request the tab made, in order.
        self.requests: list[tuple[str, str]] = []
        context.set_default_timeout(WAIT_MS)
        self.page: Page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("response", self._response)
        self.page.on("requestfailed", self._request_failed)
        self.page.on(
            "request",
            lambda r: self.requests.append((r.method, urllib.parse.urlsplit(r.url).path)),
        )

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def _response(self, response: Response) -> None:
        request = response.request
        if request.resource_type == "document" or response.status < 400:
            return
        path = urllib.parse.urlsplit(response.url).path
        if path == "/favicon.ico":
            return  # the browser's own request, not the page's
        self.errors.append(f"{request.resource_type} {response.status}: {response.url}")

    def _request_failed(self, request: Request) -> None:
        # ERR_ABORTED: cancelled by the page leaving (a navigation), not refused by anyone.
        if request.resource_type != "document" and "ERR_ABORTED" not in (request.failure or ""):
            self.errors.append(f"{request.resource_type} failed ({request.failure}): {request.url}")

    # --- the login page --------------------------------------------------------------------------
    def open_login_page(self, **extra: str) -> Page:
        """The relying party sends the browser to the authorization endpoint, which shows the
        login page itself (no redirect, as Pro Santé Connect's Keycloak does)."""
        self.page.goto(self.rp.authorize_url(**extra))
        expect(self.page).to_have_url(re.compile(r"/protocol/openid-connect/auth\?"))
        expect(self.page.locator("#card_id_nat")).to_be_visible()
        return self.page

    def send_to_phone(self, id_nat: str) -> str:
        """Type the idNat, "send to my phone": the waiting page's 2-digit number."""
        self.page.fill("#card_id_nat", id_nat)
        self.page.locator("form.method-card button[type=submit]").click()
        return self.number()

    def number(self) -> str:
        shown = self.page.locator("#card-number")
        expect(shown).to_have_text(re.compile(r"^\d{2}$"))
        return shown.inner_text()

    def challenge_id(self) -> str:
        """The challenge the page polls (``…/card/<id>/status``)."""
        url = self.page.locator("#card-complete").get_attribute("data-status-url") or ""
        return url.rstrip("/").split("/")[-2]

    def landed(self) -> dict[str, str]:
        """Wait for the relying party's redirect URI; its parameters (state and iss checked)."""
        self.page.wait_for_url(f"{self.rp.redirect_uri}?**")
        return self.rp.callback(self.page.url)

    def error_shown(self) -> Any:
        return self.page.locator("p.error[role=alert]")
