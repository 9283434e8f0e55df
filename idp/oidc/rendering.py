"""How protocol errors look on the wire: JSON, a redirect to the client, or an HTML page.

The one place that decides the shape of an error (architecture.md habit 3); the error classes in
``idp.oidc.protocol.errors`` only carry the code, status and descriptions.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse

from idp.oidc.protocol.errors import InvalidClient, InvalidToken, OAuthError


def _quoted(value: str) -> str:
    """An RFC 7235 §2.1 quoted-string (our descriptions are already printable ASCII)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def json_error(exc: OAuthError, *, headers: dict | None = None) -> JsonResponse:
    """RFC 6749 §5.2 error response: JSON body, ``Cache-Control: no-store``.

    - ``invalid_client`` answered with 401 carries ``WWW-Authenticate: Basic`` (RFC 6749 §5.2:
      "MUST include the WWW-Authenticate response header field" when the client used, or may use,
      HTTP Basic authentication).
    - ``invalid_token`` carries ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 §3).
    """
    response = JsonResponse(exc.as_dict(), status=exc.status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    if isinstance(exc, InvalidClient) and exc.status == 401:
        response["WWW-Authenticate"] = f"Basic realm={_quoted(settings.IDP_REALM)}"
    elif isinstance(exc, InvalidToken):
        challenge = f"Bearer realm={_quoted(settings.IDP_REALM)}, error={_quoted(exc.error)}"
        if exc.description:
            challenge += f", error_description={_quoted(exc.description)}"
        response["WWW-Authenticate"] = challenge
    for name, value in (headers or {}).items():
        response[name] = value
    return response
