"""Authlib's OAuth 2.0 client (Python), an independent RP library, against a live Caducée.

Authlib's framework-neutral ``OAuth2Client`` only needs a session object with ``request``/``post``;
a small standard-library one keeps any HTTP stack of ours out of the way.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

import pytest
from authlib.oauth2.auth import TokenAuth
from authlib.oauth2.client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tests.interop.browser import Browser
from tests.interop.conftest import POST_LOGOUT_URI, REDIRECT_URI

pytestmark = pytest.mark.django_db(transaction=True)


class _Answer:
    """The part of a ``requests.Response`` Authlib reads."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status_code, self.content, self.headers = status, body, headers

    def json(self) -> dict:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.content[:300]!r}")


class StdlibSession:
    def request(self, method, url, data=None, headers=None, auth=None, **_):
        headers = dict(headers or {})
        body = urllib.parse.urlencode(data or {})
        if isinstance(auth, TokenAuth):
            url, headers, body = auth.prepare(url, headers, body)
        elif auth is not None:
            url, headers, body = auth.prepare(method, url, headers, body)
        request = urllib.request.Request(  # noqa: S310 (loopback test server)
            url, data=body.encode() if method == "POST" else None, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return _Answer(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as answer:
            return _Answer(answer.code, answer.read(), dict(answer.headers))

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310
        return json.load(answer)


def test_code_flow_with_authlib(live_provider, registered_rp, doctor):
    client, secret = registered_rp
    meta = _get_json(f"{live_provider}/.well-known/openid-configuration")
    assert meta["issuer"] == live_provider
    assert meta == _get_json(f"{live_provider}/.well-known/wallet-openid-configuration")

    session = StdlibSession()
    rp = OAuth2Client(
        session,
        client_id=client.client_id,
        client_secret=secret,
        token_endpoint_auth_method="client_secret_basic",
        scope="openid scope_all",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint=meta["token_endpoint"],
    )
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, acr_values="eidas1"
    )

    # The professional's browser: the login page, the test method, back to the service.
    browser = Browser()
    login_page = browser.follow(url, until=REDIRECT_URI)
    assert login_page.status == 200
    # The test method's form: the one with the acr choice (the card app's forms ask the idNat too).
    (form,) = [f for f in Browser.forms(login_page) if "acr" in f.fields]
    callback = browser.follow(
        browser.submit(login_page, form, id_nat=doctor.id_nat).location, until=REDIRECT_URI
    ).location
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    assert params["iss"] == live_provider  # RFC 9207: Authlib's client leaves this check to us

    token = rp.fetch_token(authorization_response=callback, state=state, code_verifier=verifier)
    assert token["token_type"].lower() == "bearer"
    assert {"refresh_expires_in", "session_state", "scope"} <= set(token)

    jwks = KeySet.import_key_set(_get_json(meta["jwks_uri"]))
    decoded = jwt.decode(
        token["id_token"],
        jwks,
        registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": live_provider},
            "aud": {"essential": True, "value": client.client_id},
        },
        params={
            "nonce": nonce,
            "client_id": client.client_id,
            "access_token": token["access_token"],
        },
    )
    claims.validate(leeway=30)
    assert claims["sub"] == doctor.sub
    assert claims["SubjectNameID"] == doctor.id_nat

    userinfo = session.request("GET", meta["userinfo_endpoint"], auth=rp.token_auth).json()
    assert userinfo["sub"] == doctor.sub
    assert userinfo["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5"]

    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]

    introspected = rp.introspect_token(
        meta["introspection_endpoint"], token=refreshed["access_token"]
    ).json()
    assert introspected["active"] is True
    assert introspected["username"] == doctor.id_nat
    assert introspected["SubjectNameID"] == doctor.id_nat

    revoked = rp.revoke_token(
        meta["revocation_endpoint"],
        token=refreshed["refresh_token"],
        token_type_hint="refresh_token",
    )
    assert revoked.status_code == 200
    assert rp.introspect_token(
        meta["introspection_endpoint"], token=refreshed["refresh_token"]
    ).json() == {"active": False}

    logout = urllib.parse.urlencode(
        {
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "bye",
        }
    )
    ended = browser.follow(f"{meta['end_session_endpoint']}?{logout}", until=POST_LOGOUT_URI)
    assert ended.location == f"{POST_LOGOUT_URI}?state=bye"
