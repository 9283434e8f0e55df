"""Activation (enrolment) of the card app, three ways (docs/design/card-app.md § Data, § API).

* **Self service**: the holder types their idNat in the app; a 6-digit code goes to the
  registry's correspondence email and another to its mobile (:func:`start_self_service`). The
  app sends both back with its new key (:func:`complete`). Possession of both contacts is the
  proof of identity; an unknown idNat, or one without both contacts, gets a random id that never
  completes, with the same answer (no enumeration of idNats or of who has contacts).
* **Session QR**: a professional logged in with a strong method (card app, security key) shows
  a QR code on the account page; the code it carries is valid 90 s (:func:`issue_code`).
* **Administrator**: an in-person code, valid a week, printed by ``manage.py card_activation``
  or shown once in the admin (:func:`issue_code`).

Only keyed hashes of the codes are stored (architecture habit 5). An activation is consumed
once, by a conditional UPDATE on ``consumed_at`` in the same transaction as the device's
registration (habit 4): if the registration fails (weak PIN, too many devices) the activation
stays usable. Self-service codes are short, so each activation allows
:data:`MAX_ATTEMPTS` wrong tries (then it is dead) and wrong tries also count per address;
the QR and admin codes carry 100 bits and are looked up by their hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from idp.accounts.identifiers import ID_NAT_MAX_LENGTH
from idp.accounts.models import Professional
from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card import devices, limits, push
from idp.authn.card.errors import CardError
from idp.authn.card.models import ActivationMethod, CardActivation, CardDevice
from idp.core import hashing, sms
from idp.core.background import BackgroundAttempts

logger = logging.getLogger(__name__)

#: Wrong self-service tries an activation allows; the next try (even right) is refused.
MAX_ATTEMPTS = 5
CHANNELS = ("email", "sms")
QR_SCHEME = "caducee-card"
SELF_SERVICE_DIGITS = 6
# 20 base32 characters: 100 bits, typed by hand in groups of four when there is no camera.
_CODE_BYTES = 13
_CODE_LENGTH = 20
_CODE_GROUP = 4
_EMAIL_PURPOSE = "card_activation_email"
_SMS_PURPOSE = "card_activation_sms"
_CODE_PURPOSE = "card_activation_code"
_DECOY_MISSES_PREFIX = "card:activation-decoy:"
_ID_MAC_LABEL = b"caducee card activation id\x00"
_ID_MAC_BYTES = 12


@dataclass(frozen=True)
class Started:
    """The answer to ``activation/start`` (the same shape for a decoy)."""

    activation_id: str
    expires_in: int

    def as_json(self) -> dict[str, Any]:
        return {
            "activation_id": self.activation_id,
            "expires_in": self.expires_in,
            "channels": list(CHANNELS),
        }


@dataclass(frozen=True)
class IssuedCode:
    """A QR/admin activation code, shown once; only its hash is stored."""

    activation: CardActivation
    code: str
    uri: str

    @property
    def expires_at(self) -> datetime:
        return self.activation.expires_at


# --- secrets ------------------------------------------------------------------------------------


def _digits() -> str:
    return f"{secrets.randbelow(10**SELF_SERVICE_DIGITS):0{SELF_SERVICE_DIGITS}d}"


def new_activation_code() -> str:
    """A high-entropy code (100 bits, base32) grouped for reading: ``ABCD-EFGH-…``."""
    raw = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode("ascii")[:_CODE_LENGTH]
    return "-".join(raw[i : i + _CODE_GROUP] for i in range(0, _CODE_LENGTH, _CODE_GROUP))


def normalise_code(code: str) -> str:
    """What a holder typed, as the code is hashed: upper case, without separators."""
    return "".join(code.split()).replace("-", "").upper()


def new_activation_id(expires_at: datetime) -> str:
    """A self-service ``activation_id``: its expiry, 128 random bits and a MAC under the server key.

    Real activations and decoys get ids of this one form, so an id expires the same way whether
    or not an activation is behind it (a decoy answering ``activation_invalid`` where a real one
    says ``activation_expired`` would tell which idNats exist).
    """
    head = int(expires_at.timestamp()).to_bytes(5, "big") + secrets.token_bytes(16)
    mac = hmac.new(hashing.hmac_key(), _ID_MAC_LABEL + head, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(head + mac[:_ID_MAC_BYTES]).rstrip(b"=").decode("ascii")


def activation_id_expiry(activation_id: str) -> datetime | None:
    """The expiry carried by an id of :func:`new_activation_id`; None if not made here."""
    try:
        raw = base64.urlsafe_b64decode(activation_id + "=" * (-len(activation_id) % 4))
    except (ValueError, TypeError):
        return None
    head, mac = raw[:-_ID_MAC_BYTES], raw[-_ID_MAC_BYTES:]
    if len(head) != 21:
        return None
    expected = hmac.new(hashing.hmac_key(), _ID_MAC_LABEL + head, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected[:_ID_MAC_BYTES]):
        return None
    return datetime.fromtimestamp(int.from_bytes(head[:5], "big"), UTC)


def code_hash(code: str) -> str:
    return hashing.keyed_hash(normalise_code(code), purpose=_CODE_PURPOSE)


def qr_uri(code: str) -> str:
    """``caducee-card://activate?iss=<issuer>&code=<code>`` (the app checks the issuer)."""
    return f"{QR_SCHEME}://activate?" + urlencode({"iss": settings.IDP_ISSUER, "code": code})


# --- starting ------------------------------------------------------------------------------------


def _clean_id_nat(id_nat: Any) -> str:
    if not isinstance(id_nat, str) or not id_nat.strip() or len(id_nat) > ID_NAT_MAX_LENGTH:
        raise CardError("invalid_request", "id_nat of 1 to 64 characters required")
    return id_nat.strip()


def start_self_service(id_nat: Any, request: HttpRequest | None) -> Started:
    """Send a code by email and one by SMS to the idNat's contacts (if it has both).

    Rate-limited per address and per idNat (``rate_limited``). Always answers the same shape;
    the decoy path hashes as many codes and writes one journal row, like the real one, so the
    database work is alike; the codes are handed to the mail and SMS providers by a background
    thread, so a provider's latency shows in neither the answer's delay nor its difference.
    (A message lost by a crash before it is sent is not retried: the holder starts again.)
    """
    id_nat = _clean_id_nat(id_nat)
    limits.hit(limits.ACTIVATION_PER_ADDRESS, limits.address(request) if request else "none")
    limits.hit(limits.ACTIVATION_PER_ID_NAT, id_nat)
    seconds = settings.IDP_CARD_ACTIVATION_SECONDS
    expires_at = datetime.fromtimestamp(int(timezone.now().timestamp()) + seconds, UTC)
    activation_id = new_activation_id(expires_at)
    email_code, sms_code = _digits(), _digits()
    email_hash = hashing.keyed_hash(email_code, purpose=_EMAIL_PURPOSE)
    sms_hash = hashing.keyed_hash(sms_code, purpose=_SMS_PURPOSE)
    professional = Professional.objects.filter(id_nat=id_nat).first()
    if (
        professional is None
        or not professional.is_active
        or not professional.email
        or not professional.mobile
    ):
        journal.record(
            EventTag.AUTHN_CARD_ACTIVATION_FAILED,
            actor="card_app",
            subject=f"id_nat:{id_nat[:40]}",
            request=request,
            data={
                "method": ActivationMethod.SELF_SERVICE,
                "reason": "unknown_or_no_contact" if professional is None else "no_contact",
                "stage": "start",
            },
        )
        return Started(activation_id=activation_id, expires_in=seconds)
    with transaction.atomic():
        activation = CardActivation.objects.create(
            public_id=activation_id,
            professional=professional,
            method=ActivationMethod.SELF_SERVICE,
            email_code_hash=email_hash,
            sms_code_hash=sms_hash,
            created_by="card_app",
            expires_at=expires_at,
        )
        journal.record(
            EventTag.AUTHN_CARD_ACTIVATION_STARTED,
            actor=f"professional:{professional.sub}",
            subject=f"card_activation:{activation.public_id[:16]}",
            request=request,
            data={"method": activation.method, "expires_at": activation.expires_at},
        )
    # Sent by a background thread: the answer must not wait for the mail or SMS provider (nor
    # take longer for a real idNat than for an unknown one, which sends nothing).
    _messages.submit(
        _send_codes,
        [_Codes(professional.email, professional.mobile, email_code, sms_code, seconds // 60)],
    )
    return Started(activation_id=activation.public_id, expires_in=seconds)


@dataclass(frozen=True)
class _Codes:
    """What one self-service activation sends; the codes never appear in a repr (logs)."""

    email: str
    mobile: str
    email_code: str = field(repr=False)
    sms_code: str = field(repr=False)
    minutes: int


_messages = BackgroundAttempts("card-activation-messages", workers=2)


def wait_for_messages(timeout: float = 10.0) -> bool:
    """Wait until the codes of the activations started so far are handed to the mail and SMS
    backends (tests, graceful shutdown)."""
    return _messages.wait(timeout)


def _send_codes(codes: _Codes) -> None:
    """Deliver both codes; a failure is logged, never shown (the answer must not differ)."""
    subject = "Activation de l'application carte / Card app activation"
    body = (
        f"Votre code d'activation (courriel) de l'application carte Caducée : {codes.email_code}\n"
        f"Il est valable {codes.minutes} minutes. "
        "L'application vous demande aussi le code reçu par SMS."
        "\nSi vous n'avez pas demandé cette activation, ignorez ce message et prévenez le "
        "support.\n\n"
        f"Your Caducée card app activation code (email): {codes.email_code}\n"
        f"It is valid for {codes.minutes} minutes. "
        "The app also asks for the code sent by text message."
        "\nIf you did not ask for this activation, ignore this message and tell the support desk.\n"
    )
    try:
        send_mail(subject, body, None, [codes.email])
    except Exception:  # a provider failure must not reveal that this idNat exists
        logger.warning("card activation email not sent", exc_info=True)
    text = (
        f"Caducée : code d'activation SMS {codes.sms_code} ({codes.minutes} min). "
        f"Card app SMS activation code {codes.sms_code}. Ne le communiquez pas / do not share it."
    )
    try:
        sms.send_sms(codes.mobile, text)
    except Exception:
        logger.warning("card activation SMS not sent", exc_info=True)


def issue_code(
    professional: Professional,
    method: str,
    actor: str,
    request: HttpRequest | None = None,
) -> IssuedCode:
    """A one-time activation code for the session QR (90 s) or an administrator (a week).

    The code is returned once, with its ``caducee-card://activate`` URI; only its keyed hash is
    stored. Journaled as ``authn:card:activation_started``.
    """
    if method == ActivationMethod.SESSION_QR:
        seconds = settings.IDP_CARD_QR_SECONDS
    elif method == ActivationMethod.ADMIN:
        seconds = settings.IDP_CARD_ADMIN_CODE_SECONDS
    else:
        raise ValueError(f"no activation code for method {method!r}")
    if not professional.is_active:
        raise CardError("account_inactive", f"professional {professional.pk}")
    code = new_activation_code()
    with transaction.atomic():
        activation = CardActivation.objects.create(
            professional=professional,
            method=method,
            code_hash=code_hash(code),
            created_by=actor[:120],
            expires_at=timezone.now() + timedelta(seconds=seconds),
        )
        journal.record(
            EventTag.AUTHN_CARD_ACTIVATION_STARTED,
            actor=actor,
            subject=f"card_activation:{activation.public_id[:16]}",
            request=request,
            data={
                "method": method,
                "professional": professional.sub,
                "expires_at": activation.expires_at,
            },
        )
    return IssuedCode(activation=activation, code=code, uri=qr_uri(code))


# --- completing ----------------------------------------------------------------------------------


def _text(body: dict[str, Any], name: str, *, max_length: int = 128) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise CardError("invalid_request", f"{name} must be a non-empty string")
    return value


def complete(signed: Any, body: dict[str, Any], request: HttpRequest | None) -> dict[str, Any]:
    """Register the signing key as a device of the activation's professional.

    ``signed`` is the verified registration signature (``jwk`` and its thumbprint ``kid``);
    ``body`` holds the activation secrets and ``{device_name, pin, push?}``. Returns the 201
    answer of docs/design/card-app.md. Failures raise :class:`CardError` and are journaled.
    """
    address = limits.address(request) if request is not None else "none"
    limits.check(limits.ACTIVATION_FAILURES_PER_ADDRESS, address)
    activation_id = _text(body, "activation_id", max_length=64)
    email_code = _text(body, "email_code", max_length=16)
    sms_code = _text(body, "sms_code", max_length=16)
    activation_code = _text(body, "activation_code", max_length=64)
    self_service = activation_id is not None
    if self_service == (activation_code is not None) or (
        self_service and (email_code is None or sms_code is None)
    ):
        raise CardError(
            "invalid_request",
            "give activation_id, email_code and sms_code, or activation_code",
        )
    name = devices.clean_name(body.get("device_name"))
    try:
        subscription = push.valid_subscription(body.get("push"))
    except ValueError as exc:
        raise CardError("invalid_request", str(exc)) from exc
    pin = body.get("pin")
    if not isinstance(pin, str):
        raise CardError("weak_pin", "pin must be a string of digits")

    if self_service:
        id_expiry = activation_id_expiry(activation_id or "")
        if id_expiry is None:  # not an id this server gave: nothing to look up
            _wrong(request, address, None, "not_found")
        if id_expiry <= timezone.now():  # real or decoy alike
            _fail(request, None, "activation_expired", "expired")
        activation = (
            CardActivation.objects.select_related("professional")
            .filter(public_id=activation_id, method=ActivationMethod.SELF_SERVICE)
            .first()
        )
    else:
        activation = (
            CardActivation.objects.select_related("professional")
            .filter(
                code_hash=code_hash(activation_code or ""),
                method__in=[ActivationMethod.SESSION_QR, ActivationMethod.ADMIN],
            )
            .first()
        )
    if activation is None:
        if self_service:
            _decoy_miss(activation_id or "")
        _wrong(request, address, None, "not_found")
    now = timezone.now()
    if activation.consumed_at is not None:
        _fail(request, activation, "activation_invalid", "replayed")
    if activation.expires_at <= now:
        _fail(request, activation, "activation_expired", "expired")
    if activation.attempts >= MAX_ATTEMPTS:
        _fail(request, activation, "too_many_attempts", "too_many_attempts")
    if self_service:
        # Both compared, in constant time, whatever the first gives.
        email_ok = hashing.matches(
            email_code or "", activation.email_code_hash, purpose=_EMAIL_PURPOSE
        )
        sms_ok = hashing.matches(sms_code or "", activation.sms_code_hash, purpose=_SMS_PURPOSE)
        if not (email_ok and sms_ok):
            counted = CardActivation.objects.filter(
                pk=activation.pk, consumed_at__isnull=True, attempts__lt=MAX_ATTEMPTS
            ).update(attempts=F("attempts") + 1)
            if not counted:
                _fail(request, activation, "too_many_attempts", "too_many_attempts")
            _wrong(request, address, activation, "wrong_codes")
    professional = activation.professional
    if not professional.is_active:
        _fail(request, activation, "account_inactive", "account_inactive")

    try:
        with transaction.atomic():
            consumed = CardActivation.objects.filter(
                pk=activation.pk,
                consumed_at__isnull=True,
                expires_at__gt=now,
                attempts__lt=MAX_ATTEMPTS,
            ).update(consumed_at=now)
            if consumed != 1:  # a concurrent request used it first
                raise CardError("activation_invalid", "consumed concurrently")
            device = devices.register(
                professional,
                jwk=signed.jwk,
                kid=signed.kid,
                name=name,
                pin=pin,
                method=activation.method,
                push=subscription,
                request=request,
            )
            CardActivation.objects.filter(pk=activation.pk).update(device=device)
    except CardError as error:
        _fail(request, activation, error.code, error.detail or error.code, error=error)
    return {
        "device": describe(device),
        "professional": {"id_nat": professional.id_nat, "display_name": professional.display_name},
        "totp": {
            "secret": base64.b32encode(device.bin_key).decode("ascii").rstrip("="),
            "digits": device.digits,
            "period": device.step,
            "algorithm": "SHA1",
        },
    }


def _decoy_miss(activation_id: str) -> None:
    """Count tries of an id that names no activation, so a decoy id also ends in
    ``too_many_attempts`` after :data:`MAX_ATTEMPTS` tries, like a real one."""
    key = _DECOY_MISSES_PREFIX + hashing.keyed_hash(activation_id, purpose="card_activation_decoy")
    timeout = settings.IDP_CARD_ACTIVATION_SECONDS
    if cache.add(key, 1, timeout=timeout):
        return
    try:
        misses = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return
    if misses > MAX_ATTEMPTS:
        raise CardError("too_many_attempts", "decoy activation")


def _wrong(
    request: HttpRequest | None, address: str, activation: CardActivation | None, reason: str
) -> NoReturn:
    """Wrong or unknown codes: count one failure for the address, journal, refuse."""
    limits.ACTIVATION_FAILURES_PER_ADDRESS.register_failure(address)
    _fail(request, activation, "activation_invalid", reason)


def _fail(
    request: HttpRequest | None,
    activation: CardActivation | None,
    code: str,
    reason: str,
    *,
    error: CardError | None = None,
) -> NoReturn:
    journal.record(
        EventTag.AUTHN_CARD_ACTIVATION_FAILED,
        actor=f"professional:{activation.professional.sub}" if activation else "card_app",
        subject=f"card_activation:{activation.public_id[:16]}" if activation else "",
        request=request,
        data={
            "method": activation.method if activation else "",
            "error": code,
            "reason": reason[:120],
            "stage": "complete",
        },
    )
    raise error or CardError(code, reason)


# --- the device, as the app sees it --------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def describe(device: CardDevice) -> dict[str, Any]:
    """``{kid, name, created_at, expires_at, last_used_at, status, push}`` (the Device schema)."""
    return {
        "kid": device.kid,
        "name": device.name,
        "created_at": _when(device.created_at),
        "expires_at": _when(device.expires_at),
        "last_used_at": _when(device.last_used_at),
        "status": device.status,
        "push": device.push,
    }
