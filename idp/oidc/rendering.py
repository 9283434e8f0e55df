"""How protocol errors look on the wire: JSON, a redirect to the client, or an HTML page.

The one place that decides the shape of an error (architecture.md habit 3); the error classes in
``idp.oidc.protocol.errors`` only carry the code, status and descriptions.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import translation

from idp.oidc.protocol.errors import InvalidClient, InvalidToken, OAuthError


class _AnySchemeBut:
    """A container of every URI scheme except some (for HttpResponseRedirect.allowed_schemes)."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = frozenset(refused)

    def __contains__(self, scheme: object) -> bool:
        return isinstance(scheme, str) and scheme.lower() not in self.refused


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


# --- Responses to the client's redirect URI (RFC 6749 §4.1.2, RFC 9207) ------------------------
class ClientRedirect(HttpResponseRedirect):
    """A redirect to a registered redirect URI, which may use a native app's private scheme.

    RFC 8252 §7.1 allows private-use URI schemes (``com.example.app:/cb``); Django's redirect only
    allows http(s) and ftp. The URI was matched against the client's registration before we get
    here; script-bearing schemes are refused anyway.
    """

    allowed_schemes = _AnySchemeBut({"javascript", "data", "vbscript", "file"})


def redirect_url(redirect_uri: str, params: Mapping[str, str]) -> str:
    """``redirect_uri`` with ``params`` added to its query.

    RFC 6749 §3.1.2: the registered URI's own query "MUST be retained": it is kept byte for byte
    (re-encoding it could change what the client compares), and our parameters, encoded with
    urlencode, follow it. Any fragment is dropped (§3.1.2: "MUST NOT include a fragment").
    """
    parts = urlsplit(redirect_uri)
    query = "&".join(part for part in (parts.query, urlencode(dict(params))) if part)
    return urlunsplit(parts._replace(query=query, fragment=""))


def _with_iss_and_state(params: Mapping[str, str], state: str) -> dict[str, str]:
    # RFC 9207 §2: iss in every authorization response, success or error; RFC 6749 §4.1.2:
    # state exactly as received, when it was.
    result = dict(params)
    if state:
        result["state"] = state
    result["iss"] = settings.IDP_ISSUER
    return result


def authorization_response(
    redirect_uri: str, params: Mapping[str, str], *, state: str, response_mode: str
) -> HttpResponse:
    """Deliver an authorization response (code or error) to the client: 302 with a query, or an
    auto-submitting form (OAuth 2.0 Form Post Response Mode 1.0 §2)."""
    params = _with_iss_and_state(params, state)
    if response_mode == "form_post":
        return form_post(redirect_uri, params)
    response = ClientRedirect(redirect_url(redirect_uri, params))
    response["Cache-Control"] = "no-store"
    return response


def redirect_error(
    exc: OAuthError, redirect_uri: str, state: str, response_mode: str = "query"
) -> HttpResponse:
    """An error sent back to a VERIFIED redirect URI (RFC 6749 §4.1.2.1, with RFC 9207 ``iss``)."""
    return authorization_response(
        redirect_uri, exc.as_dict(), state=state, response_mode=response_mode
    )


#: The only script of the form_post page, allowed by its hash (CSP Level 3 §8.3 hash-source).
FORM_POST_SCRIPT = 'document.getElementById("caducee-form-post").submit();'
FORM_POST_SCRIPT_HASH = (
    "'sha256-" + base64.b64encode(hashlib.sha256(FORM_POST_SCRIPT.encode()).digest()).decode() + "'"
)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def form_post(redirect_uri: str, params: Mapping[str, str]) -> HttpResponse:
    """Form Post Response Mode 1.0 §2: an HTML form POSTing ``params`` to ``redirect_uri``.

    The page's Content-Security-Policy lets its form go to the client's origin only (form-action;
    an origin, because a CSP source cannot carry a query and must not carry ``;`` or ``,``) and
    runs no script but the one whose hash it names; without JavaScript a button submits it.
    """
    html = render_to_string(
        "oidc/form_post.html",
        {
            "action": redirect_uri,
            "params": sorted(params.items()),
            "script": FORM_POST_SCRIPT,
            "texts": _texts(),
        },
    )
    response = HttpResponse(html)
    response["Cache-Control"] = "no-store"
    response._csp_replace = {  # read by django-csp's middleware
        "form-action": [_origin(redirect_uri)],
        "script-src": [FORM_POST_SCRIPT_HASH],
    }
    return response


# --- The HTML error page (shown when nothing may be redirected) -------------------------------
_TEXTS = {
    "fr": {
        "lang": "fr",
        "title": "Connexion impossible",
        "lead": "La demande de connexion envoyée par le service n’est pas valide.",  # noqa: RUF001
        "advice": "Revenez au service que vous utilisiez et recommencez. "
        "Si le problème persiste, contactez son assistance en indiquant le code ci-dessous.",
        "code": "Code de l’erreur\u202f:",  # noqa: RUF001
        "continue": "Continuer",
        "redirecting": "Retour vers le service…",
    },
    "en": {
        "lang": "en",
        "title": "Unable to sign in",
        "lead": "The sign-in request sent by the service is not valid.",
        "advice": "Go back to the service you were using and try again. "
        "If the problem persists, contact its support with the code below.",
        "code": "Error code:",
        "continue": "Continue",
        "redirecting": "Returning to the service…",
    },
}


def _texts(language: str | None = None) -> dict[str, str]:
    language = (language or translation.get_language() or "fr").split("-")[0]
    return _TEXTS.get(language, _TEXTS["fr"])


def error_page(
    request: HttpRequest, exc: OAuthError, *, language: str | None = None
) -> HttpResponse:
    """A French or English page for errors that must not go to the client (RFC 6749 §4.1.2.1).

    Shows the OAuth code and the public description (ASCII, safe), never the private detail.
    """
    status = exc.status if exc.status >= 400 and exc.status != 401 else 400
    texts = _texts(language)
    response = render(
        request,
        "oidc/error.html",
        {"texts": texts, "error": exc.error, "description": exc.description},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response
