"""What the holder answers from the app: challenges (push, QR, CIBA) and their SSO sessions.

Thin views over :mod:`idp.authn.card.challenges` and :mod:`idp.oidc.sessions`
(docs/design/card-app.md § The app API). Every request is signed by an enrolled, usable device
(:func:`~idp.authn.card.api.base.endpoint`); the device acts for its professional only: another
professional's challenge or session is ``*_not_found``, never a different error.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.http import HttpRequest

from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card import challenges
from idp.authn.card.api.base import endpoint
from idp.authn.card.errors import CardError
from idp.authn.card.models import CardDevice
from idp.oidc import sessions
from idp.oidc.models import SessionClient, SsoSession
from relying_parties.registry import get_client


def _device(request: HttpRequest) -> CardDevice:
    return request.card.device  # type: ignore[attr-defined]


def _actor(device: CardDevice) -> str:
    return f"card_device:{device.kid}"


def _string(body: dict[str, Any], name: str, *, required: bool = True, limit: int = 64) -> str:
    """A string member of the JSON body: a wrong type is a malformed request, not a wrong
    answer (a number sent as 7 instead of "07" must not fail the holder's challenge)."""
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise CardError("invalid_request", f"{name} must be a string of at most {limit}")
    return value


# --- challenges ----------------------------------------------------------------------------------
def _joined(request: HttpRequest) -> list[tuple[Any, ...]] | None:
    return request.card.joined  # type: ignore[attr-defined]


@endpoint("GET", joined=challenges.pending_read)
def pending_challenges(request: HttpRequest) -> dict[str, Any]:
    """``GET challenges``: what waits for the holder, oldest first."""
    waiting = challenges.pending_for(_device(request), _joined(request))
    return {"challenges": [challenges.describe(c) for c in waiting]}


@endpoint("POST")
def scan(request: HttpRequest) -> dict[str, Any]:
    """``POST challenges/scan {qr}``: a login QR code becomes the holder's challenge."""
    qr = _string(request.card_json, "qr", limit=1000)  # type: ignore[attr-defined]
    return challenges.describe(challenges.scan(_device(request), qr, request=request))


@endpoint("POST", joined=challenges.holders_read)
def approve(request: HttpRequest, challenge_id: str) -> dict[str, Any]:
    """``POST challenges/<id>/approve {number, pin}``."""
    body = request.card_json  # type: ignore[attr-defined]
    # No number for a CIBA challenge with a free-text binding message (nothing to pick).
    number = _string(body, "number", required=False, limit=8)
    pin = _string(body, "pin", limit=32)
    challenges.approve(
        _device(request), challenge_id, number=number, pin=pin, request=request,
        found=_joined(request),
    )  # fmt: skip
    return {"status": "approved"}


@endpoint("POST", joined=challenges.holders_read)
def deny(request: HttpRequest, challenge_id: str) -> dict[str, Any]:
    """``POST challenges/<id>/deny {reason?}``: journaled as a possible fraud report."""
    reason = _string(request.card_json, "reason", required=False, limit=200)  # type: ignore[attr-defined]
    challenges.deny(
        _device(request), challenge_id, reason=reason, request=request, found=_joined(request)
    )
    return {"status": "denied"}


# --- sessions ------------------------------------------------------------------------------------
def _describe_sessions(live: list[SsoSession]) -> list[dict[str, Any]]:
    clients: dict[int, list[dict[str, str]]] = defaultdict(list)
    rows = SessionClient.objects.filter(session__in=live).order_by("first_seen_at", "pk")
    for row in rows:
        registered = get_client(row.client_id)
        name = registered.name if registered is not None else row.client_id
        clients[row.session_id].append({"client_id": row.client_id, "client_name": name})
    return [
        {
            "sid": session.sid,
            "started_at": session.created_at.isoformat(),
            "auth_time": session.auth_time.isoformat(),
            "last_active_at": session.last_active_at.isoformat(),
            "acr": session.acr,
            "amr": list(session.amr),
            "auth_mode": session.auth_mode,
            "clients": clients[session.pk],
        }
        for session in live
    ]


def _journal_ended(request: HttpRequest, device: CardDevice, sids: list[str], count: int) -> None:
    journal.record(
        EventTag.AUTHN_CARD_SESSIONS_ENDED,
        actor=_actor(device),
        subject=f"professional:{device.professional.sub}",
        request=request,
        data={"count": count, "sids": sids[:50]},
    )


@endpoint("GET")
def session_list(request: HttpRequest) -> dict[str, Any]:
    """``GET sessions``: the holder's live SSO sessions and the services in each."""
    return {"sessions": _describe_sessions(sessions.list_for(_device(request).professional))}


@endpoint("DELETE")
def session_end(request: HttpRequest, sid: str) -> None:
    """``DELETE sessions/<sid>``: end one of the holder's sessions (back-channel logout)."""
    device = _device(request)
    session = next((s for s in sessions.list_for(device.professional) if s.sid == sid), None)
    if session is None:
        raise CardError("session_not_found", sid[:16])
    # One transaction (see sessions_logout_all): the logout is announced once it is all written.
    with journal.batched():
        sessions.end(session, sessions.REASON_LOGOUT, actor=_actor(device))
        _journal_ended(request, device, [session.sid], 1)


@endpoint("POST")
def sessions_logout_all(request: HttpRequest) -> dict[str, Any]:
    """``POST sessions/logout-all``: end every session of the holder (lost or shared computer)."""
    device = _device(request)
    live = sessions.list_for(device.professional)
    # Every session and the events in one transaction: all ended or none, and the back-channel
    # logouts (sent on commit, from a background thread) start once the request has written all
    # it writes, not between two of its writes.
    with journal.batched():
        ended = sessions.end_all(device.professional, sessions.REASON_LOGOUT, actor=_actor(device))
        _journal_ended(request, device, [s.sid for s in live], ended)
    return {"ended": ended}
