"""The QR code payloads the app scans, and where the server's API lives.

Two URIs (``docs/design/card-app.md``)::

    caducee-card://activate?iss=<issuer>&code=<activation code>
    caducee-card://login?iss=<issuer>&c=<challenge id>&s=<qr secret>

The query is parsed as ``application/x-www-form-urlencoded`` (RFC 3986 §3.4); each parameter must
appear exactly once. ``iss`` is the OpenID issuer, ``<base URL>/auth/realms/<realm>``: the app
API lives at ``<base URL>/api/card/v1/``, so the base URL is the issuer without that suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from card_app.errors import CardAppError

SCHEME = "caducee-card"
_REALM_SUFFIX = re.compile(r"/auth/realms/[^/]+/?$")


class QrError(CardAppError, ValueError):
    """Not a card app QR payload, or not the kind expected."""


@dataclass(frozen=True)
class ActivationQr:
    """``caducee-card://activate``: an activation code from a session QR or an administrator."""

    issuer: str
    code: str


@dataclass(frozen=True)
class LoginQr:
    """``caducee-card://login``: a cross-device login challenge shown by a login page."""

    issuer: str
    challenge_id: str
    secret: str
    uri: str


def _parse(uri: str, action: str, names: tuple[str, ...]) -> dict[str, str]:
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != SCHEME or parts.netloc != action or parts.path not in ("", "/"):
        raise QrError(f"Not a {SCHEME}://{action} QR code.")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    values: dict[str, str] = {}
    for name in names:
        found = query.get(name, [])
        if len(found) != 1 or not found[0]:
            raise QrError(f"The QR code needs exactly one {name!r} parameter.")
        values[name] = found[0]
    issuer = urlsplit(values["iss"])
    if issuer.scheme not in ("https", "http") or not issuer.netloc or issuer.query:
        raise QrError("The QR code's issuer is not an http(s) URL.")
    return values


def parse_activation_qr(uri: str) -> ActivationQr:
    """Parse ``caducee-card://activate?iss=..&code=..``."""
    values = _parse(uri, "activate", ("iss", "code"))
    return ActivationQr(issuer=values["iss"], code=values["code"])


def parse_login_qr(uri: str) -> LoginQr:
    """Parse ``caducee-card://login?iss=..&c=..&s=..``."""
    values = _parse(uri, "login", ("iss", "c", "s"))
    return LoginQr(
        issuer=values["iss"], challenge_id=values["c"], secret=values["s"], uri=uri.strip()
    )


def base_url_from_issuer(issuer: str) -> str:
    """The server's base URL: the issuer without its ``/auth/realms/<realm>`` suffix."""
    return _REALM_SUFFIX.sub("", issuer.rstrip("/")).rstrip("/")


def issuer_matches(issuer: str, base_url: str) -> bool:
    """Whether a QR's issuer belongs to the server this device is enrolled with.

    The app must refuse a login QR from another server: scanning it would approve a login there.
    """
    return base_url_from_issuer(issuer) == base_url.rstrip("/")
