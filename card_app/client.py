"""``CardApp``: the app API ``/api/card/v1/`` over HTTP, one method per endpoint.

Speaks only the public API described in ``docs/api/card-v1.openapi.yaml``: JSON bodies
(RFC 8259), every request but ``activation/start`` signed by the device key
(:mod:`card_app.signing`), errors raised as :class:`~card_app.errors.CardApiError` from the
server's ``{"error", "message", "message_fr"}`` object. One ``requests.Session`` keeps the
connection alive between calls (HTTP/1.1 persistent connections, RFC 9112 §9.3).

Methods return the server's JSON as plain ``dict``/``list`` values, unwrapped where the answer is
a single collection (``devices()``, ``pending()``, ``sessions()``) or a single count
(``logout_all()``); a 204 answer returns ``None``.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import requests
from joserfc.jwk import ECKey

from card_app import signing, totp
from card_app.errors import CardApiError, CardAppError, CardTransportError, NotActivatedError
from card_app.keystore import DeviceState
from card_app.pin import check_format
from card_app.qr import issuer_matches, parse_activation_qr, parse_login_qr

API_PREFIX = "/api/card/v1/"
USER_AGENT = "caducee-card/0.1 (reference card app)"
DEFAULT_TIMEOUT = 15.0


def _encode(body: Any) -> bytes:
    """The exact bytes sent (and hashed into ``bsh``): compact UTF-8 JSON, or empty."""
    if body is None:
        return b""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _retry_after(response: requests.Response, data: Any = None) -> int | None:
    """Seconds to wait: the ``Retry-After`` header (delay-seconds form), else the body's member."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return int(value)
    member = data.get("retry_after") if isinstance(data, dict) else None
    return member if isinstance(member, int) and not isinstance(member, bool) else None


def _api_error(response: requests.Response) -> CardApiError:
    """Build the error from the server's JSON object, or from the bare status when it has none."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return CardApiError(
            response.status_code,
            data["error"],
            str(data.get("message") or ""),
            message_fr=data.get("message_fr") if isinstance(data.get("message_fr"), str) else None,
            retry_after=_retry_after(response, data),
            details=data,
        )
    return CardApiError(
        response.status_code,
        "http_error",
        f"HTTP {response.status_code} {response.reason or ''}".strip(),
        retry_after=_retry_after(response),
    )


class CardApp:
    """A card app instance talking to one server.

    ``base_url`` is the server's base URL (``IDP_BASE_URL``, e.g. ``https://idp.example``), not the
    OpenID issuer; ``state`` the activated device, if any (``complete_activation`` sets it).
    ``verify`` is passed to requests: ``True``, a CA bundle path, or ``False`` (tests only).
    """

    def __init__(
        self,
        base_url: str,
        state: DeviceState | None = None,
        *,
        verify: bool | str = True,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = USER_AGENT
        self._state: DeviceState | None = None
        self._key: ECKey | None = None
        if state is not None:
            self.state = state

    @classmethod
    def from_state(cls, state: DeviceState, **kwargs: Any) -> CardApp:
        """An app for an activated device, talking to the server the state names."""
        return cls(state.base_url, state, **kwargs)

    # --- state --------------------------------------------------------------------------------
    @property
    def state(self) -> DeviceState | None:
        """The activated device, or ``None`` before activation."""
        return self._state

    @state.setter
    def state(self, value: DeviceState | None) -> None:
        self._state = value
        self._key = signing.key_from_pem(value.private_key_pem) if value is not None else None

    def _require_state(self) -> tuple[DeviceState, ECKey]:
        if self._state is None or self._key is None:
            raise NotActivatedError(
                "This device is not activated. / Cet appareil n'est pas activé."
            )
        return self._state, self._key

    def _check_issuer(self, issuer: str) -> None:
        """Refuse a QR code issued by another server than the one this app talks to."""
        if not issuer_matches(issuer, self.base_url):
            raise CardAppError(
                f"This QR code is for another server ({issuer}), not {self.base_url}. / "
                "Ce QR code est destiné à un autre serveur."
            )

    def url(self, path: str) -> str:
        """The absolute URL of an API path (also the ``htu`` signed for it)."""
        return f"{self.base_url}{API_PREFIX}{path}"

    def close(self) -> None:
        """Close the kept-alive connections."""
        self.session.close()

    def __enter__(self) -> CardApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        signed: bool = True,
        key: ECKey | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON answer (``None`` for an empty answer).

        ``signed`` requests carry ``Authorization: CardDevice <JWS>`` with this device's ``kid``;
        with ``key`` (registration), the JWS carries that key's public ``jwk`` instead.
        """
        url = self.url(path)
        data = _encode(body)
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Authorization"] = signing.authorization_header(
                key, method, url, data, embed_jwk=True
            )
        elif signed:
            state, device_key = self._require_state()
            headers["Authorization"] = signing.authorization_header(
                device_key, method, url, data, kid=state.kid
            )
        try:
            response = self.session.request(
                method, url, data=data, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise CardTransportError(f"Cannot reach {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise CardTransportError(
                f"The server's answer to {method} {path} is not JSON (HTTP {response.status_code})."
            ) from exc

    # --- activation ---------------------------------------------------------------------------
    def push_key(self) -> str:
        """``GET push-key``: the server's VAPID public key (base64url), the
        ``applicationServerKey`` to subscribe to Web Push with; ``push_unavailable`` if the server
        does not push (then poll :meth:`pending`)."""
        return self._call("GET", "push-key", signed=False)["vapid_public_key"]

    def start_activation(self, id_nat: str) -> dict[str, Any]:
        """``POST activation/start``: ask for self-service codes by email and SMS.

        Returns ``{"activation_id": str, "expires_in": int, "channels": [...]}`` (202), the same
        whether or not the idNat exists.
        """
        return self._call("POST", "activation/start", {"id_nat": id_nat}, signed=False)

    def complete_activation(
        self,
        *,
        pin: str,
        device_name: str,
        activation_id: str | None = None,
        email_code: str | None = None,
        sms_code: str | None = None,
        activation_code: str | None = None,
        qr_uri: str | None = None,
        push: dict[str, Any] | None = None,
        key: ECKey | None = None,
    ) -> DeviceState:
        """``POST activation/complete``: register a new key and PIN; returns the new device state.

        Exactly one way: ``activation_id`` + ``email_code`` + ``sms_code`` (self service),
        ``activation_code`` (session QR or administrator's in-person code) or ``qr_uri`` (a
        ``caducee-card://activate`` URI, whose issuer must be this server). A fresh P-256 key is
        generated unless ``key`` is given. The request is signed with the new key, whose public
        JWK is in the JWS header (proof of possession). The returned state is also set on this
        instance; saving it (:func:`card_app.keystore.save_state`) is the caller's job.
        """
        check_format(pin)
        issuer = None
        if qr_uri is not None:
            qr = parse_activation_qr(qr_uri)
            self._check_issuer(qr.issuer)
            issuer, activation_code = qr.issuer, qr.code
        body: dict[str, Any]
        if activation_code is not None and activation_id is None:
            body = {"activation_code": activation_code}
        elif activation_id is not None and email_code is not None and sms_code is not None:
            if activation_code is not None:
                raise ValueError("Give activation_id+email_code+sms_code or activation_code.")
            body = {"activation_id": activation_id, "email_code": email_code, "sms_code": sms_code}
        else:
            raise ValueError("Give activation_id+email_code+sms_code, activation_code or qr_uri.")
        body.update({"device_name": device_name, "pin": pin})
        if push is not None:
            body["push"] = push
        key = key or signing.generate_device_key()
        answer = self._call("POST", "activation/complete", body, key=key)
        state = self._state_from_activation(answer, key, device_name, issuer)
        self.state = state
        return state

    def _state_from_activation(
        self, answer: Any, key: ECKey, device_name: str, issuer: str | None
    ) -> DeviceState:
        try:
            device, professional, seed = answer["device"], answer["professional"], answer["totp"]
            kid = device.get("kid") or signing.device_kid(key)
            state = DeviceState(
                base_url=self.base_url,
                issuer=issuer,
                kid=kid,
                private_key_pem=signing.key_to_pem(key),
                totp_secret=seed["secret"],
                totp_digits=int(seed.get("digits", 6)),
                totp_period=int(seed.get("period", 30)),
                totp_algorithm=str(seed.get("algorithm", "SHA1")),
                totp_t0=int(seed.get("t0", 0)),
                id_nat=professional["id_nat"],
                display_name=professional.get("display_name"),
                device_name=device.get("name") or device_name,
                expires_at=device.get("expires_at"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CardTransportError(f"Unexpected activation answer: {exc!r}") from exc
        if state.kid != signing.device_kid(key):
            raise CardAppError("The server registered another key than ours (kid mismatch).")
        totp.decode_secret(state.totp_secret)  # fail now, not at the first offline code
        return state

    # --- this device and its siblings ---------------------------------------------------------
    def device(self) -> dict[str, Any]:
        """``GET device``: ``{kid, name, created_at, expires_at, last_used_at, status, push}``."""
        return self._call("GET", "device")

    def rename(self, name: str) -> dict[str, Any]:
        """``PATCH device`` ``{name}``: returns the device as :meth:`device` does."""
        return self._call("PATCH", "device", {"name": name})

    def set_push(self, subscription: dict[str, Any] | None) -> dict[str, Any]:
        """``PATCH device`` ``{push}``: a Web Push subscription (RFC 8030), or ``None`` to stop."""
        return self._call("PATCH", "device", {"push": subscription})

    def devices(self) -> list[dict[str, Any]]:
        """``GET devices``: the holder's devices, this one with ``current: true``."""
        return self._call("GET", "devices")["devices"]

    def revoke(self, kid: str | None = None) -> None:
        """``DELETE devices/{kid}``: revoke a sibling device, or this one (``kid`` omitted)."""
        state, _ = self._require_state()
        self._call("DELETE", f"devices/{quote(kid or state.kid, safe='')}")

    # --- challenges ---------------------------------------------------------------------------
    def pending(self) -> list[dict[str, Any]]:
        """``GET challenges``: the pending challenges of the holder.

        Each is ``{id, purpose, choices, client_name, binding_message, browser, created_at,
        expires_at}``; ``purpose`` is ``login``, ``qr`` or ``ciba``.
        """
        return self._call("GET", "challenges")["challenges"]

    def scan(self, qr_uri: str) -> dict[str, Any]:
        """``POST challenges/scan`` ``{qr}``: claim a cross-device login QR; returns the challenge.

        The QR's issuer must be this server: a QR from elsewhere is refused before anything is
        sent (approving it would log someone in on another site).
        """
        qr = parse_login_qr(qr_uri)
        self._check_issuer(qr.issuer)
        return self._call("POST", "challenges/scan", {"qr": qr.uri})

    def approve(self, challenge_id: str, number: int | str, pin: str) -> dict[str, Any]:
        """``POST challenges/{id}/approve`` ``{number, pin}`` → ``{"status": "approved"}``.

        ``number`` is the element of the challenge's ``choices`` the holder picked (two-digit
        strings such as ``"07"``; an ``int`` is sent zero-padded). On ``wrong_pin`` the error's
        ``details["attempts_left"]`` says how many tries remain before the device is blocked.
        A wrong number or PIN fails the challenge (``wrong_number``, ``wrong_pin``); the third
        consecutive wrong PIN blocks the device (``device_blocked`` afterwards).
        """
        check_format(pin)
        if isinstance(number, int) and not isinstance(number, bool):
            number = f"{number:02d}"  # the server compares two-digit strings
        path = f"challenges/{quote(challenge_id, safe='')}/approve"
        return self._call("POST", path, {"number": number, "pin": pin})

    def deny(self, challenge_id: str, reason: str | None = None) -> dict[str, Any]:
        """``POST challenges/{id}/deny`` ``{reason?}`` → ``{"status": "denied"}``."""
        body = {} if reason is None else {"reason": reason}
        return self._call("POST", f"challenges/{quote(challenge_id, safe='')}/deny", body)

    # --- sessions -----------------------------------------------------------------------------
    def sessions(self) -> list[dict[str, Any]]:
        """``GET sessions``: ``[{sid, started_at, last_active_at, acr, auth_mode, clients}]``."""
        return self._call("GET", "sessions")["sessions"]

    def end_session(self, sid: str) -> None:
        """``DELETE sessions/{sid}``: end one session (the server logs its clients out)."""
        self._call("DELETE", f"sessions/{quote(sid, safe='')}")

    def logout_all(self) -> int:
        """``POST sessions/logout-all``: end every session of the holder; returns how many."""
        return int(self._call("POST", "sessions/logout-all", {})["ended"])

    # --- offline code -------------------------------------------------------------------------
    def offline_code(self, pin: str, at: float | None = None) -> str:
        """The offline code (RFC 6238 TOTP) for the time ``at`` (now by default).

        Computed locally, nothing is sent. The PIN is only checked for its format here: the
        server never sees it on this path, and the device keeps no copy of it to compare with.
        """
        check_format(pin)
        state, _ = self._require_state()
        return totp.totp(
            totp.decode_secret(state.totp_secret),
            time.time() if at is None else at,
            period=state.totp_period,
            digits=state.totp_digits,
            algorithm=state.totp_algorithm,
            t0=state.totp_t0,
        )
