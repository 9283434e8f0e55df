"""Signing and verifying the provider's JWTs (idp/oidc/jwt.py), with real keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from idp.oidc import jwt, keys


def _claims(**extra):
    now = int(time.time())
    return {"iss": settings.IDP_ISSUER, "sub": "abc", "iat": now, "exp": now + 60, **extra}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, signature: bytes = b"sig") -> str:
    return ".".join(
        [
            _b64(json.dumps(header).encode()),
            _b64(json.dumps(claims).encode()),
            _b64(signature),
        ]
    )


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_sign_then_verify(alg):
    claims = _claims(nonce="n-0S6_WzA2Mj")
    token = jwt.sign(claims, alg=alg)

    header = jwt.unverified_header(token)
    active = keys.get_keystore().signing_key(alg)
    assert header == {"alg": alg, "kid": active.kid, "typ": "JWT"}
    assert jwt.verify(token) == claims
    assert jwt.verify(token, typ="JWT") == claims


def test_signature_verifies_with_the_published_jwks_alone():
    """An independent relying party (joserfc, no access to our store) accepts our tokens."""
    token = jwt.sign(_claims(), alg="ES256", typ="logout+jwt")
    public = KeySet.import_key_set(keys.get_keystore().public_jwks())

    decoded = jose_jwt.decode(token, public, algorithms=["ES256", "RS256"])

    assert decoded.claims["sub"] == "abc"
    assert decoded.header["typ"] == "logout+jwt"


def test_sign_does_not_change_the_callers_claims():
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    claims = _claims(exp=expires)

    token = jwt.sign(claims, alg="RS256")

    assert claims["exp"] is expires
    assert jwt.verify(token)["exp"] == int(expires.timestamp())


def test_typ_is_checked_case_insensitively_when_asked():
    token = jwt.sign(_claims(), alg="RS256", typ="logout+jwt")

    assert jwt.verify(token, typ="Logout+JWT")["sub"] == "abc"
    with pytest.raises(jwt.InvalidJWT, match="typ"):
        jwt.verify(token, typ="JWT")
    untyped = jwt.sign(_claims(), alg="RS256")
    with pytest.raises(jwt.InvalidJWT, match="typ"):
        jwt.verify(untyped, typ="logout+jwt")


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iss": "https://evil.example/auth/realms/esante-wallet"}, id="foreign-iss"),
        pytest.param({"iss": None}, id="no-iss"),
        pytest.param({"iss": settings.IDP_ISSUER + "/"}, id="iss-trailing-slash"),
        pytest.param({"exp": int(time.time()) - 31}, id="expired"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"exp": "tomorrow"}, id="exp-not-a-number"),
        pytest.param({"nbf": int(time.time()) + 600}, id="not-yet-valid"),
        pytest.param({"iat": int(time.time()) + 600}, id="issued-in-the-future"),
    ],
)
def test_claims_are_checked(claims):
    token = jwt.sign({k: v for k, v in _claims(**claims).items() if v is not None}, alg="ES256")

    with pytest.raises(jwt.InvalidJWT, match="claims"):
        jwt.verify(token)


def test_leeway_absorbs_small_clock_skew():
    token = jwt.sign(_claims(exp=int(time.time()) - 5), alg="ES256")

    assert jwt.verify(token)["sub"] == "abc"
    with pytest.raises(jwt.InvalidJWT):
        jwt.verify(token, leeway=0)


def test_expired_tokens_are_accepted_only_when_asked_and_still_checked():
    """RP-Initiated Logout: an expired id_token_hint still names the session."""
    expired = jwt.sign(_claims(exp=int(time.time()) - 3600), alg="RS256")
    assert jwt.verify(expired, verify_exp=False)["sub"] == "abc"

    foreign = jwt.sign(
        _claims(exp=int(time.time()) - 3600, iss="https://evil.example"), alg="RS256"
    )
    with pytest.raises(jwt.InvalidJWT, match="claims"):
        jwt.verify(foreign, verify_exp=False)
    header, _, signature = expired.split(".")
    tampered = ".".join([header, _b64(json.dumps(_claims(sub="other")).encode()), signature])
    with pytest.raises(jwt.InvalidJWT, match="signature"):
        jwt.verify(tampered, verify_exp=False)


def test_unknown_kid_is_refused():
    foreign = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
    token = jose_jwt.encode({"alg": "ES256", "kid": foreign.kid}, _claims(), foreign)

    with pytest.raises(jwt.InvalidJWT, match="unknown kid"):
        jwt.verify(token)


def test_missing_kid_is_refused():
    foreign = ECKey.generate_key("P-256", parameters={"alg": "ES256"})
    token = jose_jwt.encode({"alg": "ES256"}, _claims(), foreign)

    with pytest.raises(jwt.InvalidJWT, match="kid"):
        jwt.verify(token)


def test_our_kid_with_someone_elses_signature_is_refused():
    ours = keys.get_keystore().signing_key("ES256")
    foreign = ECKey.generate_key("P-256", parameters={"alg": "ES256"})
    token = jose_jwt.encode({"alg": "ES256", "kid": ours.kid}, _claims(), foreign)

    with pytest.raises(jwt.InvalidJWT, match="signature"):
        jwt.verify(token)


def test_algorithm_is_pinned_by_the_key_not_the_header():
    """An ES256 kid with an RS256 header (a valid RSA signature from elsewhere) is refused."""
    es_kid = keys.get_keystore().signing_key("ES256").kid
    foreign = RSAKey.generate_key(2048, parameters={"alg": "RS256"})
    token = jose_jwt.encode({"alg": "RS256", "kid": es_kid}, _claims(), foreign)

    with pytest.raises(jwt.InvalidJWT, match="does not match"):
        jwt.verify(token)


def test_oversized_tokens_are_refused_before_parsing():
    big = jwt.sign(_claims(padding="x" * jwt.MAX_TOKEN_BYTES), alg="ES256")
    assert len(big) > jwt.MAX_TOKEN_BYTES

    with pytest.raises(jwt.InvalidJWT, match="too large"):
        jwt.verify(big)
    near_limit = jwt.sign(_claims(padding="x" * (jwt.MAX_TOKEN_BYTES // 2)), alg="ES256")
    assert jwt.verify(near_limit)["sub"] == "abc"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="one-segment"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c.d.e", id="jwe-shape"),
        pytest.param(_b64(b"not json") + ".e30.c2ln", id="header-not-json"),
        pytest.param(_b64(b"[1]") + ".e30.c2ln", id="header-not-an-object"),
        pytest.param("eyJhbGciOiJFUzI1NiJ9==.e30.c2ln", id="padded"),
        pytest.param(None, id="not-a-string"),
    ],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(jwt.InvalidJWT):
        jwt.verify(token)


def _es256_sign(key: ECKey, header: dict, claims: dict) -> str:
    """A compact JWS signed with `key`, header written by hand (joserfc would refuse it)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    der = key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_hand_signed_token_is_accepted():
    """The helper below makes valid tokens: what the next test refuses is only its header."""
    ours = keys.get_keystore().signing_key("ES256")
    token = _es256_sign(ours, {"alg": "ES256", "kid": ours.kid}, _claims())

    assert jwt.verify(token)["sub"] == "abc"


def test_unsupported_critical_header_is_refused():
    """RFC 7515 §4.1.11: a recipient that does not understand a crit extension must refuse."""
    ours = keys.get_keystore().signing_key("ES256")
    header = {"alg": "ES256", "kid": ours.kid, "crit": ["exp"], "exp": 1}
    token = _es256_sign(ours, header, _claims())

    with pytest.raises(jwt.InvalidJWT, match="signature or format"):
        jwt.verify(token)


def test_at_hash_matches_the_openid_connect_core_example():
    # OpenID Connect Core 1.0 Appendix A.3 (ID token with at_hash for this access token).
    assert jwt.at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y") == "77QmUPtjPfzWtF2AnpK9RQ"
    assert jwt.at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "ES256") == (
        "77QmUPtjPfzWtF2AnpK9RQ"
    )
    with pytest.raises(ValueError, match="PS512"):
        jwt.at_hash("x", "PS512")
