"""Activation and device management endpoints of ``/api/card/v1/`` (thin: parse, call, render).

Contract: docs/design/card-app.md § The app API. The services are
:mod:`idp.authn.card.activation` and :mod:`idp.authn.card.devices`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_post_parameters

from idp.authn.card import activation, devices, push
from idp.authn.card.api.base import endpoint
from idp.authn.card.errors import CardError
from idp.authn.card.models import CardDevice


def _actor(device: CardDevice) -> str:
    return f"professional:{device.professional.sub}"


@endpoint("POST", signed=False)
def activation_start(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """``{id_nat}`` → 202 ``{activation_id, expires_in, channels}`` (same shape for anyone)."""
    started = activation.start_self_service(request.card_json.get("id_nat"), request)
    return 202, started.as_json()


@sensitive_post_parameters()
@endpoint("POST", registration=True)
def activation_complete(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """Codes + ``{device_name, pin, push?}``, signed by the new key → 201 the new device."""
    return 201, activation.complete(request.card, request.card_json, request)


@endpoint("GET", "PATCH")
def device(request: HttpRequest) -> dict[str, Any]:
    """GET: this device. PATCH ``{name?, push?}``: rename it, set or clear its push."""
    current: CardDevice = request.card.device
    if request.method == "PATCH":
        body = request.card_json
        if not body or not set(body) <= {"name", "push"}:
            raise CardError("invalid_request", "PATCH takes name and/or push")
        subscription = None
        if "push" in body:
            try:
                subscription = push.valid_subscription(body["push"])
            except ValueError as exc:
                raise CardError("invalid_request", str(exc)) from exc
        if "name" in body:
            # Validated before anything is written (a bad push does not half-apply the patch).
            devices.clean_name(body["name"])
        if "push" in body:
            devices.set_push(current, subscription)
        if "name" in body:
            devices.rename(current, body["name"], actor=_actor(current), request=request)
    return activation.describe(current)


@endpoint("GET")
def devices_list(request: HttpRequest) -> dict[str, Any]:
    """The holder's devices (revoked and expired ones included), ``current`` marks this one."""
    current: CardDevice = request.card.device
    items = []
    for sibling in CardDevice.objects.filter(professional_id=current.professional_id).order_by(
        "created_at", "pk"
    ):
        described = activation.describe(sibling)
        described.pop("push")  # a sibling's push endpoint is none of this device's business
        described["current"] = sibling.pk == current.pk
        items.append(described)
    return {"devices": items}


@endpoint("DELETE")
def device_revoke(request: HttpRequest, kid: str) -> None:
    """Revoke this device or a sibling (a lost phone from the new one) → 204."""
    current: CardDevice = request.card.device
    target = CardDevice.objects.filter(kid=kid, professional_id=current.professional_id).first()
    if target is None:  # unknown, or another professional's: the same answer
        raise CardError("device_not_found", f"kid {kid[:16]!r}")
    target.professional = current.professional
    devices.revoke(target, actor=_actor(current), reason="holder_app", request=request)
    return None
