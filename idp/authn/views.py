# French typography: the apostrophe is U+2019.
# ruff: noqa: RUF001
"""The login page (``authn:login``) and the test method's form.

The page reads the pending authorization request through ``idp.oidc.interaction.pending`` and
hands a proven identity back with ``interaction.complete_login``; it knows nothing of OAuth. The
card app is the default method (its endpoints are in :mod:`idp.authn.card.login`, which renders
this page again with its errors); the test method is offered when IDP_TEST_LOGIN is on.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import get_script_prefix
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from idp.authn import page_urls
from idp.authn import test_login as test_method
from idp.authn.card.errors import CATALOGUE as CARD_ERRORS
from idp.oidc import interaction, rendering
from idp.oidc.protocol import errors
from idp.oidc.protocol.authorize import ACR_LEVELS

#: The idNat of the last card app login on this browser (prefills the form; signed, not secret).
REMEMBERED_ID_NAT_COOKIE = "caducee_idnat"
_REMEMBERED_SALT = "idp.authn.remembered-idnat"
_REMEMBER_SECONDS = 365 * 24 * 3600

_TEXTS = {
    "fr": {
        "title": "Connexion",
        "lead": "Connectez-vous pour accéder à",
        "card_title": "Application carte (e-CPS)",
        "card_help": "Saisissez votre identifiant national : une demande de connexion "
        "s’affichera sur votre téléphone.",
        "card_send": "Envoyer sur mon téléphone",
        "card_qr": "Utiliser un QR code",
        "card_qr_help": "Sans saisir d’identifiant : scannez un QR code avec l’application.",
        "offline_title": "Code hors connexion",
        "offline_help": "Votre téléphone n’a pas de réseau ? Saisissez le code à 6 chiffres "
        "affiché par l’application.",
        "offline_code": "Code à 6 chiffres",
        "offline_submit": "Valider le code",
        "offline_unavailable": "Le service demande un niveau d’authentification que le code "
        "hors connexion n’atteint pas : utilisez l’application connectée.",
        "waiting_title": "Approuvez sur votre téléphone",
        "waiting_push": "Une demande de connexion a été envoyée à votre application carte. "
        "Ouvrez-la, choisissez le nombre ci-dessous puis saisissez votre code PIN.",
        "waiting_qr": "Scannez ce QR code avec votre application carte, choisissez le nombre "
        "ci-dessous puis saisissez votre code PIN.",
        "waiting_qr_label": "QR code de connexion",
        "waiting_qr_gone": "Le QR code n’est plus affiché : recommencez pour en obtenir un "
        "nouveau.",
        "waiting_number": "Nombre à choisir sur le téléphone :",
        "waiting_expires": "La demande expire à",
        "waiting_continue": "J’ai approuvé, continuer",
        "waiting_restart": "Recommencer",
        "test_title": "Connexion de test",
        "test_warning": "Moyen de test : aucune preuve d’identité n’est demandée.",
        "id_nat": "Identifiant national (idNat)",
        "acr": "Niveau d’authentification",
        "submit": "Se connecter",
        "cancel": "Annuler et revenir au service",
        "errors": {
            "missing": "Saisissez un identifiant national.",
            "unknown": "Aucun professionnel actif ne porte cet identifiant.",
            "inactive": "Ce compte est suspendu ou désactivé.",
            "acr": "Choisissez un niveau d’authentification proposé.",
            "no_device": "Aucune application carte active n’est enrôlée pour cet identifiant.",
            "denied": "La connexion a été refusée sur votre téléphone.",
            "wrong_number": "Mauvais nombre choisi sur le téléphone : la connexion a été "
            "refusée. Recommencez.",
            "wrong_pin": "Code PIN erroné sur le téléphone : la connexion a été refusée. "
            "Recommencez.",
            "device_blocked": "Votre application est bloquée après trop de codes PIN erronés. "
            "Activez-la à nouveau ou contactez votre administrateur.",
            "failed": "La connexion a échoué sur le téléphone. Recommencez.",
            "challenge_expired": "La demande a expiré avant d’être approuvée. Recommencez.",
            "challenge_used": "Cette demande a déjà servi. Recommencez.",
            "not_approved": "La demande n’est pas encore approuvée : approuvez-la sur votre "
            "téléphone, puis continuez.",
            "offline_level": "Le service demande un niveau d’authentification que le code hors "
            "connexion n’atteint pas : utilisez l’application connectée.",
            "invalid_code": "Code erroné ou déjà utilisé. Attendez le code suivant.",
        },
    },
    "en": {
        "title": "Sign in",
        "lead": "Sign in to access",
        "card_title": "Card app (e-CPS)",
        "card_help": "Enter your national identifier: a sign-in request will appear on your phone.",
        "card_send": "Send to my phone",
        "card_qr": "Use a QR code instead",
        "card_qr_help": "No identifier to type: scan a QR code with the app.",
        "offline_title": "Offline code",
        "offline_help": "No network on your phone? Enter the 6-digit code the app shows.",
        "offline_code": "6-digit code",
        "offline_submit": "Check the code",
        "offline_unavailable": "The service asks for an authentication level the offline code "
        "does not reach: use the app online.",
        "waiting_title": "Approve on your phone",
        "waiting_push": "A sign-in request was sent to your card app. Open it, pick the number "
        "below, then enter your PIN.",
        "waiting_qr": "Scan this QR code with your card app, pick the number below, then enter "
        "your PIN.",
        "waiting_qr_label": "Sign-in QR code",
        "waiting_qr_gone": "The QR code is no longer shown: start again to get a new one.",
        "waiting_number": "Number to pick on the phone:",
        "waiting_expires": "The request expires at",
        "waiting_continue": "I approved, continue",
        "waiting_restart": "Start again",
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
            "no_device": "No active card app is enrolled for this identifier.",
            "denied": "The sign-in was refused on your phone.",
            "wrong_number": "Wrong number picked on the phone: the sign-in was refused. "
            "Start again.",
            "wrong_pin": "Wrong PIN on the phone: the sign-in was refused. Start again.",
            "device_blocked": "Your app is blocked after too many wrong PINs. Activate it again "
            "or contact your administrator.",
            "failed": "The sign-in failed on the phone. Start again.",
            "challenge_expired": "The request expired before it was approved. Start again.",
            "challenge_used": "This request was already used. Start again.",
            "not_approved": "The request is not approved yet: approve it on your phone, then "
            "continue.",
            "offline_level": "The service asks for an authentication level the offline code "
            "does not reach: use the app online.",
            "invalid_code": "Wrong or already used code. Wait for the next one.",
        },
    },
}


def language(pending: interaction.LoginTransaction) -> str:
    """ui_locales first (OIDC Core §3.1.2.1), then the browser's language, then French."""
    chosen = pending.language or (translation.get_language() or "fr").split("-")[0]
    return chosen if chosen in _TEXTS else "fr"


def texts(lang: str) -> dict:
    return _TEXTS[lang if lang in _TEXTS else "fr"]


def error_message(lang: str, code: str) -> str:
    """The page's own message for ``code``, else the card app's catalogue (fr/en)."""
    own = texts(lang)["errors"].get(code)
    if own:
        return own
    if code in CARD_ERRORS:
        _status, english, french = CARD_ERRORS[code]
        return french if lang == "fr" else english
    return ""


def offline_allowed(pending: interaction.LoginTransaction) -> bool:
    """An offline code yields eidas1: useless (and refused) when the client asks for more."""
    minimum = pending.minimum_acr
    return minimum is None or ACR_LEVELS[minimum] <= ACR_LEVELS["eidas1"]


def remembered_id_nat(request: HttpRequest) -> str:
    value = request.get_signed_cookie(
        REMEMBERED_ID_NAT_COOKIE, default="", salt=_REMEMBERED_SALT, max_age=_REMEMBER_SECONDS
    )
    return value if isinstance(value, str) and len(value) <= 64 else ""


def remember_id_nat(response: HttpResponse, id_nat: str) -> None:
    """Prefill the form next time (signed so that a forged cookie is ignored, not shown)."""
    response.set_signed_cookie(
        REMEMBERED_ID_NAT_COOKIE,
        id_nat,
        salt=_REMEMBERED_SALT,
        max_age=_REMEMBER_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,  # on outside DEBUG, like the other cookies
        # The whole site: the authorization endpoint shows the login page itself.
        path="/",
    )


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def allow_client_form_action(response: HttpResponse, pending: interaction.LoginTransaction) -> None:
    """A form's POST ends, after redirects, at the client's redirect URI: CSP form-action
    applies to the redirects too, so that origin must be allowed next to ours."""
    response._csp_update = {"form-action": [_origin(pending.redirect_uri)]}


def page(
    request: HttpRequest,
    pending: interaction.LoginTransaction,
    *,
    id_nat: str = "",
    acr: str = "",
    error: str = "",
    method: str = "",
    status: int = 200,
) -> HttpResponse:
    """The login page, with ``error`` (a code of this page or of the card app) if any.

    ``method`` names the form the error is about (``offline`` opens that section).
    """
    lang = language(pending)
    urls = page_urls.for_transaction(pending.txn)
    with translation.override(lang):
        response = render(
            request,
            "authn/login.html",
            {
                "texts": texts(lang),
                "pending": pending,
                "test_login": test_method.enabled(),
                "acr_choices": test_method.ACR_CHOICES,
                "id_nat": id_nat or pending.login_hint or remembered_id_nat(request),
                "selected_acr": acr or pending.minimum_acr or "eidas1",
                "offline_allowed": offline_allowed(pending),
                "error": error_message(lang, error) if error else "",
                "error_is_offline": method == "offline",
                "urls": urls,
                "language_action": page_urls.language_switch(get_script_prefix()),
                # The language switch comes back to this transaction's page, not to the URL it
                # was shown at (the authorization request again, or a POST-only path).
                "language_next": urls["login"],
            },
            status=status,
        )
    response["Cache-Control"] = "no-store"
    allow_client_form_action(response, pending)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest, txn: str) -> HttpResponse:
    """GET: the login page. POST: the test method's form."""
    if request.method == "POST":
        return _test_login(request, txn)
    try:
        pending = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
    return page(request, pending)


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
        return page(request, pending, id_nat=id_nat, acr=acr, error=exc.code, status=400)
    try:
        return interaction.complete_login(
            request,
            txn,
            professional=professional,
            amr=list(test_method.AMR),
            acr=acr,
            auth_mode=test_method.AUTH_MODE,
            checked=pending,
        )
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
