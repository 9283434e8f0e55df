"""The card app end to end: the reference app ``caducee-card``, a relying party and a browser, all
speaking real HTTP to the live server (tests/interop/conftest.py).

``card(...)`` runs the CLI entry point in-process (``card_app.cli.main``), ``card_script(...)``
spawns the installed console script; both return the exit code and what was printed. The relying
party is standard library HTTP plus joserfc to verify ID tokens against the published JWKS; the
browser is :class:`tests.interop.browser.Browser` (cookies, forms, no JavaScript: it polls the
status URL the page names, as ``card-login.js`` does).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

from card_app import cli
from idp.core.hashing import s256
from tests.interop.browser import Browser, Form, Response
from tests.interop.conftest import REDIRECT_URI

PIN = "2580"
OTHER_PIN = "1397"
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


# --- the reference app ------------------------------------------------------------------------
@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def card(*args: str) -> CliResult:
    """``caducee-card ARGS`` through its entry point, in this process (real HTTP all the same)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


def console_script() -> Path:
    """The ``caducee-card`` console script installed next to this interpreter."""
    return Path(sys.executable).parent / "caducee-card"


def card_script(*args: str, timeout: float = 60) -> CliResult:
    """``caducee-card ARGS`` as a separate process: the packaging (entry point) is proven too."""
    done = subprocess.run(  # our own console script, fixed arguments
        [str(console_script()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def activate_with_code(base_url: str, state: Path, code: str, *, pin: str = PIN, name: str) -> dict:
    """``caducee-card activate --code``: enrol a device with an administrator's code."""
    result = card(
        "--state", str(state), "--json", "activate", "--base-url", base_url, "--code", code,
        "--pin", pin, "--name", name,
    )  # fmt: skip
    assert result.code == 0, result
    return result.json


def only_pending(state: Path) -> dict[str, Any]:
    """The one request waiting on the device, as ``caducee-card pending --json`` lists it."""
    result = card("--state", str(state), "--json", "pending")
    assert result.code == 0, result
    [challenge] = result.json
    return challenge


def approve(state: Path, challenge_id: str, number: str, *, pin: str = PIN) -> CliResult:
    return card(
        "--state", str(state), "--json", "approve", challenge_id, "--number", number, "--pin", pin
    )  # fmt: skip


# --- the relying party --------------------------------------------------------------------------
def http(
    url: str,
    *,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request from a relying party's back end; the status and the decoded JSON answer."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as answer:
        status, raw = answer.code, answer.read()
    return status, json.loads(raw) if raw else None


@dataclass
class RelyingParty:
    """A confidential client (client_secret_basic) doing the code flow with PKCE, or CIBA."""

    issuer: str
    client_id: str
    secret: str
    redirect_uri: str = REDIRECT_URI
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    _meta: dict[str, Any] | None = None

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            status, self._meta = http(f"{self.issuer}/.well-known/openid-configuration")
            assert status == 200
        return self._meta

    def _basic(self) -> dict[str, str]:
        raw = f"{urllib.parse.quote_plus(self.client_id)}:{urllib.parse.quote_plus(self.secret)}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}

    def authorize_url(self, **extra: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid scope_all",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.meta['authorization_endpoint']}?{urllib.parse.urlencode(params)}"

    def callback(self, location: str) -> dict[str, str]:
        """The parameters the browser brings back to the redirect URI (state and iss checked)."""
        assert location.startswith(self.redirect_uri + "?"), location
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        assert params["state"] == self.state
        assert params["iss"] == self.issuer  # RFC 9207
        return params

    def token(self, **data: str) -> tuple[int, Any]:
        return http(self.meta["token_endpoint"], data=data, headers=self._basic())

    def exchange(self, code: str) -> dict[str, Any]:
        status, tokens = self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri=self.redirect_uri,
            code_verifier=self.verifier,
        )
        assert status == 200, tokens
        return tokens

    def id_token_claims(self, id_token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """Verify the ID token as a relying party does (JWKS signature, iss, aud, nonce)."""
        from joserfc import jwt
        from joserfc.jwk import KeySet
        from joserfc.jws import JWSRegistry

        _status, jwks = http(self.meta["jwks_uri"])
        algorithms = self.meta["id_token_signing_alg_values_supported"]
        decoded = jwt.decode(
            id_token, KeySet.import_key_set(jwks), registry=JWSRegistry(algorithms=algorithms)
        )
        claims = dict(decoded.claims)
        assert claims["iss"] == self.issuer
        assert claims["aud"] in (self.client_id, [self.client_id])
        expected_nonce = self.nonce if nonce is None else nonce
        if expected_nonce:
            assert claims["nonce"] == expected_nonce
        return claims

    def userinfo(self, access_token: str) -> dict[str, Any]:
        status, claims = http(
            self.meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}
        )
        assert status == 200, claims
        return claims

    def ciba(self, **params: str) -> tuple[int, Any]:
        """A backchannel authentication request (CIBA Core §7.1)."""
        endpoint = self.meta["backchannel_authentication_endpoint"]
        return http(endpoint, data={"scope": "openid scope_all", **params}, headers=self._basic())

    def ciba_poll(self, auth_req_id: str) -> tuple[int, Any]:
        return self.token(grant_type="urn:openid:params:grant-type:ciba", auth_req_id=auth_req_id)


# --- the browser on the login page ----------------------------------------------------------------
def form_ending(page: Response, suffix: str) -> Form:
    """The page's form whose action ends with ``suffix`` (``/card``, ``/card/qr``, ``/offline``)."""
    [form] = [f for f in Browser.forms(page) if f.action.endswith(suffix)]
    return form


def open_login_page(browser: Browser, rp: RelyingParty, **extra: str) -> Response:
    """Authorize with PKCE: the authorization endpoint answers with the login page."""
    page = browser.follow(rp.authorize_url(**extra), until=rp.redirect_uri)
    assert page.status == 200, (page.status, page.location)
    assert "/protocol/openid-connect/auth?" in page.url
    form_ending(page, "/card")  # the card app's form is there
    return page


@dataclass
class Waiting:
    """What the waiting page shows: the number, and where it polls and completes."""

    page: Response
    number: str
    status_url: str
    complete: Form
    qr_svg: str | None

    @property
    def challenge_id(self) -> str:
        return self.status_url.rstrip("/").split("/")[-2]


def waiting(page: Response) -> Waiting:
    assert page.status == 200, page.text[:500]
    number = re.search(r'<strong id="card-number">(\d{2})</strong>', page.text)
    status = re.search(r'id="card-complete" data-status-url="([^"]+)"', page.text)
    assert number and status, page.text[:2000]
    [complete] = [f for f in Browser.forms(page) if f.action.endswith("/complete")]
    svg = re.search(r"<svg.*?</svg>", page.text, re.S)
    return Waiting(
        page,
        number.group(1),
        urllib.parse.urljoin(page.url, unescape(status.group(1))),
        complete,
        svg.group(0) if svg else None,
    )


def status_of(browser: Browser, status_url: str) -> str:
    answer = browser.request(status_url, headers={"Accept": "application/json"})
    assert answer.status == 200, answer.text
    return json.loads(answer.body)["status"]


def complete_login(browser: Browser, rp: RelyingParty, wait: Waiting) -> str:
    """The page saw the approval: post the complete form, follow to the client; the code."""
    assert status_of(browser, wait.status_url) == "approved"
    done = browser.submit(wait.page, wait.complete)
    assert done.status == 302, done.text[:1000]
    landed = done
    if not done.location.startswith(rp.redirect_uri):
        landed = browser.follow(done.location, until=rp.redirect_uri)
    assert landed.status in (302, 303), landed.text[:1000]
    return rp.callback(landed.location)["code"]


def push_login(
    browser: Browser, rp: RelyingParty, state: Path, id_nat: str, *, pin: str = PIN
) -> dict[str, Any]:
    """A whole card login (push + number matching) through the CLI; the relying party's tokens."""
    page = open_login_page(browser, rp)
    wait = waiting(browser.submit(page, form_ending(page, "/card"), id_nat=id_nat))
    challenge = only_pending(state)
    approved = approve(state, challenge["id"], wait.number, pin=pin)
    assert approved.code == 0, approved
    return rp.exchange(complete_login(browser, rp, wait))


def svg_paths(svg: str) -> list[str]:
    """The drawing of an inline segno SVG: its path data (background, QR modules), no title."""
    found = re.findall(r'\sd="([^"]+)"', svg)
    assert found, svg[:300]
    return found
