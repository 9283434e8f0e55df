"""Attack: HS256 "signed" with our public key (the RS256/HS256 key-confusion attack).

Our public keys are published (JWKS). A verifier that trusts the header's ``alg`` and hands the
RSA public key to HMAC would accept a MAC anyone can compute (RFC 8725 §2.1, §3.1). Ours pins the
algorithm to the key found by ``kid``: HMACs keyed with every public representation of our keys
(PEM, DER, JWK JSON, modulus) are refused, and nothing about the key store changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from idp.oidc import jwt, keys
from tests.security.forged_tokens import assert_forgery_refused_over_http


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims() -> dict:
    now = int(time.time())
    return {"iss": settings.IDP_ISSUER, "sub": "victim", "iat": now, "exp": now + 300}


def _hs256(header: dict, secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _public_secrets(key) -> dict[str, bytes]:
    public = key.public_key
    jwk = key.as_dict(private=False)
    return {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pem-pkcs1": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(jwk).encode(),
        "jwks-json": json.dumps(keys.get_keystore().public_jwks()).encode(),
        "n": jwk["n"].encode(),
    }


def _snapshot(directory) -> dict:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("form", ["pem", "pem-pkcs1", "der", "jwk-json", "jwks-json", "n"])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "hs256"])
def test_hmac_keyed_with_our_public_key_is_refused(oidc_keys, form, alg):
    store = keys.get_keystore()
    rsa_key = store.signing_key("RS256")
    header = {"alg": alg, "kid": rsa_key.kid, "typ": "JWT"}
    forged = _hs256(header, _public_secrets(rsa_key)[form])
    before_files, before_jwks = _snapshot(oidc_keys), store.public_jwks()

    with pytest.raises(jwt.InvalidJWT, match="does not match"):
        jwt.verify(forged)
    with pytest.raises(jwt.InvalidJWT, match="does not match"):
        jwt.verify(forged, verify_exp=False)

    assert _snapshot(oidc_keys) == before_files
    assert keys.get_keystore().public_jwks() == before_jwks
    genuine = jwt.sign(_claims(), alg="RS256")
    assert jwt.verify(genuine)["sub"] == "victim"


def test_hmac_with_the_header_claiming_rs256_is_a_bad_signature(oidc_keys):
    """Same MAC, header left at RS256: the RSA verification fails on it."""
    rsa_key = keys.get_keystore().signing_key("RS256")
    header = {"alg": "RS256", "kid": rsa_key.kid, "typ": "JWT"}
    forged = _hs256(header, _public_secrets(rsa_key)["pem"])

    with pytest.raises(jwt.InvalidJWT, match="signature"):
        jwt.verify(forged)


def test_hmac_without_kid_is_refused(oidc_keys):
    rsa_key = keys.get_keystore().signing_key("RS256")
    forged = _hs256({"alg": "HS256", "typ": "JWT"}, _public_secrets(rsa_key)["pem"])

    with pytest.raises(jwt.InvalidJWT, match="kid"):
        jwt.verify(forged)


# --- Through HTTP: the endpoints that accept our JWTs ---------------------------------------------
@pytest.mark.django_db
def test_forged_access_token_is_refused_by_userinfo_and_introspection(client, oidc_keys):
    """The claims of a genuine, live access token, re-wrapped by the attacker."""
    assert_forgery_refused_over_http(client, _hs256_token)


def _hs256_token(claims: dict) -> str:
    rsa_key = keys.get_keystore().signing_key("RS256")
    header = {"alg": "HS256", "kid": rsa_key.kid, "typ": "JWT"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    secret = _public_secrets(rsa_key)["pem"]
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"
