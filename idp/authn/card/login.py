"""The login page's card app endpoints, under ``/login/<txn>/`` (docs/design/card-app.md).

* ``POST card`` (``authn:card_start``): the professional types their idNat; a push challenge goes
  to their phone and the page shows the 2-digit number to pick there.
* ``POST card/qr`` (``authn:card_qr``): a QR challenge for whoever scans it with an enrolled app.
* ``GET card/<id>/status`` (``authn:card_status``): ``{status}``; ``card-login.js`` polls it with
  ``POST``, which also completes the login once the holder approved (``{status, location}``).
* ``POST card/<id>/complete`` (``authn:card_complete``): the approved challenge is consumed
  once and the login completed (acr ``eidas2``, amr ``pop pin mfa``, authMode ``MOBILE``).
* ``POST offline`` (``authn:offline``): an offline code (acr ``eidas1``, amr ``otp``).

A challenge belongs to the browser that started it (keyed hash of its ``caducee_txn`` cookie) and
to the login transaction it was made for (``reference`` = the transaction's jti): another browser
can neither poll nor complete it, and its approval cannot complete another login. The views only
translate HTTP; the rules are in :mod:`~idp.authn.card.challenges` and
:mod:`~idp.authn.card.offline`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from idp.accounts.models import Professional
from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn import views as login_page
from idp.authn.card import challenges, limits, offline
from idp.authn.card.api.base import error_response
from idp.authn.card.errors import CardError
from idp.authn.card.models import CardChallenge, CardDevice, ChallengePurpose, ChallengeStatus
from idp.oidc import interaction, rendering
from idp.oidc.protocol import errors

ACR = "eidas2"
AMR = ("pop", "pin", "mfa")
AUTH_MODE = "MOBILE"
_ID_NAT_MAX = 64

# --- the "approximate origin" shown on the phone -------------------------------------------------
# (marker in the User-Agent, name): the first that matches wins, so the more specific come first
# (Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux").
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)


def _first(user_agent: str, table: tuple[tuple[str, str], ...]) -> str:
    return next((name for marker, name in table if marker in user_agent), "")


def masked_address(raw: str) -> str:
    """The client address with its last octet (IPv4) or its last 80 bits (IPv6) hidden."""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join([*str(address).split(".")[:3], "x"])
    return str(ipaddress.ip_network(f"{address}/48", strict=False))


def describe_browser(request: HttpRequest) -> str:
    """``Firefox · Windows · 192.0.2.x``: enough for the holder to recognise their own login."""
    user_agent = request.headers.get("User-Agent", "")[:512]
    parts = [
        _first(user_agent, _BROWSERS),
        _first(user_agent, _SYSTEMS),
        masked_address(str(request.META.get("REMOTE_ADDR") or "")),
    ]
    return " · ".join(p for p in parts if p)[:200] or "?"


# --- helpers -------------------------------------------------------------------------------------
def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _id_nat(request: HttpRequest) -> str:
    value = request.POST.get("id_nat", "")
    # No idNat holds a NUL (and PostgreSQL text cannot): an unknown one, not a failed query.
    return value.replace("\x00", "\ufffd").strip()[:_ID_NAT_MAX]


def _refused(
    request: HttpRequest,
    pending: interaction.LoginTransaction,
    error: CardError,
    *,
    id_nat: str,
    as_json: bool,
    method: str = "card",
) -> HttpResponse:
    """A card error as JSON (scripted clients) or as the login page with its message."""
    if as_json:
        return _no_store(error_response(error))
    status = 429 if error.status == 429 else 400
    response = login_page.page(
        request, pending, id_nat=id_nat, error=error.code, method=method, status=status
    )
    if "retry_after" in error.extra:
        response["Retry-After"] = str(error.extra["retry_after"])
    return response


def _created_event(
    request: HttpRequest, challenge: CardChallenge, pending: interaction.LoginTransaction
) -> tuple[EventTag, dict[str, Any]]:
    """The journal event of a challenge the login page started (``challenges.create`` writes it
    with the challenge)."""
    return EventTag.AUTHN_CARD_CHALLENGE_CREATED, {
        "actor": f"client:{pending.request.client_id}",
        "subject": f"professional:{challenge.professional.sub}" if challenge.professional else "qr",
        "request": request,
        "data": {
            "challenge": challenge.public_id[:16],
            "purpose": challenge.purpose,
            "browser": challenge.browser,
        },
    }


def _qr_svg(challenge: CardChallenge, secret: str) -> str:
    uri = challenges.qr_uri(challenge, secret)
    # Inline SVG with presentation attributes only (no style attribute: CSP style-src 'self').
    return segno.make(uri, error="m").svg_inline(scale=5, light="#fff", dark="#000")


def _waiting(
    request: HttpRequest,
    pending: interaction.LoginTransaction,
    challenge: CardChallenge,
    *,
    qr_secret: str = "",
    as_json: bool = False,
    notice: str = "",
) -> HttpResponse:
    """The page (or JSON) a browser waits on while the holder answers on the phone."""
    txn = pending.txn
    status_url = reverse("authn:card_status", args=[txn, challenge.public_id])
    complete_url = reverse("authn:card_complete", args=[txn, challenge.public_id])
    expires_in = max(0, int((challenge.expires_at - timezone.now()).total_seconds()))
    if as_json:
        body: dict[str, Any] = {
            "challenge": challenge.public_id,
            "number": challenge.number,
            "status_url": status_url,
            "complete_url": complete_url,
            "expires_in": expires_in,
        }
        if qr_secret:
            body["qr"] = challenges.qr_uri(challenge, qr_secret)
        return _no_store(JsonResponse(body))
    lang = login_page.language(pending)
    texts = login_page.texts(lang)
    with translation.override(lang):
        response = render(
            request,
            "authn/card/waiting.html",
            {
                "texts": texts,
                "pending": pending,
                "challenge": challenge,
                "qr": challenge.purpose == ChallengePurpose.QR,
                "qr_secret": qr_secret,
                "qr_svg": mark_safe(_qr_svg(challenge, qr_secret)) if qr_secret else "",  # noqa: S308 segno's own markup
                "status_url": status_url,
                "complete_url": complete_url,
                "expires_in": expires_in,
                "expires_at": timezone.localtime(challenge.expires_at),
                "notice": login_page.error_message(lang, notice) if notice else "",
            },
        )
    _no_store(response)
    login_page.allow_client_form_action(response, pending)
    return response


def _browser_challenge(
    request: HttpRequest,
    pending: interaction.LoginTransaction,
    public_id: str,
    *,
    full: bool = True,
) -> CardChallenge | None:
    """This browser's challenge made for this login transaction, else None (never another's).

    ``full=False``: only what the status endpoint reads (no device, no holder).
    """
    challenge = challenges.status_for_browser(
        public_id, request.COOKIES.get(interaction.BROWSER_COOKIE, ""), full=full
    )
    if (
        challenge is None
        or challenge.purpose not in (ChallengePurpose.LOGIN, ChallengePurpose.QR)
        or challenge.reference != pending.jti
    ):
        return None
    return challenge


# --- endpoints -----------------------------------------------------------------------------------
@never_cache
@require_POST
def start(request: HttpRequest, txn: str) -> HttpResponse:
    """``POST card``: a push challenge to the phones of the professional named by ``id_nat``."""
    as_json = _wants_json(request)
    try:
        pending = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.json_error(exc) if as_json else rendering.error_page(request, exc)
    id_nat = _id_nat(request)
    try:
        if not id_nat:
            if not as_json:
                return login_page.page(request, pending, error="missing", status=400)
            raise CardError("invalid_request", "id_nat missing")
        # Anti push-bombing: every attempt counts, known idNat or not; refused (counted nowhere)
        # when either limit is reached. One atomic Redis script.
        limits.hit_all(
            (limits.CHALLENGES_PER_ID_NAT, id_nat),
            (limits.CHALLENGES_PER_ADDRESS, limits.address(request)),
        )
        challenge, _secret = challenges.create(
            ChallengePurpose.LOGIN,
            id_nat=id_nat,
            client_id=pending.request.client_id,
            client_name=pending.client_name,
            browser=describe_browser(request),
            browser_secret=request.COOKIES.get(interaction.BROWSER_COOKIE, ""),
            reference=pending.jti,
            acr=ACR,
            request=request,
            created_event=lambda created: _created_event(request, created, pending),
        )
    except CardError as error:
        return _refused(request, pending, error, id_nat=id_nat, as_json=as_json)
    return _waiting(request, pending, challenge, as_json=as_json)


@never_cache
@require_POST
def start_qr(request: HttpRequest, txn: str) -> HttpResponse:
    """``POST card/qr``: a challenge for the first enrolled app that scans the page's QR code."""
    as_json = _wants_json(request)
    try:
        pending = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.json_error(exc) if as_json else rendering.error_page(request, exc)
    try:
        limits.hit(limits.CHALLENGES_PER_ADDRESS, limits.address(request))
        challenge, secret = challenges.create(
            ChallengePurpose.QR,
            professional=None,
            client_id=pending.request.client_id,
            client_name=pending.client_name,
            browser=describe_browser(request),
            browser_secret=request.COOKIES.get(interaction.BROWSER_COOKIE, ""),
            reference=pending.jti,
            acr=ACR,
            request=request,
            created_event=lambda created: _created_event(request, created, pending),
        )
    except CardError as error:
        return _refused(request, pending, error, id_nat="", as_json=as_json)
    return _waiting(request, pending, challenge, qr_secret=secret, as_json=as_json)


#: The status answers are JSON for the page's script: never framed, nothing to run. Served through
#: the lean stack (idp/core/protocol_handler.py), which has no clickjacking or CSP middleware.
_STATUS_HEADERS = {
    "Cache-Control": "max-age=0, no-cache, no-store, must-revalidate, private",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
_STATUS_BODIES = {
    value: f'{{"status": "{value}"}}'.encode() for value in ChallengeStatus.values
}  # fmt: skip


def status(request: HttpRequest, txn: str, challenge_id: str) -> HttpResponse:
    """``GET card/<id>/status``: ``{"status": "pending" | "approved" | …}`` for this browser.

    ``POST``, the waiting page's poll (with the page's CSRF token): the same answer, except that
    once the holder has approved, that request completes the login as ``POST complete`` would
    and answers ``{"status": "approved", "location": <the client's redirect>}`` with the SSO
    session's cookie; the page goes there. One request fewer per login than "poll, see the
    approval, post the form". A ``form_post`` client, or a completion refused for any reason,
    gets the plain status, and the page posts its form, which completes or shows why not.
    """
    if request.method == "GET":
        _pending, challenge = _browser_status(request, txn, challenge_id, full=False)
        response = _status_body(challenge_id, challenge)
    elif request.method == "POST":
        response = _poll(request, txn, challenge_id)
    else:
        response = HttpResponseNotAllowed(["GET", "POST"])
    for name, value in _STATUS_HEADERS.items():
        response[name] = value
    return response


def _browser_status(
    request: HttpRequest, txn: str, challenge_id: str, *, full: bool
) -> tuple[interaction.LoginTransaction | None, CardChallenge | None]:
    """The login transaction and this browser's challenge, either None if not found."""
    try:
        # The status of this browser's own challenge only: a used transaction can read it,
        # as it could the moment before, and complete nothing (completing checks).
        pending = interaction.pending(request, txn, unused=False)
    except errors.OAuthError:
        return None, None
    return pending, _browser_challenge(request, pending, challenge_id, full=full)


def _status_body(challenge_id: str, challenge: CardChallenge | None) -> HttpResponse:
    if challenge is None:
        return error_response(CardError("challenge_not_found", challenge_id[:16]))
    return HttpResponse(_STATUS_BODIES[challenge.status], content_type="application/json")


@csrf_protect
def _poll(request: HttpRequest, txn: str, challenge_id: str) -> HttpResponse:
    # Read with the device and the holder (one statement, as complete reads it): a poll that
    # sees the approval completes without a second read. Whether the transaction is still
    # unused is not read first: the approval's single use, then the transaction's own (taken
    # before any session is touched, interaction.complete_login), decide, and a poll that
    # loses either changes nothing.
    pending, challenge = _browser_status(request, txn, challenge_id, full=True)
    if (
        pending is not None
        and challenge is not None
        and challenge.status == ChallengeStatus.APPROVED
        and pending.request.response_mode != "form_post"
    ):
        outcome = _finish(request, pending, challenge)
        location = outcome.get("Location") if outcome.status_code in (302, 303) else None
        if location:
            response = JsonResponse({"status": "approved", "location": location})
            response.cookies = outcome.cookies
            return response
    return _status_body(challenge_id, challenge)


_FAILURES = {"wrong_number", "wrong_pin"}


@never_cache
@require_POST
def complete(request: HttpRequest, txn: str, challenge_id: str) -> HttpResponse:
    """``POST card/<id>/complete``: use the approved challenge (once) to complete the login."""
    try:
        pending = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
    challenge = _browser_challenge(request, pending, challenge_id)
    if challenge is None:
        return login_page.page(request, pending, error="challenge_not_found", status=404)
    return _finish(request, pending, challenge)


def _finish(
    request: HttpRequest, pending: interaction.LoginTransaction, challenge: CardChallenge
) -> HttpResponse:
    """Complete the login with this browser's ``challenge`` if it was approved, else say why."""
    if challenge.status == ChallengeStatus.PENDING:
        # Without JavaScript the holder presses "continue" themselves, perhaps too early.
        secret = request.POST.get("qr_secret", "")[:64]
        if not challenges.qr_secret_matches(challenge, secret):
            secret = ""
        return _waiting(request, pending, challenge, qr_secret=secret, notice="not_approved")
    if challenge.status == ChallengeStatus.DENIED:
        return login_page.page(request, pending, error="denied", status=400)
    if challenge.status == ChallengeStatus.FAILED:
        error = challenge.failure if challenge.failure in _FAILURES else "failed"
        return login_page.page(request, pending, error=error, status=400)
    if challenge.status != ChallengeStatus.APPROVED or _approval_too_old(challenge):
        return login_page.page(request, pending, error="challenge_expired", status=400)
    device = challenge.device
    if device is None or device.status != "active":
        # Revoked or blocked between the approval and now: its approval no longer counts.
        code = f"device_{device.status}" if device is not None else "no_device"
        return login_page.page(request, pending, error=code, status=400)
    # The approval's use joins the login's transaction: a refused completion leaves it unused.
    with journal.batched():
        if not challenges.consume(challenge):
            return login_page.page(request, pending, error="challenge_used", status=409)
        return _log_in(
            request, pending, challenge.professional, device,
            amr=AMR, acr=challenge.acr, tag=EventTag.AUTHN_CARD_LOGIN,
            data={
                "challenge": challenge.public_id[:16],
                "purpose": challenge.purpose,
                "client_id": challenge.client_id,
                "acr": challenge.acr,
            },
        )  # fmt: skip


def _log_in(
    request: HttpRequest,
    pending: interaction.LoginTransaction,
    professional: Professional,
    device: CardDevice,
    *,
    amr: Sequence[str],
    acr: str,
    tag: EventTag,
    data: dict[str, Any],
    auth_mode: str = AUTH_MODE,
) -> HttpResponse:
    """Complete the login with the card app (push, QR or offline code) and journal ``tag``.

    The SSO session, the code and their events are one transaction with one journal append (the
    caller's :func:`journal.batched` block when it opened one); a refused completion rolls it all
    back and shows why.
    """
    with journal.batched():
        try:
            response = interaction.complete_login(
                request, pending.txn, professional=professional, amr=list(amr), acr=acr,
                auth_mode=auth_mode, checked=pending,
            )  # fmt: skip
        except errors.OAuthError as exc:
            transaction.set_rollback(True)
            return rendering.error_page(request, exc)
        journal.record(
            tag,
            actor=f"professional:{professional.sub}",
            subject=f"card_device:{device.kid}",
            request=request,
            data=data,
        )
    login_page.remember_id_nat(response, professional.id_nat)
    return response


def _approval_too_old(challenge: CardChallenge) -> bool:
    """An approval is used right away by the polling page; an old one is not honoured."""
    answered = challenge.answered_at or challenge.created_at
    limit = timedelta(seconds=settings.IDP_CARD_CHALLENGE_SECONDS)
    return timezone.now() - answered > limit


@never_cache
@sensitive_post_parameters("code")
@require_POST
def offline_login(request: HttpRequest, txn: str) -> HttpResponse:
    """``POST offline``: idNat and the 6-digit code the app shows without network (eidas1)."""
    try:
        pending = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
    id_nat = _id_nat(request)
    if not login_page.offline_allowed(pending):
        # acr_values asked for more than eidas1: an offline code must not pass for the card app.
        return login_page.page(
            request, pending, id_nat=id_nat, error="offline_level", method="offline", status=400
        )
    if not id_nat:
        return login_page.page(request, pending, error="missing", method="offline", status=400)
    address = limits.address(request)
    try:
        limits.check(limits.OFFLINE_FAILURES_PER_ID_NAT, id_nat)
        limits.check(limits.OFFLINE_FAILURES_PER_ADDRESS, address)
    except CardError as error:
        return _refused(request, pending, error, id_nat=id_nat, as_json=False, method="offline")
    professional = Professional.objects.filter(id_nat=id_nat).first()
    try:
        device = offline.verify(professional, request.POST.get("code", ""))
    except CardError as error:
        limits.OFFLINE_FAILURES_PER_ID_NAT.register_failure(id_nat)
        limits.OFFLINE_FAILURES_PER_ADDRESS.register_failure(address)
        journal.record(
            EventTag.AUTHN_CARD_OFFLINE_FAILED,
            actor=f"client:{pending.request.client_id}",
            subject=f"professional:{professional.sub}" if professional else "unknown",
            request=request,
            data={"error": error.code},
        )
        return _refused(request, pending, error, id_nat=id_nat, as_json=False, method="offline")
    response = _log_in(
        request, pending, device.professional, device,
        amr=offline.AMR, acr=offline.ACR, tag=EventTag.AUTHN_CARD_OFFLINE_LOGIN,
        data={"client_id": pending.request.client_id, "acr": offline.ACR},
        auth_mode=offline.AUTH_MODE,
    )  # fmt: skip
    limits.OFFLINE_FAILURES_PER_ID_NAT.reset(id_nat)
    return response
