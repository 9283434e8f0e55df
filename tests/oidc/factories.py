"""Relying parties and professionals for the provider's tests (real rows, real secrets)."""

from __future__ import annotations

from typing import Any

from relying_parties.models import Client
from relying_parties.registry import create_client
from tests.accounts.factories import make_doctor_with_two_activities, make_professional, rpps

__all__ = ["make_client", "make_doctor_with_two_activities", "make_professional", "rpps"]

REDIRECT_URI = "https://rp.example.fr/callback"
POST_LOGOUT_URI = "https://rp.example.fr/logged-out"


def make_client(**overrides: Any) -> tuple[Client, str]:
    """A confidential web client allowed the code, refresh and client-credentials grants."""
    metadata: dict[str, Any] = {
        "name": "DMP test",
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [POST_LOGOUT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
        "allowed_scopes": ["openid", "scope_all", "profile", "email"],
        "token_endpoint_auth_method": Client.AuthMethod.CLIENT_SECRET_BASIC,
    }
    metadata.update(overrides)
    return create_client(**metadata)
