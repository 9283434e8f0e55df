"""Scrubbing: no secret ever reaches the journal, only a keyed fingerprint of it.

Habit: *logs carry a fingerprint, never the value*. :func:`scrub` walks the event data (nested
mappings and sequences) and replaces

* the value of every key whose **name** looks like a credential, and
* every **value** that looks like a JWT/JWE (``eyJ…`` segments joined by dots) or an HTTP
  ``Bearer``/``Basic``/``DPoP`` credential, wherever it appears in a string,

by ``fp:sha256:<12 hex>``, the first 12 hex digits of an HMAC-SHA256 of the value (Django's
``salted_hmac``: HMAC-SHA256 keyed with SHA-256(salt + ``SECRET_KEY``), so the fingerprint key is
separated from every other use of ``SECRET_KEY``). The same secret gives the same fingerprint, so
an investigator can tell "the same token was presented twice" without ever reading it, and nobody
can brute-force a short value (a PIN, an OTP) without the server key. Fingerprints change when
``SECRET_KEY`` changes.

How a key name is judged (:func:`is_sensitive_key`)
---------------------------------------------------
The name is cut into **words**: at ``_ - . :`` and spaces, at camelCase humps (``clientSecret``,
``IDToken``) and between letters and digits (``password2``), then lower-cased. Plural words count
as their singular (``tokens``). Then:

1. a few exact names are known harmless and kept (:data:`HARMLESS_NAMES`: ``token_type``,
   ``status_code``, ``public_key``…);
2. the key is sensitive if **any** word is a *strong* word (:data:`STRONG_WORDS`: password,
   secret, token, otp, totp, authorization, cookie, session, assertion, verifier, private, seed,
   mot de passe/mdp, jeton…), or if a word *ends with* token/secret/password/passwd (glued names
   such as ``csrfmiddlewaretoken``, ``clientsecret``);
3. the key is sensitive if its **last** word is a *weak* word (:data:`WEAK_WORDS`: code, pin,
   key, pass, clé/cle, passe). Weak words are secrets only as the head noun of the name:
   ``auth_code``, ``sms_pin``, ``api_key``, ``mot_de_passe`` are scrubbed, but ``code_postal``,
   ``code_profession`` (RPPS vocabulary), ``key_id`` or ``pin_attempts`` are kept.

Whole words only: ``keyword``, ``monkey``, ``idnat``, ``tag``, ``reason``, ``passage`` are kept,
because ``key``/``pass`` must be a word of their own. When in doubt the rules scrub: a fingerprint
still correlates, a leaked secret cannot be recalled. ``None`` and booleans under a sensitive key
are kept (they carry no secret and say whether one was present).

Not handled: secrets inside free text without a recognisable shape, or name/value pairs stored as
lists (``[["password", "x"]]``). Keep event data structured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.crypto import salted_hmac

FINGERPRINT_PREFIX = "fp:sha256:"
FINGERPRINT_HEX_DIGITS = 12
_HMAC_SALT = "idp.audit.scrub.fingerprint"

STRONG_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "otp",
        "totp",
        "hotp",
        "authorization",
        "cookie",
        "session",
        "sessionid",
        "assertion",
        "verifier",
        "private",
        "privkey",
        "seed",
        "credential",
        "apikey",
        "jwt",
        "bearer",
        "mdp",
        "jeton",
    }
)
GLUED_SUFFIXES = ("token", "secret", "password", "passwd")
WEAK_WORDS = frozenset({"code", "pin", "key", "pass", "passe", "cle", "clé"})
HARMLESS_NAMES = frozenset(
    {
        "token_type",
        "token_type_hint",
        "token_endpoint_auth_method",
        "public_key",
        "status_code",
        "error_code",
        "http_code",
        "country_code",
        "postal_code",
        "zip_code",
        "language_code",
    }
)

_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_SEPARATORS = re.compile(r"[\W_]+")

# A JWS (3 segments) or JWE (5 segments) in compact serialisation: the protected header is base64url
# JSON, so it starts with "eyJ" ('{"').
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4}")
# HTTP authorization credentials (RFC 6750 §2.1 b64token; RFC 7617; RFC 9449).
_HTTP_CREDENTIALS = re.compile(r"\b(Bearer|Basic|DPoP)\s+([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)


def fingerprint(value: Any, *, key: str | bytes) -> str:
    """``fp:sha256:<12 hex>``: a keyed, non-reversible stand-in for ``value``.

    Strings and bytes are fingerprinted as their UTF-8 bytes; other values as their canonical JSON.
    """
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
    else:
        raw = json.dumps(
            value, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder, default=repr
        ).encode("utf-8", "surrogatepass")
    digest = salted_hmac(_HMAC_SALT, raw, secret=key, algorithm="sha256").hexdigest()
    return FINGERPRINT_PREFIX + digest[:FINGERPRINT_HEX_DIGITS]


def key_words(name: str) -> list[str]:
    """The lower-cased words of a key name (see the module docstring)."""
    name = _CAMEL_ACRONYM.sub(r"\1_\2", _CAMEL_LOWER_UPPER.sub(r"\1_\2", name))
    name = _LETTER_DIGIT.sub("_", name)
    return [word for word in _SEPARATORS.split(name.lower()) if word]


def is_sensitive_key(name: object) -> bool:
    """Whether the value stored under the key ``name`` must be fingerprinted."""
    return _is_sensitive_name(str(name))


# Key names come from the code that records events, a small set: every event re-asked the
# same questions (a regex split per key). Bounded, so odd keys cannot grow it without limit.
@lru_cache(maxsize=2048)
def _is_sensitive_name(name: str) -> bool:
    words = key_words(name)
    if not words or "_".join(words) in HARMLESS_NAMES:
        return False
    if any(_in(word, STRONG_WORDS) or word.endswith(GLUED_SUFFIXES) for word in words):
        return True
    return _in(words[-1], WEAK_WORDS)


def scrub_text(text: str, *, key: str | bytes) -> str:
    """``text`` with every JWT/JWE and HTTP credential replaced by its fingerprint."""
    text = _JWT.sub(lambda match: fingerprint(match.group(0), key=key), text)
    return _HTTP_CREDENTIALS.sub(
        lambda match: f"{match.group(1)} {fingerprint(match.group(2), key=key)}", text
    )


def scrub(data: Mapping[str, Any], *, key: str | bytes) -> dict[str, Any]:
    """A scrubbed copy of ``data``; ``data`` itself is left untouched. Pure: no I/O, no settings."""
    return {str(name): _scrub_item(name, value, key=key) for name, value in data.items()}


def _scrub_item(name: object, value: Any, *, key: str | bytes) -> Any:
    if is_sensitive_key(name) and value is not None and not isinstance(value, bool):
        return fingerprint(value, key=key)
    return _scrub_value(value, key=key)


def _scrub_value(value: Any, *, key: str | bytes) -> Any:
    if isinstance(value, Mapping):
        return scrub(value, key=key)
    if isinstance(value, list | tuple):
        return [_scrub_value(item, key=key) for item in value]
    if isinstance(value, str):
        return scrub_text(value, key=key)
    return value


def _in(word: str, vocabulary: frozenset[str]) -> bool:
    return word in vocabulary or (word.endswith("s") and word[:-1] in vocabulary)
