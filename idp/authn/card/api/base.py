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


def _refusal(
    request: HttpRequest, error: CardError, address: str, *, limiter_read: bool
) -> CardError:
    """The error a refused request is answered with, journaled or logged, and counted.

    Refused signed requests (401) count against the address (``BAD_REQUESTS_PER_ADDRESS``). A
    signed request's counter is read in the round trip that records its ``jti``, after the
    signature (:func:`device_auth.consume`): a request refused before that (``limiter_read``
    false) is checked now, and an address over its limit gets ``rate_limited`` as if refused
    first (nothing journaled, nothing counted: the same answer as when the counter was read
    before anything else). A 401 then counts through ``limits.hit`` (check and count in one
    round trip).
    """
    counts = error.code in device_auth.SIGNATURE_ERRORS and error.status == 401
    limiter = limits.BAD_REQUESTS_PER_ADDRESS
    if not limiter_read:
        try:
            (limits.hit if counts else limits.check)(limiter, address)
        except CardError as limited:
            return limited
    elif counts:
        limiter.register_failure(address)
    if error.code in _JOURNALED:
        journal.record(
            EventTag.AUTHN_CARD_REQUEST_REFUSED,
            actor="card_app",
            subject=f"path:{request.path[:80]}",
            request=request,
            data={"error": error.code, "detail": error.detail[:200]},
        )
    elif error.code in device_auth.SIGNATURE_ERRORS:
        logger.info("card API request refused: %s (%s)", error.code, error.detail)
    return error


def endpoint(
    *methods: str,
    signed: bool = True,
    registration: bool = False,
    joined: Callable[..., device_auth.JoinedRead | None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    """Make a view an app API endpoint (see the module docstring).

    ``joined``: given the view's URL arguments, a read the view makes first
    (:class:`~idp.authn.card.device_auth.JoinedRead`), done with the device's lookup; its rows
    are in ``request.card.joined``.
    """

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
            address = limits.address(request)
            # The bad-request limit is read with the jti (signed requests, one round trip after
            # the signature) or first (unsigned requests); _refusal reads it for the rest. The
            # price: a signed request from a blocked address costs a device lookup and an ES256
            # verification before its refusal (~0.2 ms), the same answer, nothing recorded.
            limiter_read = False
            try:
                if not signed:
                    limiter_read = True
                    limits.check(limits.BAD_REQUESTS_PER_ADDRESS, address)
                if "\x00" in request.path:  # a kid, challenge id or sid that no row can hold
                    raise CardError("invalid_request", "NUL character in the path")
                request.card_json = _json_body(request)  # type: ignore[attr-defined]
                card = None
                if signed:
                    card = device_auth.authenticate(
                        request,
                        registration=registration,
                        joined=joined(*args, **kwargs) if joined is not None else None,
                    )
                    limiter_read = True
                    device_auth.consume(
                        card, unless_blocked=(limits.BAD_REQUESTS_PER_ADDRESS, address)
                    )
                request.card = card  # type: ignore[attr-defined]
                result = view(request, *args, **kwargs)
            except CardError as error:
                error = _refusal(request, error, address, limiter_read=limiter_read)
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
