"""OpenID CIBA Core 1.0 through the card app: the backchannel authentication request (§7) and
what a token request for an ``auth_req_id`` finds (§10.1, §11). Poll and ping modes; no push.

A client sends ``login_hint`` = the professional's idNat; the professional approves on the card
app (number matching and PIN: acr ``eidas2``, amr ``pop pin mfa``, PSC's authMode ``MOBILE``);
the client polls the token endpoint, or in ping mode is told to by a POST to its notification
endpoint (:mod:`idp.oidc.ciba_delivery`). Tokens are issued by ``grants.ciba``, which uses
:func:`ready_request` and :func:`consume` from here.

The request is validated as an ordered list of small named checks (architecture.md habit 2).
Errors are those of CIBA Core §13 (authentication endpoint) and §11 (token endpoint).

Number matching: the app offers three 2-digit choices and the holder picks the one shown to them.
In CIBA nothing of ours is on the holder's screen, the client is: when ``binding_message`` is two
digits (what PSC relying parties send), it becomes the challenge's number, so the holder picks on
the phone the number the client's screen shows (``challenges.create`` does it). Any other binding
message (or none) is shown as text with no number to pick; the PIN is still required.

Rate limits (CIBA §13 has no code for them): ``limits.CHALLENGES_PER_ID_NAT`` shared with the
login page, and the card app's pending-challenge cap, answer ``access_denied`` (HTTP 403, "the OP
denied the request") with a ``retry_after`` the view puts in a ``Retry-After`` header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Least
from django.utils import timezone

from idp.accounts.models import Professional
from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card import challenges, devices, limits
from idp.authn.card.errors import CardError
from idp.authn.card.models import ChallengePurpose, ChallengeStatus
from idp.core import crypto, hashing
from idp.oidc.models import AUTH_REQ_ID_HASH_PURPOSE, CibaRequest
from idp.oidc.protocol import scopes
from idp.oidc.protocol.client_auth import NONE, ClientAuthentication
from idp.oidc.protocol.errors import (
    AccessDenied,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
)

#: §4: the token request's grant type (relying_parties.models.CIBA_GRANT_TYPE is the same).
GRANT_TYPE = "urn:openid:params:grant-type:ciba"
MODES = ("poll", "ping")
#: What an approval on the card app proves (docs/design/card-app.md § Login page endpoints).
ACR = "eidas2"
AMR = ("pop", "pin", "mfa")
AUTH_MODE = "MOBILE"
ACR_LEVELS = {"eidas1": 1, "eidas2": 2, "eidas3": 3}
#: PSC's custom ``channel``: MOBILE is the card app; CARD (the physical CPS) is not offered.
CHANNELS = frozenset({"MOBILE"})
KNOWN_CHANNELS = frozenset({"MOBILE", "CARD"})
#: §7.3 ``interval`` and the §11 slow_down step ("increased by at least 5 seconds").
INTERVAL_SECONDS = 5
SLOW_DOWN_STEP_SECONDS = 5
MAX_INTERVAL_SECONDS = 60
#: ``requested_expiry`` (§7.1) larger than this is refused; the answer never outlives the card
#: challenge (IDP_CARD_CHALLENGE_SECONDS) anyway.
MAX_REQUESTED_EXPIRY_SECONDS = 3600
BINDING_MESSAGE_MAX = 64
LOGIN_HINT_MAX = 64
#: §7.1: "MUST NOT exceed 1024 characters and ... MUST conform to the syntax for Bearer
#: credentials as defined in Section 2.1 of [RFC6750]" (b64token).
NOTIFICATION_TOKEN_MAX = 1024
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


# --- CIBA Core §13 and §11 errors -----------------------------------------------------------------
class UnknownUserId(OAuthError):
    """§13: the hint does not name a user the OP can authenticate (here: with the card app)."""

    error = "unknown_user_id"
    redirectable = False
    description = "No professional with a usable card app matches login_hint."


class InvalidBindingMessage(OAuthError):
    """§13: the binding message is invalid or unacceptable."""

    error = "invalid_binding_message"
    redirectable = False
    description = "binding_message must be at most 64 printable characters."


class Throttled(AccessDenied):
    """§13 access_denied (403) for our rate limits; ``retry_after`` goes to a Retry-After."""

    redirectable = False
    description = "Too many authentication requests for this user; retry later."

    def __init__(self, retry_after: int, *, detail: str = "") -> None:
        super().__init__(detail=detail)
        self.retry_after = max(1, int(retry_after))


class AuthorizationPending(OAuthError):
    """§11: the professional has not answered yet."""

    error = "authorization_pending"
    redirectable = False
    description = "The authentication request is still pending."


class SlowDown(OAuthError):
    """§11: pending, and polled faster than the interval (which grows by 5 seconds)."""

    error = "slow_down"
    redirectable = False
    description = "Polling too fast: wait longer between token requests."


class ExpiredToken(OAuthError):
    """§11: the auth_req_id has expired; the client must send a new request."""

    error = "expired_token"
    redirectable = False
    description = "The auth_req_id has expired."


class RequestDenied(OAuthError):
    """§11 access_denied at the token endpoint (HTTP 400, RFC 6749 §5.2)."""

    error = "access_denied"
    redirectable = False
    description = "The professional denied the authentication request."


# --- the backchannel authentication request (§7) --------------------------------------------------
@dataclass
class _Request:
    """What the checks extracted from the parameters."""

    auth: ClientAuthentication
    scope: tuple[str, ...] = ()
    id_nat: str = ""
    binding_message: str = ""
    expires_in: int = 0
    notification_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def check_client_enabled(params: Mapping[str, str], req: _Request) -> None:
    """§4 and §13 unauthorized_client: registered for CIBA (a mode and the grant type), and
    confidential: a public client cannot authenticate its requests."""
    client = req.auth.client
    if client.ciba_mode not in MODES or GRANT_TYPE not in client.grant_types:
        raise UnauthorizedClient(
            "The client is not registered for CIBA.", detail=f"mode {client.ciba_mode!r}"
        )
    if req.auth.method == NONE or client.is_public:
        raise UnauthorizedClient("A public client cannot use CIBA.", detail="public client")


def check_no_request_object(params: Mapping[str, str], req: _Request) -> None:
    """§7.1.1: signed authentication requests are optional for the OP; not supported here."""
    if "request" in params or "request_uri" in params:
        raise InvalidRequest("Signed authentication requests are not supported.")


def check_scope(params: Mapping[str, str], req: _Request) -> None:
    """§7.1: scope is REQUIRED and contains openid; unknown or disallowed scopes are dropped, as
    at the authorization endpoint (psc-compat.md § Requests)."""
    req.scope = scopes.narrow(params.get("scope", ""), req.auth.client.allowed_scopes)
    if scopes.OPENID not in req.scope:
        raise InvalidScope("The scope must contain openid.")


def check_hint(params: Mapping[str, str], req: _Request) -> None:
    """§7.1: one and only one of login_hint_token, id_token_hint, login_hint; only login_hint
    (the idNat) is supported."""
    hints = [h for h in ("login_hint_token", "id_token_hint", "login_hint") if h in params]
    if len(hints) != 1:
        raise InvalidRequest("Exactly one of login_hint_token, id_token_hint, login_hint.")
    if hints[0] != "login_hint":
        raise InvalidRequest(f"{hints[0]} is not supported: send login_hint (the idNat).")
    hint = params["login_hint"]
    if len(hint) > LOGIN_HINT_MAX or not hint.isascii() or not hint.isprintable():
        raise UnknownUserId(detail="malformed login_hint")
    req.id_nat = hint


def check_binding_message(params: Mapping[str, str], req: _Request) -> None:
    """§7.1 binding_message: shown on both devices, so short and printable (§13)."""
    message = params.get("binding_message", "")
    if (
        len(message) > BINDING_MESSAGE_MAX
        or not message.isprintable()
        or message != message.strip()
    ):
        raise InvalidBindingMessage()
    req.binding_message = message


def check_user_code(params: Mapping[str, str], req: _Request) -> None:
    """§7.1 user_code: not supported (backchannel_user_code_parameter_supported is false). Refused
    rather than ignored: a client relying on it must not believe it was checked."""
    if "user_code" in params:
        raise InvalidRequest("user_code is not supported.")


def check_acr_values(params: Mapping[str, str], req: _Request) -> None:
    """§7.1 acr_values, in order of preference: the card app yields eidas2, so a request that
    accepts nothing below eidas3 cannot be met (§13 has no unmet_authentication_requirements:
    invalid_request says why). Unknown values are ignored, as at the authorization endpoint."""
    known = [v for v in params.get("acr_values", "").split() if v in ACR_LEVELS]
    if known and min(ACR_LEVELS[v] for v in known) > ACR_LEVELS[ACR]:
        raise InvalidRequest("acr_values cannot be met: the card app yields eidas2.")


def check_requested_expiry(params: Mapping[str, str], req: _Request) -> None:
    """§7.1 requested_expiry: a positive integer; the answer is bounded by the card challenge."""
    lifetime = settings.IDP_CARD_CHALLENGE_SECONDS
    raw = params.get("requested_expiry")
    if raw is None:
        req.expires_in = lifetime
        return
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise InvalidRequest("requested_expiry must be a positive integer.")
    value = int(raw)
    if not 1 <= value <= MAX_REQUESTED_EXPIRY_SECONDS:
        raise InvalidRequest(
            f"requested_expiry must be between 1 and {MAX_REQUESTED_EXPIRY_SECONDS}."
        )
    req.expires_in = min(value, lifetime)


def check_channel(params: Mapping[str, str], req: _Request) -> None:
    """PSC's channel: MOBILE (the card app, the default) is supported; CARD is not."""
    channel = params.get("channel", "MOBILE")
    if channel not in KNOWN_CHANNELS:
        raise InvalidRequest("channel must be MOBILE.")
    if channel not in CHANNELS:
        raise InvalidRequest("channel not supported: only MOBILE (the card app).")


def check_notification_token(params: Mapping[str, str], req: _Request) -> None:
    """§7.1 client_notification_token: REQUIRED in ping mode, a Bearer credential ≤ 1024."""
    if req.auth.client.ciba_mode != "ping":
        return  # §7.1: only meaningful for ping and push; a poll client's is ignored
    token = params.get("client_notification_token", "")
    if not token:
        raise InvalidRequest("client_notification_token is required in ping mode.")
    if len(token) > NOTIFICATION_TOKEN_MAX or not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("client_notification_token is not a valid bearer token.")
    req.notification_token = token


CHECKS: tuple[Callable[[Mapping[str, str], _Request], None], ...] = (
    check_client_enabled,
    check_no_request_object,
    check_scope,
    check_hint,
    check_binding_message,
    check_user_code,
    check_acr_values,
    check_requested_expiry,
    check_channel,
    check_notification_token,
)


def _refused(req: _Request, reason: str, request: Any, **data: Any) -> None:
    client_id = req.auth.client.client_id
    journal.record(
        EventTag.OIDC_CIBA_REFUSED,
        actor=f"client:{client_id}",
        subject=f"id_nat:{req.id_nat[:20]}",
        request=request,
        data={"client_id": client_id, "reason": reason, **data},
    )


def _professional(req: _Request, request: Any) -> Professional:
    """§13 unknown_user_id: no active professional with this idNat, or none with a usable card
    app (what this OP can authenticate them with)."""
    professional = Professional.objects.filter(id_nat=req.id_nat).first()
    if professional is None or not professional.is_active:
        _refused(req, "unknown_user_id", request)
        raise UnknownUserId(detail="no active professional")
    if not devices.usable(professional):
        _refused(req, "no_device", request)
        raise UnknownUserId(detail="no usable card device")
    return professional


def _rate_limit(req: _Request, request: Any) -> None:
    try:
        limits.hit(limits.CHALLENGES_PER_ID_NAT, req.id_nat)
    except CardError as exc:
        _refused(req, "rate_limited", request)
        raise Throttled(exc.extra.get("retry_after", 60), detail=exc.detail) from None


def auth_req_id_hash(auth_req_id: str) -> str:
    return hashing.keyed_hash(auth_req_id, purpose=AUTH_REQ_ID_HASH_PURPOSE)


def backchannel_authentication(
    params: Mapping[str, str], auth: ClientAuthentication, *, request: Any = None
) -> dict[str, Any]:
    """§7: validate, create the card challenge and the request; §7.3 successful response."""
    req = _Request(auth)
    for check in CHECKS:
        check(params, req)
    _rate_limit(req, request)
    professional = _professional(req, request)

    auth_req_id = hashing.new_secret()  # §7.3: ≥ 128 bits of entropy, URL-safe characters
    now = timezone.now()
    try:
        with transaction.atomic():
            expires_at = _create(req, professional, auth_req_id, now, request)
    except CardError as exc:
        # Outside the rolled-back transaction, so that the refusal stays in the journal.
        if exc.code == "too_many_pending":
            _refused(req, "too_many_pending", request)
            raise Throttled(settings.IDP_CARD_CHALLENGE_SECONDS, detail=exc.detail) from None
        _refused(req, exc.code, request)
        raise UnknownUserId(detail=f"card: {exc.code}") from None
    return {
        "auth_req_id": auth_req_id,
        "expires_in": max(1, int((expires_at - now).total_seconds())),
        "interval": INTERVAL_SECONDS,
    }


def _create(
    req: _Request, professional: Professional, auth_req_id: str, now: datetime, request: Any
) -> datetime:
    """The card challenge (pushed to the phone), the request row, the journal entry; returns
    when the request expires."""
    client = req.auth.client
    hashed = auth_req_id_hash(auth_req_id)
    challenge, _ = challenges.create(
        ChallengePurpose.CIBA,
        professional=professional,
        client_id=client.client_id,
        client_name=client.name,
        binding_message=req.binding_message,
        reference=hashed,
        acr=ACR,
        request=request,
    )
    expires_at = min(now + timedelta(seconds=req.expires_in), challenge.expires_at)
    row = CibaRequest.objects.create(
        auth_req_id_hash=hashed,
        client_id=client.client_id,
        professional=professional,
        challenge=challenge,
        scope=" ".join(req.scope),
        acr=ACR,
        mode=client.ciba_mode,
        ping_secrets_encrypted=_ping_secrets(auth_req_id, req.notification_token),
        expires_at=expires_at,
        interval=INTERVAL_SECONDS,
    )
    journal.record(
        EventTag.AUTHN_CARD_CIBA_REQUESTED,
        actor=f"client:{client.client_id}",
        subject=f"professional:{professional.sub}",
        request=request,
        data={
            "client_id": client.client_id,
            "grant_id": row.grant_id,
            "challenge": challenge.public_id[:16],
            "mode": row.mode,
            "scope": row.scope,
            "binding_message": req.binding_message,
        },
    )
    return expires_at


# --- the token request (§10.1, §11) ---------------------------------------------------------------
def _throttle(row: CibaRequest, now: datetime) -> None:
    """§11 slow_down: a pending request polled before ``interval`` elapsed; the interval grows.

    One conditional UPDATE decides (concurrent polls: one of them is on time, at most)."""
    on_time = CibaRequest.objects.filter(
        Q(last_polled_at__isnull=True)
        | Q(last_polled_at__lte=now - timedelta(seconds=row.interval)),
        pk=row.pk,
        interval=row.interval,
    ).update(last_polled_at=now)
    if on_time:
        return
    CibaRequest.objects.filter(pk=row.pk).update(
        last_polled_at=now,
        interval=Least(F("interval") + SLOW_DOWN_STEP_SECONDS, MAX_INTERVAL_SECONDS),
    )
    raise SlowDown(detail=f"interval {row.interval}s")


def ready_request(params: Mapping[str, str], auth: ClientAuthentication) -> CibaRequest:
    """The approved, unspent request named by ``auth_req_id``, or the §11 error saying why not.

    Checked in this order: known, the client's own (before anything is written: another client
    cannot burn or slow down a victim's request), not spent, then the challenge's state.
    """
    value = params.get("auth_req_id", "")
    if not value:
        raise InvalidRequest("auth_req_id is required.")
    if len(value) > 256:
        raise InvalidGrant(detail="auth_req_id too long")
    row = (
        CibaRequest.objects.select_related("challenge", "challenge__device")
        .filter(auth_req_id_hash=auth_req_id_hash(value))
        .first()
    )
    if row is None:
        raise InvalidGrant(detail="unknown auth_req_id")
    if row.client_id != auth.client.client_id:
        raise InvalidGrant(detail=f"auth_req_id issued to {row.client_id}")
    if row.issued_at is not None:
        raise InvalidGrant(detail="auth_req_id already redeemed")
    now = timezone.now()
    challenge = row.challenge
    status = challenge.status
    if status in (ChallengeStatus.DENIED, ChallengeStatus.FAILED):
        raise RequestDenied(detail=f"challenge {status} ({challenge.failure})")
    if status == ChallengeStatus.EXPIRED or row.expires_at <= now:
        raise ExpiredToken(detail="expired")
    if status == ChallengeStatus.APPROVED:
        if challenge.consumed_at is not None:
            raise InvalidGrant(detail="challenge already consumed")
        device = challenge.device
        if device is None or device.status != "active":
            # Revoked or blocked between the approval and now (a lost phone): its approval no
            # longer counts, as at the login page's complete.
            raise RequestDenied(detail=f"device {device.status if device else 'gone'}")
        return row
    if challenge.expires_at <= now:
        raise ExpiredToken(detail="challenge expired")
    _throttle(row, now)
    raise AuthorizationPending()


def consume(row: CibaRequest, now: datetime) -> bool:
    """Spend the request and its challenge once (conditional UPDATEs; call in a transaction)."""
    spent = CibaRequest.objects.filter(
        pk=row.pk, issued_at__isnull=True, expires_at__gt=now
    ).update(issued_at=now)
    if spent != 1:
        return False
    return challenges.consume(row.challenge)


def _ping_secrets(auth_req_id: str, notification_token: str) -> str:
    """What a ping must send in clear (§10.2), encrypted; nothing for a poll-mode request."""
    if not notification_token:
        return ""
    secrets_json = json.dumps({"auth_req_id": auth_req_id, "token": notification_token})
    return crypto.encrypt(secrets_json.encode())


def ping_secrets(row: CibaRequest) -> tuple[str, str]:
    """``(auth_req_id, client_notification_token)`` of a ping-mode request, or ("", "")."""
    if not row.ping_secrets_encrypted:
        return "", ""
    data = json.loads(crypto.decrypt(row.ping_secrets_encrypted))
    return data["auth_req_id"], data["token"]
