"""Backchannel authentication endpoint (OpenID CIBA Core 1.0 §7): parse the form exactly as the
token endpoint does, authenticate the client exactly as the token endpoint does, run the request
(:mod:`idp.oidc.protocol.ciba`), render the answer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from idp.oidc import rendering
from idp.oidc.protocol import ciba, client_auth
from idp.oidc.protocol.errors import InvalidRequest, OAuthError
from idp.oidc.views.token import auth_headers, parse_form


@csrf_exempt
@sensitive_post_parameters("client_secret", "client_assertion", "client_notification_token")
def backchannel_authentication(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        error = InvalidRequest("The backchannel authentication endpoint accepts POST only.")
        error.status = 405
        return rendering.json_error(error, headers={"Allow": "POST"})
    try:
        params = parse_form(request)
        auth = client_auth.authenticate(
            params, auth_headers(request), endpoint="ciba", request=request
        )
        body = ciba.backchannel_authentication(params, auth, request=request)
    except ciba.Throttled as exc:
        return rendering.json_error(exc, headers={"Retry-After": str(exc.retry_after)})
    except OAuthError as exc:
        return rendering.json_error(exc)
    # §7.3: a successful response is 200 with JSON; it carries a secret (auth_req_id).
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
