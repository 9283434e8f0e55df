"""Attack: an unsigned JWT (``"alg": "none"``, RFC 7519 §6) passed off as one of ours.

A verifier that takes the algorithm from the header accepts any claims with an empty signature
(RFC 8725 §2.1). Ours looks the key up by ``kid`` and uses the key's algorithm: every spelling of
``none``, with or without our kid, with or without a signature, must be refused, and nothing
about the key store may change.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.conf import settings

from idp.oidc import jwt, keys
from tests.security.forged_tokens import assert_forgery_refused_over_http


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims() -> dict:
    now = int(time.time())
    return {"iss": settings.IDP_ISSUER, "sub": "victim", "iat": now, "exp": now + 300}


def _unsigned(header: dict, signature: bytes = b"") -> str:
    encoded = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    return f"{encoded}.{_b64(signature)}"


def _snapshot(directory) -> dict:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture
def store(oidc_keys):
    return keys.get_keystore()


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
@pytest.mark.parametrize("kid_alg", ["RS256", "ES256", None])
@pytest.mark.parametrize("signature", [b"", b"anything"])
def test_unsigned_token_is_refused(store, oidc_keys, alg, kid_alg, signature):
    header = {"alg": alg, "typ": "JWT"}
    if kid_alg:
        header["kid"] = store.signing_key(kid_alg).kid
    before_files, before_jwks = _snapshot(oidc_keys), store.public_jwks()
    genuine = jwt.sign(_claims(), alg="RS256")

    with pytest.raises(jwt.InvalidJWT):
        jwt.verify(_unsigned(header, signature))
    with pytest.raises(jwt.InvalidJWT):
        jwt.verify(_unsigned(header, signature), verify_exp=False)

    assert _snapshot(oidc_keys) == before_files
    assert keys.get_keystore().public_jwks() == before_jwks
    assert jwt.verify(genuine)["sub"] == "victim"  # the verifier still works for real tokens


def test_genuine_token_rewritten_to_alg_none_is_refused(store):
    """Take a real token, switch its header to none and drop the signature."""
    genuine = jwt.sign(_claims(), alg="ES256")
    _, payload, _ = genuine.split(".")
    header = {"alg": "none", "kid": store.signing_key("ES256").kid, "typ": "JWT"}
    forged = f"{_b64(json.dumps(header).encode())}.{payload}."

    with pytest.raises(jwt.InvalidJWT, match="does not match"):
        jwt.verify(forged)


# --- Through HTTP: the endpoints that accept our JWTs ---------------------------------------------
@pytest.mark.django_db
def test_forged_access_token_is_refused_by_userinfo_and_introspection(client, oidc_keys):
    """The claims of a genuine, live access token, re-wrapped by the attacker."""
    assert_forgery_refused_over_http(client, _none_token)


def _none_token(claims: dict) -> str:
    header = {"alg": "none", "kid": keys.get_keystore().signing_key("RS256").kid, "typ": "JWT"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
