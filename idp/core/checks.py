"""Configuration checks: Caducée refuses to run an unsafe production configuration.

`manage.py check` runs the always-on checks; `manage.py check --deploy` adds the production ones,
and `make serve` / the deploy units run it with ``--fail-level WARNING`` before starting.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MIN_SECRET_KEY_LENGTH = 50


def _issuer_host() -> str:
    return (urlsplit(settings.IDP_ISSUER).hostname or "").lower()


@register(Tags.security)
def check_debug_on_public_issuer(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """DEBUG leaks settings and stack traces: never with an issuer reachable by others."""
    host = _issuer_host()
    if settings.DEBUG and host not in _LOOPBACK:
        return [
            Error(
                f"DEBUG is on while the issuer is public ({settings.IDP_ISSUER}).",
                hint="Set IDP_DEBUG=0 for any issuer other than a loopback address.",
                id="caducee.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_issuer_is_https(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """OpenID Connect Discovery 1.0 §3: the issuer is an https URL."""
    if settings.DEBUG:
        return []
    parts = urlsplit(settings.IDP_ISSUER)
    if parts.scheme != "https" or not parts.hostname:
        return [
            Error(
                f"The issuer must be an https URL outside DEBUG, got {settings.IDP_ISSUER!r}.",
                hint="Set IDP_BASE_URL to the public https address of this provider.",
                id="caducee.E002",
            )
        ]
    if parts.query or parts.fragment:
        return [
            Error(
                "The issuer must not carry a query or fragment (OpenID Connect Discovery 1.0 §3).",
                id="caducee.E002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The secret key signs sessions and keys scrubbed fingerprints: it must be real."""
    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY
    if key == settings.INSECURE_DEFAULT_SECRET_KEY:
        return [
            Error(
                "IDP_SECRET_KEY is not set: the built-in development key is public.",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(64))'",
                id="caducee.E003",
            )
        ]
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
        return [
            Error(
                f"IDP_SECRET_KEY is too weak (at least {MIN_SECRET_KEY_LENGTH} random characters).",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(64))'",
                id="caducee.E003",
            )
        ]
    return []


def _loadable_private_keys(directory: Path) -> tuple[int, list[str]]:
    """Count the PEM private keys in `directory`; return problems found on the way."""
    found, problems = 0, []
    for path in sorted(directory.glob("*.pem")):
        try:
            load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            problems.append(f"{path.name}: {exc.__class__.__name__}")
        else:
            found += 1
    return found, problems


@register(Tags.security, deploy=True)
def check_signing_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Tokens are signed with keys the operator provides; none is generated silently."""
    if settings.DEBUG:
        return []
    from idp.oidc.keys import configuration_problems

    if settings.IDP_SIGNING_JWKS:
        return [Error(problem, id="caducee.E004") for problem in configuration_problems()]
    directory = Path(settings.IDP_KEY_DIR)
    if not directory.is_dir():
        return [
            Error(
                f"The signing key directory {directory} does not exist.",
                hint="Set IDP_KEY_DIR to a directory holding the PEM signing keys.",
                id="caducee.E004",
            )
        ]
    found, problems = _loadable_private_keys(directory)
    errors = [
        Error(f"Unreadable signing key {problem}.", id="caducee.E004") for problem in problems
    ]
    if not found:
        errors.append(
            Error(
                f"No signing key found in {directory}.",
                hint="Create keys with `manage.py rotate_keys` (RS256 and ES256).",
                id="caducee.E004",
            )
        )
    elif not problems:
        # The manifest itself: a kid that does not match its file, a missing file, no active key.
        errors += [Error(problem, id="caducee.E004") for problem in configuration_problems()]
    return errors


def _is_fernet_key(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.encode("ascii"))) == 32
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


@register(Tags.security, deploy=True)
def check_field_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Secrets at rest (TOTP seeds) are encrypted with keys kept outside the database."""
    if settings.DEBUG:
        return []
    keys = settings.IDP_FIELD_ENCRYPTION_KEYS
    if not keys:
        return [
            Error(
                "IDP_FIELD_ENCRYPTION_KEYS is empty: secrets at rest would use a derived key.",
                hint="python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                id="caducee.E005",
            )
        ]
    bad = [index for index, key in enumerate(keys) if not _is_fernet_key(key)]
    if bad:
        return [
            Error(
                f"IDP_FIELD_ENCRYPTION_KEYS entries {bad} are not Fernet keys "
                "(32 bytes, url-safe base64).",
                id="caducee.E005",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_token_hmac_key(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Tokens and client secrets are stored as HMACs under a key kept outside the database."""
    if settings.DEBUG:
        return []
    key = settings.IDP_TOKEN_HMAC_KEY
    if len(key) < 32 or len(set(key)) < 5:
        return [
            Error(
                "IDP_TOKEN_HMAC_KEY must be set to at least 32 random characters outside DEBUG.",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(48))'",
                id="caducee.E006",
            )
        ]
    return []


@register(Tags.security)
def check_test_login_only_in_debug(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The test login proves nothing about who logs in: never outside development."""
    if settings.IDP_TEST_LOGIN and not settings.DEBUG:
        return [
            Error(
                "IDP_TEST_LOGIN is on outside DEBUG: anyone could log in as anyone.",
                hint="Unset IDP_TEST_LOGIN.",
                id="caducee.E007",
            )
        ]
    return []


@register(Tags.security)
def check_no_key_generation_outside_debug(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Production signing keys are created deliberately (`rotate_keys`), never on the fly."""
    if settings.IDP_AUTOGENERATE_KEYS and not settings.DEBUG:
        return [
            Error(
                "IDP_AUTOGENERATE_KEYS is on outside DEBUG: keys would be generated silently.",
                hint="Create keys with `manage.py rotate_keys` and unset IDP_AUTOGENERATE_KEYS.",
                id="caducee.E008",
            )
        ]
    return []


@register(deploy=True)
def check_production_backends(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Development backends lose messages or state in production: say so."""
    if settings.DEBUG:
        return []
    warnings = []
    if settings.IDP_EMAIL_BACKEND in {"console", "locmem"}:
        warnings.append(
            Warning(
                f"E-mail goes to the {settings.IDP_EMAIL_BACKEND} backend: nobody receives it.",
                hint="Set IDP_EMAIL_BACKEND=smtp and the IDP_EMAIL_* variables.",
                id="caducee.W001",
            )
        )
    if settings.IDP_SMS_BACKEND in {"console", "locmem"}:
        warnings.append(
            Warning(
                f"SMS go to the {settings.IDP_SMS_BACKEND} backend: nobody receives them.",
                hint="Set IDP_SMS_BACKEND to your SMS provider's backend class.",
                id="caducee.W002",
            )
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        warnings.append(
            Warning(
                "SQLite is the embedded database for a first run; production uses PostgreSQL.",
                hint="Set DATABASE_URL=postgres://...",
                id="caducee.W003",
            )
        )
    if not settings.REDIS_URL:
        warnings.append(
            Warning(
                "No REDIS_URL: caches and rate limits are per process and forgotten on restart.",
                hint="Set REDIS_URL=redis://...",
                id="caducee.W004",
            )
        )
    return warnings
