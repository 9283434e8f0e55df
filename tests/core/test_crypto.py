"""idp.core.crypto: encryption of secrets at rest (the administrators' TOTP seeds first).

Real Fernet keys and real ciphertexts throughout; nothing about the crypto is mocked.
"""

from __future__ import annotations

import base64
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from idp.core import crypto

KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


@pytest.fixture
def old_key_only(settings):
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_OLD]


def test_round_trip(old_key_only):
    secret = b"\x00\x01seed\xff" * 3
    token = crypto.encrypt(secret)
    assert isinstance(token, str)
    assert secret.hex() not in token
    assert crypto.decrypt(token) == secret


def test_each_encryption_is_fresh(old_key_only):
    # Fernet draws a random IV per message: equal seeds do not give equal ciphertexts.
    assert crypto.encrypt(b"same") != crypto.encrypt(b"same")


def test_rotation_with_two_keys(settings):
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_OLD]
    token = crypto.encrypt(b"seed")

    # A new key is put first: it encrypts, the old one still decrypts.
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_NEW, KEY_OLD]
    assert crypto.decrypt(token) == b"seed"
    assert Fernet(KEY_NEW.encode()).decrypt(crypto.encrypt(b"x").encode()) == b"x"
    rotated = crypto.rotate(token)
    assert rotated != token

    # Once everything is rotated the old key can go: rotated values still open, old ones do not.
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_NEW]
    assert crypto.decrypt(rotated) == b"seed"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


@pytest.mark.parametrize("position", [0, 20, 60, -5, -1])
def test_tampered_ciphertext_is_refused(old_key_only, position):
    token = crypto.encrypt(b"seed")
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[position] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(crypto.DecryptionError) as excinfo:
        crypto.decrypt(tampered)
    assert tampered not in str(excinfo.value)
    with pytest.raises(crypto.DecryptionError):
        crypto.rotate(tampered)


@pytest.mark.parametrize("garbage", ["", "not a token", "é", "gAAAAA" + "A" * 40])
def test_garbage_is_refused_with_the_same_exception(old_key_only, garbage):
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(garbage)


def test_unknown_key_is_refused(settings):
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_OLD]
    token = crypto.encrypt(b"seed")
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_NEW]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


def test_malformed_key_is_a_configuration_error_that_does_not_echo_the_key(settings):
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_NEW, "too-short-to-be-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured) as excinfo:
        crypto.encrypt(b"seed")
    message = str(excinfo.value)
    assert "IDP_FIELD_ENCRYPTION_KEYS" in message
    assert "#2" in message
    assert "too-short" not in message
    assert KEY_NEW not in message


def test_empty_key_list_derives_a_key_from_secret_key_and_warns_once(settings, caplog, monkeypatch):
    settings.IDP_FIELD_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "one secret key for this test, long enough to be plausible"
    monkeypatch.setattr(crypto, "_warned_about_derived_key", False)

    with caplog.at_level(logging.WARNING, logger="idp.core.crypto"):
        token = crypto.encrypt(b"seed")
        assert crypto.decrypt(token) == b"seed"
    warnings = [r for r in caplog.records if "IDP_FIELD_ENCRYPTION_KEYS is empty" in r.message]
    assert len(warnings) == 1

    # The derived key is HKDF-SHA256(SECRET_KEY, info="caducee field encryption v1"): a plain
    # Fernet with that key opens the token, and another SECRET_KEY derives another key.
    derived = crypto.derive_key_from_secret(settings.SECRET_KEY)
    assert Fernet(derived).decrypt(token.encode()) == b"seed"
    assert derived != crypto.derive_key_from_secret(settings.SECRET_KEY + "x")

    # Another SECRET_KEY cannot read it.
    settings.SECRET_KEY = "another secret key for this test, also long enough"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


def test_configured_keys_win_over_the_derived_key(settings):
    settings.IDP_FIELD_ENCRYPTION_KEYS = []
    derived_token = crypto.encrypt(b"seed")
    settings.IDP_FIELD_ENCRYPTION_KEYS = [KEY_NEW]
    assert Fernet(KEY_NEW.encode()).decrypt(crypto.encrypt(b"seed").encode()) == b"seed"
    # The derived key is not silently kept as a fallback once real keys are configured.
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(derived_token)
