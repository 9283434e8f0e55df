"""Encryption of secrets at rest (TOTP seeds and the like).

Secrets that must be read back in clear (a TOTP seed is needed to compute the expected code, so it
cannot be hashed) are stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256, authenticated),
through cryptography's ``MultiFernet`` so that keys can be rotated without downtime:

* ``settings.IDP_FIELD_ENCRYPTION_KEYS`` lists Fernet keys, newest first. The first key encrypts;
  every key is tried to decrypt. To rotate: put a new key first, deploy, re-encrypt the stored
  values with :func:`rotate` (``manage.py reencrypt_totp_seeds``), then drop the old key.
* When the list is empty, a key is derived from ``SECRET_KEY`` with HKDF-SHA256 (RFC 5869) so that
  a development checkout and the test suite work without configuration. A warning is logged once;
  the deploy checks refuse an empty list outside DEBUG. Values encrypted under the derived key
  become unreadable if ``SECRET_KEY`` changes.

Settings are read at call time (never at import time) so that tests can override them.
"""

from __future__ import annotations

import base64
import functools
import logging
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

# Domain separation: a key derived for field encryption is useless for anything else derived from
# the same SECRET_KEY (RFC 5869 §3.2, the "info" parameter).
DERIVED_KEY_INFO = b"caducee field encryption v1"

_warned_about_derived_key = False
_warning_lock = threading.Lock()


class DecryptionError(Exception):
    """A ciphertext could not be decrypted: tampered, truncated, or encrypted under a key that is
    no longer configured. The message never contains the ciphertext or a key."""


def derive_key_from_secret(secret_key: str) -> bytes:
    """A urlsafe-base64 Fernet key derived from ``secret_key`` with HKDF-SHA256 (RFC 5869)."""
    raw = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=DERIVED_KEY_INFO,
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    # Cached per key tuple: building Fernet objects is cheap, but this runs on every login.
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError) as exc:
            # Name the position, never the key itself.
            raise ImproperlyConfigured(
                f"IDP_FIELD_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                "(32 bytes, urlsafe base64; generate one with "
                '`python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"`).'
            ) from exc
    return MultiFernet(fernets)


def _warn_derived_key_once() -> None:
    global _warned_about_derived_key
    with _warning_lock:
        if _warned_about_derived_key:
            return
        _warned_about_derived_key = True
    logger.warning(
        "IDP_FIELD_ENCRYPTION_KEYS is empty: secrets at rest are encrypted with a key derived "
        "from SECRET_KEY. Acceptable for development and tests only; `check --deploy` refuses it."
    )


def _current() -> MultiFernet:
    configured = tuple(getattr(settings, "IDP_FIELD_ENCRYPTION_KEYS", None) or ())
    if configured:
        return _multi_fernet(configured)
    _warn_derived_key_once()
    return _multi_fernet((derive_key_from_secret(settings.SECRET_KEY).decode(),))


def encrypt(plaintext: bytes) -> str:
    """Encrypt ``plaintext`` under the newest key; returns an ASCII Fernet token."""
    return _current().encrypt(plaintext).decode("ascii")


def decrypt(token: str) -> bytes:
    """Decrypt a token produced by :func:`encrypt` under any configured key.

    Raises :class:`DecryptionError` if the token was altered or no configured key opens it.
    """
    try:
        return _current().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise DecryptionError(
            "Encrypted value could not be decrypted: altered, or encrypted under a key that is "
            "not in IDP_FIELD_ENCRYPTION_KEYS."
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key (decrypting it with whichever key opens it)."""
    try:
        return _current().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise DecryptionError(
            "Encrypted value could not be rotated: altered, or encrypted under a key that is "
            "not in IDP_FIELD_ENCRYPTION_KEYS."
        ) from exc
