"""The holder's card app page, ``/account/card/``: devices, revocation, activation by QR code.

Activating a new device from here needs a live SSO session opened with a strong method (the card
app: amr ``pop``; a FIDO2 security key: ``hwk`` or ``swk``, RFC 8176 §2): a session opened with a
weaker method (an offline code, say) must not be able to enrol a phone of the attacker's. The QR
code carries a one-time activation code valid ``IDP_CARD_QR_SECONDS`` (90 s), shown once (in a
POST answer, never cached). Pages in French or English like the login page; forms are
CSRF-protected; no script (CSP), the QR is inline SVG drawn by segno.
"""

from __future__ import annotations

from typing import Any

import segno
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from idp.authn.card import activation, devices
from idp.authn.card.models import ActivationMethod, CardDevice
from idp.oidc import sessions
from idp.oidc.models import SsoSession

#: amr values (RFC 8176) of the methods strong enough to enrol another device.
STRONG_AMR = frozenset({"pop", "hwk", "swk"})

_TEXTS = {
    "fr": {
        "title": "Mon application carte",
        "need_login": (
            "Pour gérer vos appareils et activer un nouvel appareil, connectez-vous d’abord "  # noqa: RUF001
            "avec l’application carte ou avec une clé de sécurité."  # noqa: RUF001
        ),
        "devices": "Mes appareils",
        "none": "Aucun appareil n’est enrôlé.",  # noqa: RUF001
        "name": "Nom",
        "status": "État",
        "created": "Activé le",
        "expires": "Expire le",
        "last_used": "Dernière utilisation",
        "revoke": "Révoquer",
        "revoked": "L’appareil a été révoqué.",  # noqa: RUF001
        "activate": "Activer un nouvel appareil",
        "activate_help": (
            "Un QR code à scanner avec la nouvelle application s’affichera ; il est valable "  # noqa: RUF001
            "{seconds} secondes et ne sert qu’une fois."  # noqa: RUF001
        ),
        "qr_title": "Scannez ce QR code avec l’application carte",  # noqa: RUF001
        "qr_manual": "Sans caméra, saisissez ce code dans l’application :",  # noqa: RUF001
        "qr_expires": "Valable jusqu’à {time} ({seconds} secondes). Ne le montrez à personne.",  # noqa: RUF001
        "back": "Retour à mes appareils",
        "statuses": {
            "active": "actif",
            "blocked": "bloqué",
            "revoked": "révoqué",
            "expired": "expiré",
        },
    },
    "en": {
        "title": "My card app",
        "need_login": (
            "To manage your devices and activate a new one, first sign in with the card app or "
            "with a security key."
        ),
        "devices": "My devices",
        "none": "No device is enrolled.",
        "name": "Name",
        "status": "Status",
        "created": "Activated on",
        "expires": "Expires on",
        "last_used": "Last used",
        "revoke": "Revoke",
        "revoked": "The device was revoked.",
        "activate": "Activate a new device",
        "activate_help": (
            "A QR code to scan with the new app will be shown; it is valid {seconds} seconds "
            "and works once."
        ),
        "qr_title": "Scan this QR code with the card app",
        "qr_manual": "Without a camera, type this code in the app:",
        "qr_expires": "Valid until {time} ({seconds} seconds). Show it to nobody.",
        "back": "Back to my devices",
        "statuses": {
            "active": "active",
            "blocked": "blocked",
            "revoked": "revoked",
            "expired": "expired",
        },
    },
}


def _language() -> str:
    chosen = (translation.get_language() or "fr").split("-")[0]
    return chosen if chosen in _TEXTS else "fr"


def strong_session(request: HttpRequest) -> SsoSession | None:
    """The browser's live SSO session, if a strong method opened it."""
    session = sessions.current(request)
    if session is None or not STRONG_AMR.intersection(session.amr or []):
        return None
    return session


def _render(
    request: HttpRequest,
    session: SsoSession | None,
    *,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    language = _language()
    texts = _TEXTS[language]
    rows = []
    if session is not None:
        for device in CardDevice.objects.filter(professional=session.professional).order_by(
            "-created_at", "-pk"
        ):
            rows.append({"device": device, "status": texts["statuses"][device.status]})
    qr_seconds = settings.IDP_CARD_QR_SECONDS
    with translation.override(language):
        response = render(
            request,
            "authn/card/portal.html",
            {
                "texts": texts,
                "session": session,
                "rows": rows,
                "activate_help": texts["activate_help"].format(seconds=qr_seconds),
                **context,
            },
            status=status,
        )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    """The devices and the activation button, or why the page cannot be used yet (403)."""
    session = strong_session(request)
    if session is None:
        return _render(request, None, status=403)
    return _render(request, session, notice=request.GET.get("done") == "revoked")


@never_cache
@require_POST
def activate(request: HttpRequest) -> HttpResponse:
    """Issue a session QR activation code and show it once (QR + text)."""
    session = strong_session(request)
    if session is None:
        return _render(request, None, status=403)
    professional = session.professional
    issued = activation.issue_code(
        professional,
        ActivationMethod.SESSION_QR,
        actor=f"professional:{professional.sub}",
        request=request,
    )
    texts = _TEXTS[_language()]
    svg = segno.make(issued.uri, error="m").svg_inline(
        scale=5, border=4, light="#fff", title=texts["qr_title"]
    )
    seconds = settings.IDP_CARD_QR_SECONDS
    return _render(
        request,
        session,
        qr_svg=mark_safe(svg),  # noqa: S308 - segno's own markup; the code is base32
        qr_code=issued.code,
        qr_expires=texts["qr_expires"].format(
            time=timezone.localtime(issued.expires_at).strftime("%H:%M:%S"),
            seconds=seconds,
        ),
    )


@never_cache
@require_POST
def revoke(request: HttpRequest, kid: str) -> HttpResponse:
    """Revoke one of the holder's devices, then back to the list (303)."""
    session = strong_session(request)
    if session is None:
        return _render(request, None, status=403)
    device = (  # a NUL (from the URL) is in no kid, and PostgreSQL text cannot hold one
        None
        if "\x00" in kid
        else CardDevice.objects.filter(kid=kid, professional=session.professional).first()
    )
    if device is None:
        return _render(request, session, status=404)
    devices.revoke(
        device,
        actor=f"professional:{session.professional.sub}",
        reason="holder_portal",
        request=request,
    )
    return HttpResponseRedirect(reverse("card_portal:account") + "?done=revoked", status=303)
