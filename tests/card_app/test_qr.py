"""QR payloads: caducee-card://activate and caducee-card://login."""

from __future__ import annotations

import pytest

from card_app.qr import (
    QrError,
    base_url_from_issuer,
    issuer_matches,
    parse_activation_qr,
    parse_login_qr,
)

ISSUER = "https://idp.test/auth/realms/esante-wallet"


def test_activation_qr():
    qr = parse_activation_qr(f"caducee-card://activate?iss={ISSUER}&code=ABCD-1234")
    assert qr.issuer == ISSUER
    assert qr.code == "ABCD-1234"


def test_activation_qr_with_percent_encoding():
    qr = parse_activation_qr(
        "caducee-card://activate?iss=https%3A%2F%2Fidp.test%2Fauth%2Frealms%2Fr&code=a%2Bb"
    )
    assert qr.issuer == "https://idp.test/auth/realms/r"
    assert qr.code == "a+b"


def test_login_qr():
    uri = f"caducee-card://login?iss={ISSUER}&c=chal123&s=secret456"
    qr = parse_login_qr(uri)
    assert (qr.issuer, qr.challenge_id, qr.secret, qr.uri) == (ISSUER, "chal123", "secret456", uri)


@pytest.mark.parametrize(
    "uri",
    [
        f"https://activate?iss={ISSUER}&code=x",
        f"caducee-card://login?iss={ISSUER}&code=x",
        f"caducee-card://activate/extra?iss={ISSUER}&code=x",
        f"caducee-card://activate?iss={ISSUER}",
        f"caducee-card://activate?iss={ISSUER}&code=",
        f"caducee-card://activate?iss={ISSUER}&code=a&code=b",
        "caducee-card://activate?iss=ftp://idp.test&code=x",
        "caducee-card://activate?iss=idp.test&code=x",
        "",
    ],
)
def test_malformed_activation_qr(uri):
    with pytest.raises(QrError):
        parse_activation_qr(uri)


@pytest.mark.parametrize(
    "uri",
    [
        f"caducee-card://activate?iss={ISSUER}&c=x&s=y",
        f"caducee-card://login?iss={ISSUER}&c=x",
        f"caducee-card://login?iss={ISSUER}&s=y",
        "caducee-card://login?c=x&s=y",
        f"caducee-card://login?iss={ISSUER}&c=x&s=y&s=z",
    ],
)
def test_malformed_login_qr(uri):
    with pytest.raises(QrError):
        parse_login_qr(uri)


def test_base_url_from_issuer():
    assert base_url_from_issuer(ISSUER) == "https://idp.test"
    assert base_url_from_issuer(ISSUER + "/") == "https://idp.test"
    assert base_url_from_issuer("https://idp.test/sso/auth/realms/r") == "https://idp.test/sso"
    assert base_url_from_issuer("https://idp.test") == "https://idp.test"


def test_issuer_matches():
    assert issuer_matches(ISSUER, "https://idp.test")
    assert issuer_matches(ISSUER, "https://idp.test/")
    assert issuer_matches("https://idp.test", "https://idp.test")
    assert not issuer_matches("https://evil.test/auth/realms/esante-wallet", "https://idp.test")
    assert not issuer_matches("https://idp.test.evil/auth/realms/r", "https://idp.test")
