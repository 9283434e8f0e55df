"""Plumbing shared by the app API's views: JSON in and out, device signature, stable errors.

A view decorated with :func:`endpoint` receives the parsed JSON object (``request.card_json``)
and the verified signature (``request.card``: :class:`~idp.authn.card.device_auth.SignedRequest`)
and returns a dict (200), a ``(status, dict)`` pair, or ``None`` (204). Any
:class:`~idp.authn.card.errors.CardError` becomes ``{"error", "message", "message_fr"}`` with
its status. The API uses no cookie, session or CSRF token: each request is signed by the device.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card import device_auth, limits
from idp.authn.card.errors import CardError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
# Refusals worth the journal: a known device misbehaving or a request played twice.
_JOURNALED = {"replayed_request", "device_revoked", "device_blocked", "device_expired"}


def error_response(error: CardError) -> JsonResponse:
    response = JsonResponse(error.as_json(), status=error.status)
    if "retry_after" in error.extra:
        response["Retry-After"] = str(error.extra["retry_after"])
    return response


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise CardError("invalid_request", "body too large")
    if not request.body:
        return {}
    if request.content_type != "application/json":
        raise CardError("invalid_request", "Content-Type must be application/json")
    try:
        value = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: "[[[[…" nested deeper than the interpreter's stack (16 KiB allow it).
        raise CardError("invalid_request", "body is not JSON") from exc
    if not isinstance(value, dict):
        raise CardError("invalid_request", "body must be a JSON object")
    if _has_nul(value):
        # PostgreSQL text cannot hold NUL: refused here rather than failing in a query (500).
        raise CardError("invalid_request", "NUL character in the body")
    return value


def _has_nul(value: Any) -> bool:
    """Whether a NUL character is in any string (key or value) of a parsed JSON document."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _refused(request: HttpRequest, error: CardError) -> None:
    if error.code in _JOURNALED:
        journal.record(
            EventTag.AUTHN_CARD_REQUEST_REFUSED,
            actor="card_app",
            subject=f"path:{request.path[:80]}",
            request=request,
            data={"error": error.code, "detail": error.detail[:200]},
        )
    else:
        logger.info("card API request refused: %s (%s)", error.code, error.detail)
    if error.status == 401:
        limits.BAD_REQUESTS_PER_ADDRESS.register_failure(limits.address(request))


def endpoint(
    *methods: str, signed: bool = True, registration: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    """Make a view an app API endpoint (see the module docstring)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response: HttpResponse = JsonResponse(
                    {"error": "method_not_allowed", "message": "Method not allowed.",
                     "message_fr": "Méthode non autorisée."},
                    status=405,
                )  # fmt: skip
                response["Allow"] = ", ".join(methods)
                return response
            try:
                limits.check(limits.BAD_REQUESTS_PER_ADDRESS, limits.address(request))
                if "\x00" in request.path:  # a kid, challenge id or sid that no row can hold
                    raise CardError("invalid_request", "NUL character in the path")
                request.card_json = _json_body(request)  # type: ignore[attr-defined]
                request.card = (  # type: ignore[attr-defined]
                    device_auth.verify(request, registration=registration) if signed else None
                )
                result = view(request, *args, **kwargs)
            except CardError as error:
                if error.code in device_auth.SIGNATURE_ERRORS:
                    _refused(request, error)
                response = error_response(error)
            else:
                if result is None:
                    response = HttpResponse(status=204)
                elif isinstance(result, tuple):
                    status, body = result
                    response = JsonResponse(body, status=status)
                else:
                    response = JsonResponse(result)
            response["Cache-Control"] = "no-store"
            return response

        return wrapper

    return decorate
