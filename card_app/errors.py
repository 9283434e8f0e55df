"""Errors of the reference card app.

The server answers every refusal with ``{"error": <stable code>, "message": <English>,
"message_fr": <French>}`` and an HTTP status (400/401/403/404/409/410/429); the codes are listed
in ``ERROR_CODES`` and explained in ``docs/card-app.md``. Programs branch on ``code``, never on the
messages.
"""

from __future__ import annotations

from typing import Any

ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_signature",
        "replayed_request",
        "stale_request",
        "unknown_device",
        "device_revoked",
        "device_blocked",
        "device_expired",
        "activation_invalid",
        "activation_expired",
        "too_many_attempts",
        "weak_pin",
        "too_many_devices",
        "challenge_not_found",
        "challenge_expired",
        "challenge_answered",
        "wrong_number",
        "wrong_pin",
        "rate_limited",
        "session_not_found",
        # Beyond the design's list, in the server's catalogue (idp/authn/card/errors.py).
        "account_inactive",
        "no_device",
        "too_many_pending",
        "invalid_code",
        "device_not_found",
        "push_unavailable",
        "method_not_allowed",
    }
)

# The device can no longer sign anything useful: the holder must activate again.
TERMINAL_DEVICE_CODES = frozenset(
    {"unknown_device", "device_revoked", "device_expired", "device_blocked"}
)


class CardAppError(Exception):
    """Anything the card app cannot do; ``str()`` is a message fit for the holder."""


class NotActivatedError(CardAppError):
    """The operation needs an activated device (a state with a key) and there is none."""


class CardTransportError(CardAppError):
    """The server could not be reached, or its answer could not be read (TLS, DNS, timeout)."""


class CardApiError(CardAppError):
    """The server refused a request: HTTP ``status``, stable ``code``, English ``message``.

    ``message_fr`` is the server's French message when it sent one; ``retry_after`` the seconds
    of a ``Retry-After`` header (RFC 9110 §10.2.3) or of the body's ``retry_after`` member, on
    ``rate_limited``/``too_many_attempts``; ``details`` the whole error object (extra members
    such as ``attempts_left`` on ``wrong_pin``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        message_fr: str | None = None,
        retry_after: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.status = status
        self.code = code
        self.message = message
        self.message_fr = message_fr
        self.retry_after = retry_after
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"CardApiError(status={self.status}, code={self.code!r}, message={self.message!r})"
