"""The login page (``authn:login``) and its methods' endpoints.

The page reads the pending authorization request through ``idp.oidc.interaction.pending`` and
hands a proven identity back with ``interaction.complete_login``; it knows nothing of OAuth.
Today it offers the test method when enabled; the card app and FIDO2 come next.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from idp.authn import test_login as test_method
from idp.oidc import interaction, rendering
from idp.oidc.protocol import errors

_TEXTS = {
    "fr": {
        "title": "Connexion",
        "lead": "Connectez-vous pour accéder à",
        "no_method": "Aucun moyen de connexion n’est disponible pour le moment.",  # noqa: RUF001
        "test_title": "Connexion de test",
        "test_warning": "Moyen de test : aucune preuve d’identité n’est demandée.",  # noqa: RUF001
        "id_nat": "Identifiant national (idNat)",
        "acr": "Niveau d’authentification",  # noqa: RUF001
        "submit": "Se connecter",
        "cancel": "Annuler et revenir au service",
        "errors": {
            "missing": "Saisissez un identifiant national.",
            "unknown": "Aucun professionnel actif ne porte cet identifiant.",
            "inactive": "Ce compte est suspendu ou désactivé.",
            "acr": "Choisissez un niveau d’authentification proposé.",  # noqa: RUF001
        },
    },
    "en": {
        "title": "Sign in",
        "lead": "Sign in to access",
        "no_method": "No sign-in method is available at the moment.",
        "test_title": "Test sign-in",
        "test_warning": "Test method: no proof of identity is required.",
        "id_nat": "National identifier (idNat)",
        "acr": "Authentication level",
        "submit": "Sign in",
        "cancel": "Cancel and go back to the service",
        "errors": {
            "missing": "Enter a national identifier.",
            "unknown": "No active professional has this identifier.",
            "inactive": "This account is suspended or deactivated.",
            "acr": "Choose one of the offered authentication levels.",
        },
    },
}


def _language(pending: interaction.LoginTransaction) -> str:
    """ui_locales first (OIDC Core §3.1.2.1), then the browser's language, then French."""
    chosen = pending.language or (translation.get_language() or "fr").split("-")[0]
    return chosen if chosen in _TEXTS else "fr"


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _page(
    request: HttpRequest,
    pending: interaction.LoginTransaction,
    *,
    id_nat: str = "",
    acr: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    language = _language(pending)
    texts = _TEXTS[language]
    with translation.override(language):
        response = render(
            request,
            "authn/login.html",
            {
                "texts": texts,
                "pending": pending,
                "test_login": test_method.enabled(),
                "acr_choices": test_method.ACR_CHOICES,
                "id_nat": id_nat or pending.login_hint,
                "selected_acr": acr or pending.minimum_acr or "eidas1",
                "error": texts["errors"].get(error, "") if error else "",
            },
            status=status,
        )
    response["Cache-Control"] = "no-store"
    # The form's POST ends, after two redirects, at the client's redirect URI: CSP form-action
    # applies to the redirects too, so that origin must be allowed next to ours.
    response._csp_update = {"form-action": [_origin(pending.redirect_uri)]}
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest, txn: str) -> HttpResponse:
    """GET: the login page. POST: the test method's form (the only form posted here for now)."""
    if request.method == "POST":
        return _test_login(request, txn)
    try:
        pending = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
    return _page(request, pending)


@require_POST
def cancel(request: HttpRequest, txn: str) -> HttpResponse:
    try:
        return interaction.cancel(request, txn)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)


def _test_login(request: HttpRequest, txn: str) -> HttpResponse:
    """The test method (IDP_TEST_LOGIN only; 404 otherwise). CSRF-protected like every form."""
    if not test_method.enabled():
        raise Http404
    try:
        pending = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
    id_nat = request.POST.get("id_nat", "")[:64]
    # Without a choice (a scripted client posting only the idNat), the level the client asked for.
    acr = request.POST.get("acr", "")[:16] or pending.minimum_acr or "eidas1"
    try:
        professional = test_method.authenticate(id_nat, acr)
    except test_method.TestLoginError as exc:
        return _page(request, pending, id_nat=id_nat, acr=acr, error=exc.code, status=400)
    try:
        return interaction.complete_login(
            request,
            txn,
            professional=professional,
            amr=list(test_method.AMR),
            acr=acr,
            auth_mode=test_method.AUTH_MODE,
        )
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
