"""UserInfo (OIDC Core §5.3), introspection (RFC 7662), revocation (RFC 7009): HTTP only.

The rules live in ``idp.oidc.protocol.userinfo`` and ``idp.oidc.protocol.introspection``.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.oidc import jwt
from idp.oidc.protocol import introspection as token_management
from idp.oidc.protocol import userinfo as userinfo_protocol
from idp.oidc.protocol.client_auth import authenticate_client, certificate_thumbprint
from idp.oidc.protocol.errors import InvalidRequest, InvalidToken, OAuthError
from idp.oidc.rendering import json_error
from idp.oidc.views.token import _no_store, auth_headers, parse_form


def _bearer_token(request: HttpRequest) -> str:
    """The access token per RFC 6750 §2.1 (header) or §2.2 (form body of a POST).

    Never from the query string (§2.3 is a MAY we refuse: URLs end up in logs). Two methods at
    once is invalid_request (§2: "MUST NOT use more than one method").
    """
    if "access_token" in request.GET:
        raise InvalidRequest("The access token must not be sent in the query string.")
    header = request.headers.get("Authorization", "")
    from_body = ""
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        from_body = request.POST.get("access_token", "")
    if header:
        if from_body:
            raise InvalidRequest("Use one method to send the access token.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("The Authorization header must use the Bearer scheme.")
        return token.strip()
    return from_body


def _presented_thumbprint(request: HttpRequest) -> str:
    """x5t#S256 of the client certificate forwarded by a trusted proxy (RFC 8705 §3), or ""."""
    header = settings.IDP_TLS_CLIENT_CERT_HEADER
    raw = auth_headers(request).get(header, "") if header else ""
    if not raw:
        return ""
    try:
        return certificate_thumbprint(unquote(raw))
    except ValueError:
        return ""


@csrf_exempt
@require_http_methods(["GET", "POST"])
def userinfo(request: HttpRequest) -> HttpResponse:
    """OIDC Core §5.3: GET or POST, bearer token; JSON or a signed JWT (Core §5.3.2)."""
    try:
        token = _bearer_token(request)
        if not token:
            # RFC 6750 §3.1: a request without credentials gets the challenge without error code.
            response = HttpResponse(status=401)
            response["WWW-Authenticate"] = f'Bearer realm="{settings.IDP_REALM}"'
            return _no_store(response)
        result = userinfo_protocol.userinfo(
            token, certificate_thumbprint=_presented_thumbprint(request)
        )
    except OAuthError as exc:
        response = json_error(exc)
        if exc.status == 403:
            response["WWW-Authenticate"] = (
                f'Bearer realm="{settings.IDP_REALM}", error="{exc.error}", scope="openid"'
            )
        elif "WWW-Authenticate" not in response:
            # RFC 6750 §3: every error of a protected resource carries the Bearer challenge.
            response["WWW-Authenticate"] = (
                f'Bearer realm="{settings.IDP_REALM}", error="{exc.error}"'
            )
        return response
    if result.signing_alg:
        claims = {
            **result.claims,
            "iss": settings.IDP_ISSUER,
            "aud": result.client_id,
            "iat": int(timezone.now().timestamp()),
        }
        body = jwt.sign(claims, alg=result.signing_alg)
        return _no_store(HttpResponse(body, content_type="application/jwt"))
    return _no_store(
        HttpResponse(
            json.dumps(result.claims, ensure_ascii=False, separators=(",", ":")),
            content_type="application/json",
        )
    )


@csrf_exempt
@sensitive_post_parameters("token", "client_secret", "client_assertion")
@require_POST
def introspect(request: HttpRequest) -> HttpResponse:
    """RFC 7662 §2: POST token[, token_type_hint], client authenticated."""
    try:
        # RFC 7662 §2.1, RFC 7009 §2.1: form-encoded, each parameter once (as at /token).
        data = parse_form(request)
        client = authenticate_client(
            data, auth_headers(request), endpoint="introspection", request=request
        )
        token = data.get("token", "")
        if not token:
            raise InvalidRequest("The token parameter is required.")
    except OAuthError as exc:
        return json_error(exc)
    body = token_management.introspect(token, data.get("token_type_hint") or None, client=client)
    return _no_store(JsonResponse(body))


@csrf_exempt
@sensitive_post_parameters("token", "client_secret", "client_assertion")
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    """RFC 7009 §2.1: POST token[, token_type_hint], client authenticated; 200 even if unknown."""
    try:
        # RFC 7662 §2.1, RFC 7009 §2.1: form-encoded, each parameter once (as at /token).
        data = parse_form(request)
        client = authenticate_client(
            data, auth_headers(request), endpoint="revocation", request=request
        )
        token = data.get("token", "")
        if not token:
            raise InvalidRequest("The token parameter is required.")
    except OAuthError as exc:
        return json_error(exc)
    revoked = token_management.revoke(token, data.get("token_type_hint") or None, client=client)
    if revoked is not None:
        record(
            EventTag.OIDC_TOKEN_REVOKED,
            actor=f"client:{client.client_id}",
            subject=client.client_id,
            request=request,
            data={"token_type": revoked},
        )
    return _no_store(HttpResponse(status=200))
