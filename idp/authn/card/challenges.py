"""Approval challenges: created for a login or a CIBA request, answered from the phone.

Number matching (docs/design/card-app.md § Flows): the page shows a 2-digit ``number``, the app
shows three ``choices`` and the holder picks the one on screen, then enters the PIN. A wrong
number or a wrong PIN fails the challenge (the page must start again); three wrong PINs in a row
block the device. Every transition is a conditional UPDATE from ``pending`` so that a challenge
is answered once, and its result is consumed once (``consumed_at``) by the browser that started it
or by the CIBA client it belongs to.

Anti push-bombing: at most ``IDP_CARD_MAX_PENDING`` pending challenges per professional; rate
limits per idNat and per address are the callers' (the login page and the CIBA endpoint).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from idp.accounts.models import Professional
from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card import devices, push
from idp.authn.card.errors import CardError
from idp.authn.card.models import CardChallenge, CardDevice, ChallengePurpose, ChallengeStatus
from idp.core import hashing

#: Sent after a challenge is approved, denied or failed (``challenge`` keyword): CIBA ping mode.
challenge_answered = Signal()

_BROWSER_PURPOSE = "card_challenge_browser"
_QR_PURPOSE = "card_challenge_qr"
QR_SCHEME = "caducee-card"
_random = secrets.SystemRandom()


def browser_hash(secret: str) -> str:
    return hashing.keyed_hash(secret, purpose=_BROWSER_PURPOSE) if secret else ""


def _numbers(shown: str = "") -> tuple[str, list[str]]:
    """The number on screen and the three choices the app offers (shuffled, distinct).

    ``shown`` is a number the other side already displays: a CIBA client's 2-digit
    ``binding_message`` (PSC's usage); otherwise a fresh one is drawn.
    """
    decoys = [f"{n:02d}" for n in _random.sample(range(10, 100), 3) if f"{n:02d}" != shown]
    number = shown or decoys.pop()
    choices = [number, *decoys[:2]]
    _random.shuffle(choices)
    return number, choices


def _is_two_digits(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isdigit()


def _pending(professional: Professional) -> Any:
    return CardChallenge.objects.filter(
        professional=professional, status=ChallengeStatus.PENDING, expires_at__gt=timezone.now()
    )


@contextmanager
def _journal_refusal(
    professional: Professional | None, client_id: str, purpose: str, request: Any
) -> Iterator[None]:
    """Journal a push-bombing refusal *after* the transaction that refused it rolled back."""
    try:
        yield
    except CardError as error:
        if error.code == "too_many_pending" and professional is not None:
            journal.record(
                EventTag.AUTHN_CARD_CHALLENGE_REFUSED,
                actor=f"client:{client_id}" if client_id else "anonymous",
                subject=f"professional:{professional.sub}",
                request=request,
                data={"reason": "too_many_pending", "purpose": purpose},
            )
        raise


def create(
    purpose: str,
    *,
    professional: Professional | None,
    client_id: str = "",
    client_name: str = "",
    browser: str = "",
    browser_secret: str = "",
    reference: str = "",
    binding_message: str = "",
    acr: str = "eidas2",
    request: Any = None,
) -> tuple[CardChallenge, str]:
    """A new challenge and, for a QR challenge, the secret the QR carries (else "").

    Login and CIBA challenges need a professional with a usable device (``no_device``) and fewer
    than ``IDP_CARD_MAX_PENDING`` pending ones (``too_many_pending``); their devices are pushed.
    """
    qr_secret = ""
    refusal = _journal_refusal(professional, client_id, purpose, request)
    with refusal, transaction.atomic():
        targets: list[CardDevice] = []
        if purpose != ChallengePurpose.QR:
            if professional is None or not professional.is_active:
                raise CardError("no_device", "no active professional")
            targets = devices.usable(professional)
            if not targets:
                raise CardError("no_device", f"professional {professional.pk}")
            # Serialise per professional so the pending limit holds under concurrent requests.
            Professional.objects.select_for_update().filter(pk=professional.pk).first()
            if _pending(professional).count() >= settings.IDP_CARD_MAX_PENDING:
                raise CardError("too_many_pending", f"professional {professional.pk}")
        else:
            qr_secret = hashing.new_secret(24)
        if purpose != ChallengePurpose.CIBA:
            number, choices = _numbers()
        elif _is_two_digits(binding_message):
            number, choices = _numbers(binding_message)
        else:
            # A free-text binding message: the app shows it and the holder compares it with what
            # the service displays; there is no number to pick.
            number, choices = "", []
        challenge = CardChallenge.objects.create(
            purpose=purpose,
            professional=professional,
            number=number,
            choices=choices,
            qr_secret_hash=hashing.keyed_hash(qr_secret, purpose=_QR_PURPOSE) if qr_secret else "",
            client_id=client_id,
            client_name=client_name[:200],
            binding_message=binding_message[:64],
            browser=browser[:200],
            browser_hash=browser_hash(browser_secret),
            reference=reference,
            acr=acr,
            expires_at=timezone.now() + timedelta(seconds=settings.IDP_CARD_CHALLENGE_SECONDS),
        )
        push.notify(
            [d.push for d in targets if d.push],
            {"type": "challenge", "id": challenge.public_id, "client_name": client_name[:200]},
        )
    return challenge, qr_secret


def qr_uri(challenge: CardChallenge, qr_secret: str) -> str:
    """What the login page's QR code carries (docs/design/card-app.md § The app API)."""
    query = urlencode({"iss": settings.IDP_ISSUER, "c": challenge.public_id, "s": qr_secret})
    return f"{QR_SCHEME}://login?{query}"


def qr_secret_matches(challenge: CardChallenge, qr_secret: str) -> bool:
    """Is ``qr_secret`` the one the challenge's QR code carries (to show the QR again)?"""
    return bool(qr_secret and challenge.qr_secret_hash) and hashing.matches(
        qr_secret, challenge.qr_secret_hash, purpose=_QR_PURPOSE
    )


def describe(challenge: CardChallenge) -> dict[str, Any]:
    """The challenge as the app shows it (never the number itself)."""
    return {
        "id": challenge.public_id,
        "purpose": challenge.purpose,
        "choices": list(challenge.choices),
        "client_name": challenge.client_name,
        "binding_message": challenge.binding_message,
        "browser": challenge.browser,
        "created_at": challenge.created_at.isoformat(),
        "expires_at": challenge.expires_at.isoformat(),
    }


def pending_for(device: CardDevice) -> list[CardChallenge]:
    """What waits for the device's holder, oldest first."""
    return list(_pending(device.professional).order_by("created_at"))


def _expire(challenge: CardChallenge) -> None:
    CardChallenge.objects.filter(pk=challenge.pk, status=ChallengeStatus.PENDING).update(
        status=ChallengeStatus.EXPIRED
    )


def _holders_challenge(device: CardDevice, public_id: Any) -> CardChallenge:
    if not isinstance(public_id, str) or not 0 < len(public_id) <= 64:
        raise CardError("challenge_not_found")
    challenge = CardChallenge.objects.filter(
        public_id=public_id, professional_id=device.professional_id
    ).first()
    if challenge is None:
        raise CardError("challenge_not_found", public_id[:16])
    if challenge.status == ChallengeStatus.PENDING and challenge.expires_at <= timezone.now():
        _expire(challenge)
        raise CardError("challenge_expired", public_id[:16])
    if challenge.status == ChallengeStatus.EXPIRED:
        raise CardError("challenge_expired", public_id[:16])
    if challenge.status != ChallengeStatus.PENDING:
        raise CardError("challenge_answered", public_id[:16])
    return challenge


def _answer(challenge: CardChallenge, device: CardDevice, status: str, failure: str = "") -> bool:
    now = timezone.now()
    done = (
        CardChallenge.objects.filter(
            pk=challenge.pk, status=ChallengeStatus.PENDING, expires_at__gt=now
        ).update(status=status, failure=failure, device=device, answered_at=now)
        == 1
    )
    if done:
        challenge.status, challenge.failure, challenge.device = status, failure, device
        challenge.answered_at = now
    return done


def _journal(
    tag: EventTag, challenge: CardChallenge, device: CardDevice, request: Any, **data: Any
) -> None:
    journal.record(
        tag,
        actor=f"card_device:{device.kid}",
        subject=f"professional:{device.professional.sub}",
        request=request,
        data={
            "challenge": challenge.public_id[:16],
            "purpose": challenge.purpose,
            "client_id": challenge.client_id,
            **data,
        },
    )


def _fail(challenge: CardChallenge, device: CardDevice, failure: str, request: Any) -> None:
    if _answer(challenge, device, ChallengeStatus.FAILED, failure):
        _journal(EventTag.AUTHN_CARD_FAILED, challenge, device, request, failure=failure)
        challenge_answered.send(sender=CardChallenge, challenge=challenge)


def approve(
    device: CardDevice, public_id: Any, *, number: Any, pin: Any, request: Any = None
) -> CardChallenge:
    """The holder picked ``number`` and typed ``pin`` on ``device``; raises :class:`CardError`.

    A CIBA challenge with a free-text binding message has no number (``choices`` is empty).
    """
    challenge = _holders_challenge(device, public_id)
    if challenge.number and (not isinstance(number, str) or number != challenge.number):
        _fail(challenge, device, "wrong_number", request)
        raise CardError("wrong_number", challenge.public_id[:16])
    if not devices.check_pin(device, pin, request=request):
        _fail(challenge, device, "wrong_pin", request)
        if device.blocked_at is not None:
            raise CardError("device_blocked", f"device {device.pk}")
        left = max(0, settings.IDP_CARD_MAX_PIN_FAILURES - device.pin_failures)
        raise CardError("wrong_pin", challenge.public_id[:16], attempts_left=left)
    if not _answer(challenge, device, ChallengeStatus.APPROVED):
        raise CardError("challenge_answered", challenge.public_id[:16])
    _journal(EventTag.AUTHN_CARD_APPROVED, challenge, device, request, acr=challenge.acr)
    challenge_answered.send(sender=CardChallenge, challenge=challenge)
    return challenge


def deny(
    device: CardDevice, public_id: Any, *, reason: Any = "", request: Any = None
) -> CardChallenge:
    """The holder refused: journaled as a possible fraud report (someone else tried to log in)."""
    challenge = _holders_challenge(device, public_id)
    if not _answer(challenge, device, ChallengeStatus.DENIED, "denied"):
        raise CardError("challenge_answered", challenge.public_id[:16])
    _journal(
        EventTag.AUTHN_CARD_DENIED,
        challenge,
        device,
        request,
        possible_fraud=True,
        reason=str(reason or "")[:40],
        browser=challenge.browser,
        client_name=challenge.client_name,
    )
    challenge_answered.send(sender=CardChallenge, challenge=challenge)
    return challenge


def scan(device: CardDevice, qr: Any, *, request: Any = None) -> CardChallenge:
    """The app scanned a login QR: the challenge becomes its holder's (then approve as usual)."""
    if not isinstance(qr, str) or len(qr) > 1000:
        raise CardError("invalid_request", "qr must be a string")
    parts = urlsplit(qr)
    query = parse_qs(parts.query)
    public_id = (query.get("c") or [""])[0]
    secret = (query.get("s") or [""])[0]
    if parts.scheme != QR_SCHEME or parts.netloc != "login" or not public_id or not secret:
        raise CardError("invalid_request", "not a login QR code")
    if (query.get("iss") or [""])[0] != settings.IDP_ISSUER:
        raise CardError("invalid_request", "QR code of another provider")
    challenge = CardChallenge.objects.filter(
        public_id=public_id[:64], purpose=ChallengePurpose.QR
    ).first()
    if challenge is None or not hashing.matches(
        secret, challenge.qr_secret_hash, purpose=_QR_PURPOSE
    ):
        raise CardError("challenge_not_found", "unknown QR challenge")
    claimed = CardChallenge.objects.filter(
        pk=challenge.pk,
        professional__isnull=True,
        status=ChallengeStatus.PENDING,
        expires_at__gt=timezone.now(),
    ).update(professional=device.professional)
    if claimed != 1 and challenge.professional_id != device.professional_id:
        raise CardError("challenge_answered", "QR challenge already claimed or expired")
    challenge.refresh_from_db()
    return _holders_challenge(device, challenge.public_id)


def status_for_browser(public_id: str, browser_secret: str) -> CardChallenge | None:
    """The challenge a browser started (None if not this browser's), expired lazily."""
    challenge = (
        CardChallenge.objects.filter(public_id=public_id[:64]).select_related("device").first()
    )
    if (
        challenge is None
        or not challenge.browser_hash
        or not hashing.matches(
            browser_secret or "", challenge.browser_hash, purpose=_BROWSER_PURPOSE
        )
    ):
        return None
    if challenge.status == ChallengeStatus.PENDING and challenge.expires_at <= timezone.now():
        _expire(challenge)
        challenge.status = ChallengeStatus.EXPIRED
    return challenge


def consume(challenge: CardChallenge) -> bool:
    """Use an approved challenge's result once (a login or a CIBA token); False if used."""
    now = timezone.now()
    done = (
        CardChallenge.objects.filter(
            pk=challenge.pk, status=ChallengeStatus.APPROVED, consumed_at__isnull=True
        ).update(consumed_at=now)
        == 1
    )
    if done:
        challenge.consumed_at = now
    return done
