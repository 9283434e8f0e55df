"""Keyed hashes of high-entropy secrets: tokens, codes, client secrets.

They are random values of at least 128 bits, so a fast keyed hash is enough to store them
(architecture.md habit 5): HMAC-SHA256 (RFC 2104) under ``settings.IDP_TOKEN_HMAC_KEY``, a key held
by the server and never stored in the database, so a database leak alone allows no offline search.
A slow password hash would cap every grant at a few requests per second.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Domain separation from other keys derived from SECRET_KEY (RFC 5869 §3.2).
_DERIVED_KEY_INFO = b"caducee token hmac v1"


@functools.lru_cache(maxsize=4)
def _derive(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVED_KEY_INFO).derive(
        secret.encode()
    )


def hmac_key() -> bytes:
    """The server-held key: IDP_TOKEN_HMAC_KEY, or one derived from SECRET_KEY in development."""
    configured = settings.IDP_TOKEN_HMAC_KEY
    return configured.encode() if configured else _derive(settings.SECRET_KEY)


def keyed_hash(value: str, *, purpose: str) -> str:
    """Hex HMAC-SHA256 of ``value``; ``purpose`` separates kinds (a code never matches a token)."""
    message = purpose.encode() + b"\x00" + value.encode()
    return hmac.new(hmac_key(), message, hashlib.sha256).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret (256 bits by default), safe in any OAuth client's encoding."""
    return secrets.token_urlsafe(nbytes)


def matches(value: str, stored_hash: str, *, purpose: str) -> bool:
    """Constant-time comparison of ``value`` with a stored keyed hash."""
    return hmac.compare_digest(keyed_hash(value, purpose=purpose), stored_hash)


def s256(value: str) -> str:
    """BASE64URL(SHA256(ASCII(value))) without padding (RFC 7636 §4.2, OIDC at_hash uses half)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
