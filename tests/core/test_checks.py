"""The configuration checks refuse unsafe production settings (`manage.py check --deploy`)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.core import checks

REPO = Path(__file__).resolve().parents[2]


def _write_rsa_key(directory: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "signing-rs256.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """Environment of a production-like deployment: https issuer, real secrets and keys."""
    keys = tmp_path / "keys"
    keys.mkdir()
    _write_rsa_key(keys)
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("IDP_", "DATABASE_URL", "REDIS_URL"))
    }
    return {
        **inherited,
        "IDP_DEBUG": "0",
        "IDP_BASE_URL": "https://auth.caducee.example.fr",
        "IDP_SECRET_KEY": secrets.token_urlsafe(64),
        "IDP_KEY_DIR": str(keys),
        "IDP_FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "IDP_TOKEN_HMAC_KEY": secrets.token_urlsafe(48),
        "IDP_VAR_DIR": str(tmp_path / "var"),
        "IDP_EMAIL_BACKEND": "smtp",
        "IDP_SMS_BACKEND": "file",
        "IDP_HSTS_PRELOAD": "1",
        "DATABASE_URL": "postgres://caducee@127.0.0.1:5432/caducee",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_like_configuration_passes(production_env):
    result = _check_deploy(production_env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"IDP_BASE_URL": "http://auth.caducee.example.fr"}, "caducee.E002"),
        ({"IDP_SECRET_KEY": ""}, "caducee.E003"),
        ({"IDP_SECRET_KEY": "short"}, "caducee.E003"),
        ({"IDP_KEY_DIR": "/nonexistent/keys"}, "caducee.E004"),
        ({"IDP_SIGNING_JWKS": '{"keys": []}'}, "caducee.E004"),
        ({"IDP_FIELD_ENCRYPTION_KEYS": ""}, "caducee.E005"),
        ({"IDP_FIELD_ENCRYPTION_KEYS": "not-a-key"}, "caducee.E005"),
        ({"IDP_DEBUG": "1"}, "caducee.E001"),
        ({"IDP_TOKEN_HMAC_KEY": ""}, "caducee.E006"),
        ({"IDP_TOKEN_HMAC_KEY": "a" * 40}, "caducee.E006"),
        ({"IDP_TEST_LOGIN": "1"}, "caducee.E007"),
        ({"IDP_AUTOGENERATE_KEYS": "1"}, "caducee.E008"),
        ({"IDP_EMAIL_BACKEND": "console"}, "caducee.W001"),
        ({"DATABASE_URL": ""}, "caducee.W003"),
    ],
)
def test_unsafe_configurations_are_refused(production_env, change, code):
    result = _check_deploy({**production_env, **change})
    assert result.returncode != 0
    assert code in result.stderr


def test_debug_with_public_issuer_is_refused_even_without_deploy(production_env):
    env = {**production_env, "IDP_DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "caducee.E001" in result.stderr


def test_empty_key_directory_is_refused(settings, tmp_path):
    settings.DEBUG = False
    settings.IDP_KEY_DIR = tmp_path
    (tmp_path / "broken.pem").write_text("-----BEGIN PRIVATE KEY-----\nnope\n")
    errors = checks.check_signing_keys()
    messages = " ".join(error.msg for error in errors)
    assert {error.id for error in errors} == {"caducee.E004"}
    assert "broken.pem" in messages
    assert "No signing key found" in messages


def test_loopback_issuer_in_debug_is_fine(settings):
    settings.DEBUG = True
    settings.IDP_ISSUER = "http://127.0.0.1:8000/auth/realms/esante-wallet"
    assert checks.check_debug_on_public_issuer() == []
    assert checks.check_issuer_is_https() == []
    assert checks.check_secret_key() == []


def test_issuer_with_query_is_refused(settings):
    settings.DEBUG = False
    settings.IDP_ISSUER = "https://auth.example.fr/auth/realms/x?a=b"
    assert [error.id for error in checks.check_issuer_is_https()] == ["caducee.E002"]
