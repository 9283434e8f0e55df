"""The one narrow door through which the OpenID provider reads its clients.

``idp.oidc`` calls :func:`get_client` and nothing else of this package, so the client registry,
the vendor portal and dynamic registration can evolve behind it (architecture.md § layout).
Clients are read on every token request, so each worker keeps them in memory for a short while:
a change or a deactivation takes effect within ``CACHE_SECONDS`` everywhere, at once in the worker
that made it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from idp.core import hashing
from relying_parties.models import Client

CACHE_SECONDS = 30
SECRET_PURPOSE = "client_secret"  # noqa: S105 (a hashing label)


@dataclass(frozen=True)
class RegisteredClient:
    """An immutable snapshot of a client's metadata (OIDC Dynamic Client Registration 1.0 §2)."""

    client_id: str
    name: str
    application_type: str
    token_endpoint_auth_method: str
    secret_hash: str
    jwks: dict[str, Any] | None
    jwks_uri: str
    tls_client_auth_subject_dn: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str
    backchannel_logout_session_required: bool
    grant_types: frozenset[str]
    response_types: frozenset[str]
    allowed_scopes: frozenset[str]
    require_pkce: bool
    allow_plain_pkce: bool
    id_token_signed_response_alg: str
    access_token_signed_response_alg: str
    userinfo_signed_response_alg: str
    access_token_lifetime: int
    refresh_token_lifetime: int
    id_token_lifetime: int
    #: OpenID CIBA Core 1.0 §4: "" (disabled), "poll" or "ping", and the ping endpoint.
    ciba_mode: str = ""
    ciba_notification_endpoint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == Client.AuthMethod.NONE

    def check_secret(self, presented: str) -> bool:
        """Constant-time check of a presented client secret against its stored keyed hash."""
        return bool(self.secret_hash) and hashing.matches(
            presented, self.secret_hash, purpose=SECRET_PURPOSE
        )

    @classmethod
    def from_model(cls, client: Client) -> RegisteredClient:
        return cls(
            client_id=client.client_id,
            name=client.name,
            application_type=client.application_type,
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            secret_hash=client.secret_hash,
            jwks=client.jwks,
            jwks_uri=client.jwks_uri,
            tls_client_auth_subject_dn=client.tls_client_auth_subject_dn,
            redirect_uris=tuple(client.redirect_uris),
            post_logout_redirect_uris=tuple(client.post_logout_redirect_uris),
            backchannel_logout_uri=client.backchannel_logout_uri,
            backchannel_logout_session_required=client.backchannel_logout_session_required,
            grant_types=frozenset(client.grant_types),
            response_types=frozenset(client.response_types),
            allowed_scopes=frozenset(client.allowed_scopes),
            require_pkce=client.require_pkce,
            allow_plain_pkce=client.allow_plain_pkce,
            id_token_signed_response_alg=client.id_token_signed_response_alg,
            access_token_signed_response_alg=client.access_token_signed_response_alg,
            userinfo_signed_response_alg=client.userinfo_signed_response_alg,
            access_token_lifetime=client.access_token_lifetime or settings.IDP_ACCESS_TOKEN_SECONDS,
            refresh_token_lifetime=client.refresh_token_lifetime
            or settings.IDP_REFRESH_TOKEN_SECONDS,
            id_token_lifetime=client.id_token_lifetime or settings.IDP_ID_TOKEN_SECONDS,
            ciba_mode=client.ciba_mode,
            ciba_notification_endpoint=client.ciba_notification_endpoint,
        )


_cache: dict[str, tuple[float, RegisteredClient | None]] = {}
_cache_lock = threading.Lock()


def get_client(client_id: str) -> RegisteredClient | None:
    """The active client with this id, or None (unknown or deactivated)."""
    if "\x00" in client_id:  # from a request: no client id holds one (PostgreSQL text cannot)
        return None
    now = time.monotonic()
    cached = _cache.get(client_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    model = Client.objects.filter(client_id=client_id, is_active=True).first()
    snapshot = RegisteredClient.from_model(model) if model is not None else None
    with _cache_lock:
        if len(_cache) > 10_000:  # unknown ids cannot grow memory without bound
            _cache.clear()
        _cache[client_id] = (now + CACHE_SECONDS, snapshot)
    return snapshot


def forget(client_id: str | None = None) -> None:
    """Drop this worker's cached copy of one client (or of all)."""
    with _cache_lock:
        if client_id is None:
            _cache.clear()
        else:
            _cache.pop(client_id, None)


def set_new_secret(client: Client) -> str:
    """Give ``client`` a fresh secret; return it (shown once, only its keyed hash is stored)."""
    secret = hashing.new_secret()
    client.secret_hash = hashing.keyed_hash(secret, purpose=SECRET_PURPOSE)
    client.secret_created_at = timezone.now()
    return secret


def create_client(
    *, name: str, client_id: str | None = None, **metadata: Any
) -> tuple[Client, str]:
    """Register a client; returns it with its secret in clear ("" for public or key-based ones)."""
    client = Client(name=name, client_id=client_id or hashing.new_secret(18), **metadata)
    secret = ""
    if client.token_endpoint_auth_method in (
        Client.AuthMethod.CLIENT_SECRET_BASIC,
        Client.AuthMethod.CLIENT_SECRET_POST,
    ):
        secret = set_new_secret(client)
    with transaction.atomic():
        client.full_clean()
        client.save()
    forget(client.client_id)
    return client, secret
