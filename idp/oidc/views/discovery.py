"""Discovery documents and the JWKS: static JSON, served from bytes computed once.

The bodies depend only on settings and the key store, so each is serialised once per
(issuer, key store version) and served with an ETag, ``Cache-Control: public`` and
``Access-Control-Allow-Origin: *`` (browser-based relying parties fetch them; they carry nothing
secret). OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: GET only (HEAD follows).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from idp.oidc.keys import JWKS_MAX_AGE_SECONDS, KeyStore, get_keystore
from idp.oidc.protocol import metadata

DISCOVERY_MAX_AGE_SECONDS = 300
_ALLOWED = ("GET", "HEAD")


@dataclass(frozen=True)
class _Document:
    key: tuple[str, ...]
    body: bytes
    etag: str


_documents: dict[str, _Document] = {}
_documents_lock = threading.Lock()


def _document(
    name: str, build: Callable[[KeyStore], dict[str, Any]], keystore: KeyStore
) -> _Document:
    cache_key = (settings.IDP_ISSUER, settings.IDP_BASE_URL, keystore.version)
    current = _documents.get(name)
    if current is not None and current.key == cache_key:
        return current
    body = json.dumps(build(keystore), separators=(",", ":")).encode()
    document = _Document(cache_key, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    with _documents_lock:
        _documents[name] = document
    return document


def _serve(request: HttpRequest, document: _Document, max_age: int) -> HttpResponse:
    if request.method not in _ALLOWED:
        return HttpResponseNotAllowed(_ALLOWED)
    # RFC 9110 §13.1.2: weak comparison; a client holding the current body gets a 304.
    # (META rather than request.headers: building the headers mapping costs more than the view.)
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH", "")
    if if_none_match and document.etag in {
        t.strip().removeprefix("W/") for t in if_none_match.split(",")
    }:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(document.body, content_type="application/json")
    response["ETag"] = document.etag
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    # A JSON document needs no page policy: a constant one here, and django-csp's per-response
    # policy building (a third of this view's cost) skipped.
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    response._csp_exempt = True  # type: ignore[attr-defined]  # csp.decorators.csp_exempt's flag
    return response


def _discovery_view(request: HttpRequest) -> HttpResponse:
    if request.method not in _ALLOWED:
        return HttpResponseNotAllowed(_ALLOWED)
    document = _document("openid", metadata.openid_configuration, get_keystore())
    return _serve(request, document, DISCOVERY_MAX_AGE_SECONDS)


def openid_configuration(request: HttpRequest) -> HttpResponse:
    """OpenID Connect Discovery 1.0 §4: ``{issuer}/.well-known/openid-configuration``."""
    return _discovery_view(request)


def wallet_configuration(request: HttpRequest) -> HttpResponse:
    """PSC's ``wallet-openid-configuration``: the same document (psc-compat.md § Endpoints)."""
    return _discovery_view(request)


def oauth_metadata(request: HttpRequest) -> HttpResponse:
    """RFC 8414 §3: under the issuer and at ``/.well-known/oauth-authorization-server{path}``."""
    if request.method not in _ALLOWED:
        return HttpResponseNotAllowed(_ALLOWED)
    document = _document("oauth", metadata.oauth_authorization_server_metadata, get_keystore())
    return _serve(request, document, DISCOVERY_MAX_AGE_SECONDS)


def _public_jwks(keystore: KeyStore) -> dict[str, Any]:
    return keystore.public_jwks()


def jwks(request: HttpRequest) -> HttpResponse:
    """RFC 7517 §5: the public keys of every active, next and previous key.

    The max-age stays well below keys.PUBLISH_DELAY_SECONDS, so a `next` key reaches caches
    before it signs.
    """
    if request.method not in _ALLOWED:
        return HttpResponseNotAllowed(_ALLOWED)
    document = _document("jwks", _public_jwks, get_keystore())
    # Served as application/json like Keycloak's certs endpoint (RFC 7517 §8.5.1's
    # application/jwk-set+json is refused by some relying-party libraries).
    return _serve(request, document, JWKS_MAX_AGE_SECONDS)
