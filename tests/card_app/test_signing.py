"""The CardDevice request signature: an ES256 JWS over method, URL, time, nonce and body hash."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey

from card_app import signing

URL = "https://idp.test/api/card/v1/challenges/abc/approve"
BODY = b'{"number":42,"pin":"2580"}'


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture(scope="module")
def key() -> ECKey:
    return signing.generate_device_key()


def public(key: ECKey) -> ECKey:
    return ECKey.import_key(signing.public_jwk(key))


def test_kid_signature_verifies_with_the_public_key(key):
    kid = signing.device_kid(key)
    token = signing.sign_request(key, "post", URL, BODY, kid=kid)
    verified = jws.deserialize_compact(token, public(key), algorithms=["ES256"])
    assert verified.headers() == {"alg": "ES256", "typ": "card-request+jwt", "kid": kid}
    claims = json.loads(verified.payload)
    assert set(claims) == {"htm", "htu", "iat", "jti", "bsh"}
    assert claims["htm"] == "POST"
    assert claims["htu"] == URL
    assert abs(claims["iat"] - time.time()) < 5
    assert len(claims["jti"]) >= 16
    assert claims["bsh"] == signing.b64url(hashlib.sha256(BODY).digest())


def test_signature_is_raw_r_and_s(key):
    """RFC 7518 §3.4: the ES256 signature is R || S, 64 bytes, not DER."""
    token = signing.sign_request(key, "GET", URL, kid=signing.device_kid(key))
    assert len(b64d(token.split(".")[2])) == 64


def test_another_key_does_not_verify(key):
    token = signing.sign_request(key, "GET", URL, kid="x")
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(token, public(signing.generate_device_key()), algorithms=["ES256"])


def test_registration_header_carries_the_public_jwk_only(key):
    token = signing.sign_request(key, "POST", URL, BODY, embed_jwk=True)
    header = json.loads(b64d(token.split(".")[0]))
    assert set(header) == {"alg", "typ", "jwk"}
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"}
    assert "d" not in header["jwk"]
    assert header["jwk"]["kty"] == "EC"
    assert header["jwk"]["crv"] == "P-256"
    embedded = ECKey.import_key(header["jwk"])
    assert not embedded.is_private
    assert embedded.thumbprint() == signing.device_kid(key)
    jws.deserialize_compact(token, embedded, algorithms=["ES256"])


def test_kid_is_the_rfc7638_thumbprint(key):
    jwk = signing.public_jwk(key)
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}, separators=(",", ":")
    )
    expected = signing.b64url(hashlib.sha256(canonical.encode()).digest())
    assert signing.device_kid(key) == expected


def test_body_hash_of_the_empty_body():
    # SHA-256("") = e3b0c442...b855, base64url without padding.
    assert signing.body_hash(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    assert "=" not in signing.body_hash(BODY)


def test_given_time_and_nonce_are_used(key):
    token = signing.sign_request(key, "DELETE", URL, kid="k", now=1764130000, jti="j" * 20)
    claims = json.loads(b64d(token.split(".")[1]))
    assert claims["iat"] == 1764130000
    assert claims["jti"] == "j" * 20
    assert claims["htm"] == "DELETE"
    assert claims["bsh"] == signing.body_hash(b"")


def test_nonces_differ(key):
    tokens = [signing.sign_request(key, "GET", URL, kid="k") for _ in range(3)]
    nonces = {json.loads(b64d(t.split(".")[1]))["jti"] for t in tokens}
    assert len(nonces) == 3


def test_exactly_one_key_identification(key):
    with pytest.raises(ValueError, match="exactly one"):
        signing.sign_request(key, "GET", URL)
    with pytest.raises(ValueError, match="exactly one"):
        signing.sign_request(key, "GET", URL, kid="k", embed_jwk=True)


def test_authorization_header(key):
    value = signing.authorization_header(key, "GET", URL, kid="k")
    scheme, token = value.split(" ")
    assert scheme == "CardDevice"
    assert token.count(".") == 2


def test_pem_round_trip(key):
    pem = signing.key_to_pem(key)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert signing.device_kid(signing.key_from_pem(pem)) == signing.device_kid(key)


@pytest.mark.parametrize(
    "other",
    [
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
)
def test_only_p256_keys_are_loaded(other):
    pem = other().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        signing.key_from_pem(pem)
