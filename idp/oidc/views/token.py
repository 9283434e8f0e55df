"""Token endpoint (RFC 6749 §3.2): parse the form, authenticate the client, run the grant."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from idp.core.proxy import PROXY_ADDRESS_META_KEY
from idp.oidc import rendering
from idp.oidc.protocol import client_auth, grants
from idp.oidc.protocol.errors import InvalidRequest, OAuthError

#: A token request is a few hundred bytes; a private_key_jwt assertion a few kilobytes.
MAX_BODY_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"


def _no_store(response: HttpResponse) -> HttpResponse:
    # RFC 6749 §5.1: tokens must never be cached.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def parse_form(request: HttpRequest) -> dict[str, str]:
    """The form parameters of a POST, one value each (RFC 6749 §3.2: "MUST NOT be included more
    than once"), or :class:`InvalidRequest`. Shared with the other back-channel endpoints."""
    content_type = request.content_type or ""
    if content_type.lower() != FORM:
        raise InvalidRequest("The body must be application/x-www-form-urlencoded.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY_BYTES + 1
    if length > MAX_BODY_BYTES:
        raise InvalidRequest("The request body is too large.")
    form = request.POST
    params: dict[str, str] = {}
    for name, values in form.lists():
        if len(values) != 1:
            raise InvalidRequest(f"Parameter {name[:40]} is repeated.")
        # RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were
        # omitted" (an empty scope is no narrowing, an empty code_verifier no verifier).
        if values[0]:
            params[name] = values[0]
    return params


def _peer_is_trusted_proxy(request: HttpRequest) -> bool:
    peer = request.META.get(PROXY_ADDRESS_META_KEY) or request.META.get("REMOTE_ADDR", "")
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(
        address in ipaddress.ip_network(net, strict=False) for net in settings.IDP_TRUSTED_PROXIES
    )


def auth_headers(request: HttpRequest) -> Mapping[str, str]:
    """The headers client authentication may read: without the forwarded client certificate
    unless the request came through a trusted reverse proxy (which sets or clears that header;
    anyone reaching the application directly could forge it). Shared with the other back-channel
    endpoints."""
    header = settings.IDP_TLS_CLIENT_CERT_HEADER
    if not header or header not in request.headers or _peer_is_trusted_proxy(request):
        return request.headers
    return {k: v for k, v in request.headers.items() if k.lower() != header.lower()}


@csrf_exempt
@sensitive_post_parameters(
    "client_secret", "code", "code_verifier", "refresh_token", "client_assertion"
)
def token(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        error = InvalidRequest("The token endpoint accepts POST only.")
        error.status = 405
        return rendering.json_error(error, headers={"Allow": "POST"})
    try:
        params = parse_form(request)
        auth = client_auth.authenticate(
            params, auth_headers(request), endpoint="token", request=request
        )
        body = grants.handle(params, auth, request=request)
    except OAuthError as exc:
        return rendering.json_error(exc)
    return _no_store(JsonResponse(body))
