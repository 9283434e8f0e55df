"""The authorization request (OIDC Core 1.0 §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9207).

Validation is an ordered list of small named checks (architecture.md habit 2): ``client_id`` and
``redirect_uri`` come first, and until the redirect URI has been found among the client's
registered ones no error may be sent to it (RFC 6749 §4.1.2.1: "the authorization server SHOULD
inform the resource owner of the error and MUST NOT automatically redirect the user-agent to the
invalid redirection URI"). :class:`AuthorizationError` carries how far validation got, so the
view knows whether it may redirect.

Also here: deciding whether an existing SSO session answers the request (prompt, max_age, acr) and
issuing the authorization code. No HTTP rendering (that is ``idp.oidc.rendering``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.core import hashing
from idp.oidc import code_store
from idp.oidc.models import CODE_HASH_PURPOSE, SsoSession, new_opaque_id
from idp.oidc.protocol import errors, redirect_uris, scopes
from relying_parties.registry import RegisteredClient, get_client

#: Limits on what a browser may send us: beyond them the request is refused, not truncated.
MAX_VALUE_LENGTH = 2048
MAX_QUERY_LENGTH = 8192
MAX_NONCE_LENGTH = 512  # AuthorizationCode.nonce
MAX_LOGIN_HINT_LENGTH = 256

#: eIDAS levels of assurance, low to high (PSC accepts eidas1 today; psc-compat.md § Requests).
ACR_LEVELS: dict[str, int] = {"eidas1": 1, "eidas2": 2, "eidas3": 3}
#: OIDC Core §3.1.2.1 prompt values.
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
RESPONSE_MODES = frozenset({"query", "form_post"})
SUPPORTED_LOCALES = ("fr", "en")

# RFC 7636 §4.1/§4.2: code_challenge = 43*128unreserved.
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


@dataclass
class AuthorizationRequest:
    """A validated authorization request; fields are filled in as the checks pass."""

    client_id: str = ""
    redirect_uri: str = ""
    #: True once ``redirect_uri`` is known to be registered: only then may errors be redirected.
    redirect_verified: bool = False
    response_mode: str = "query"
    state: str = ""
    scope: tuple[str, ...] = ()
    nonce: str = ""
    code_challenge: str = ""
    code_challenge_method: str = ""
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    login_hint: str = ""
    ui_locales: tuple[str, ...] = ()
    claims: dict[str, Any] | None = None
    client: RegisteredClient | None = field(default=None, repr=False, compare=False)

    # --- serialisation into a login transaction ----------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("client")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthorizationRequest:
        """Rebuild a request stored in a (signed) login transaction; the client is re-read."""
        tuples = ("scope", "prompt", "acr_values", "ui_locales")
        values = {k: (tuple(v) if k in tuples else v) for k, v in data.items()}
        request = cls(**values)
        request.client = get_client(request.client_id)
        return request

    # --- derived -------------------------------------------------------------------------------
    @property
    def scope_string(self) -> str:
        return " ".join(self.scope)

    @property
    def language(self) -> str | None:
        """The first supported language of ``ui_locales`` (OIDC Core §3.1.2.1), if any."""
        for tag in self.ui_locales:
            primary = tag.split("-")[0].lower()
            if primary in SUPPORTED_LOCALES:
                return primary
        return None

    @property
    def essential_acr(self) -> str | None:
        """The lowest acr the ``claims`` parameter marks essential (OIDC Core §5.5.1.1)."""
        acr = ((self.claims or {}).get("id_token") or {}).get("acr")
        if not isinstance(acr, dict) or acr.get("essential") is not True:
            return None
        values = acr.get("values") or ([acr["value"]] if "value" in acr else [])
        # Values are any JSON (§5.5.1): a list or object is no level, and is unhashable.
        known = [v for v in values if isinstance(v, str) and v in ACR_LEVELS]
        return min(known, key=ACR_LEVELS.__getitem__) if known else None

    @property
    def minimum_acr(self) -> str | None:
        """The lowest level the client would accept: from ``acr_values`` or an essential claim.

        OIDC Core §3.1.2.1: acr_values are "in order of preference"; the least of them is what
        the client declares acceptable, so a session below it is not reused.
        """
        level = ACR_LEVELS.__getitem__
        known = [v for v in self.acr_values if v in ACR_LEVELS]
        candidates = [min(known, key=level)] if known else []
        if self.essential_acr:
            candidates.append(self.essential_acr)
        return max(candidates, key=level) if candidates else None


def acr_satisfies(achieved: str, required: str | None) -> bool:
    """Does the achieved level meet ``required`` (eidas1 < eidas2 < eidas3)?"""
    if required is None:
        return True
    return ACR_LEVELS.get(achieved, 0) >= ACR_LEVELS[required]


class AuthorizationError(Exception):
    """A refused authorization request, with what had been verified when it was refused."""

    def __init__(self, error: errors.OAuthError, request: AuthorizationRequest) -> None:
        super().__init__(str(error))
        self.error = error
        self.request = request

    @property
    def redirectable(self) -> bool:
        """RFC 6749 §4.1.2.1: only errors raised after the redirect URI was verified."""
        return self.error.redirectable and self.request.redirect_verified


class OversizedRequest(errors.InvalidRequest):
    """A parameter or the whole request beyond our limits: refused with a page, never echoed
    back to the client (it is not a request we agree to read, let alone to reflect)."""

    redirectable = False


class _Params:
    """Request parameters with RFC 6749 §3.1 rules: no duplicates, empty means absent."""

    def __init__(self, params: Mapping[str, Sequence[str]]) -> None:
        self.raw = params

    def one(self, name: str, *, max_length: int = MAX_VALUE_LENGTH) -> str:
        values = self.raw.get(name) or []
        if len(values) > 1:
            raise errors.InvalidRequest(f"Parameter {name} is repeated.")
        value = values[0] if values else ""
        if len(value) > max_length:
            raise OversizedRequest(f"Parameter {name} is too long.")
        return value


def _client(req: AuthorizationRequest) -> RegisteredClient:
    if req.client is None:  # check_client_id runs first; reaching here without it is a bug
        raise errors.ServerError(detail="authorization check run before check_client_id")
    return req.client


Check = Callable[[_Params, AuthorizationRequest, int], None]


# --- The checks, in order ---------------------------------------------------------------------
def check_query_size(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """Refuse oversized requests outright, before reading anything (denial of service)."""
    if query_length > MAX_QUERY_LENGTH:
        raise OversizedRequest("The request is too large.")


def check_client_id(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """RFC 6749 §4.1.1: client_id REQUIRED; §4.1.2.1: an invalid one is shown, not redirected."""
    try:
        client_id = params.one("client_id", max_length=100)
    except OversizedRequest:
        raise errors.UnknownClient() from None
    except errors.InvalidRequest as exc:
        raise errors.UnknownClient(exc.description) from None
    client = get_client(client_id) if client_id else None
    if client is None:
        raise errors.UnknownClient()
    req.client_id, req.client = client_id, client


def check_redirect_uri(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: redirect_uri REQUIRED and must exactly match a registered one.

    RFC 9700 §4.1.3 exact string matching; RFC 8252 §7.3 any loopback port for native clients.
    """
    try:
        uri = params.one("redirect_uri")
    except errors.InvalidRequest:
        raise errors.InvalidRedirectUri() from None
    client = _client(req)
    native = client.application_type == "native"
    if not uri or not redirect_uris.is_registered(uri, client.redirect_uris, native=native):
        raise errors.InvalidRedirectUri()
    req.redirect_uri, req.redirect_verified = uri, True


def check_response_mode(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OAuth 2.0 Multiple Response Types §2.1 / Form Post Response Mode 1.0: query or form_post."""
    mode = params.one("response_mode")
    if mode and mode not in RESPONSE_MODES:
        raise errors.InvalidRequest("Unsupported response_mode.")
    req.response_mode = mode or "query"


def check_state(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """RFC 6749 §4.1.1: state is opaque and returned unchanged (read early: errors carry it)."""
    req.state = params.one("state")


def check_no_repeats(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."""
    for name in params.raw:
        params.one(name)


def check_request_object(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §6: request objects are not supported, say so with the dedicated codes."""
    if params.one("request"):
        raise errors.RequestNotSupported()
    if params.one("request_uri"):
        raise errors.RequestUriNotSupported()


def check_response_type(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """RFC 6749 §4.1.1: response_type=code (the only flow offered; no implicit, no hybrid)."""
    response_type = params.one("response_type")
    if not response_type:
        raise errors.InvalidRequest("Missing response_type.")
    if response_type != "code":
        raise errors.UnsupportedResponseType()
    client = _client(req)
    if client.response_types and "code" not in client.response_types:
        raise errors.UnauthorizedClient()
    if client.grant_types and "authorization_code" not in client.grant_types:
        raise errors.UnauthorizedClient()


def check_scope(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: scope MUST contain openid; unknown or disallowed scopes are dropped."""
    granted = scopes.narrow(params.one("scope"), _client(req).allowed_scopes)
    if scopes.OPENID not in granted:
        raise errors.InvalidScope("The scope must contain openid.")
    req.scope = granted


def check_pkce(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """RFC 7636 §4.3/§4.4.1: S256 required for clients that require PKCE and for public clients.

    A missing code_challenge_method means plain (§4.3), accepted only if the client allows it.
    """
    client = _client(req)
    challenge = params.one("code_challenge")
    method = params.one("code_challenge_method")
    if not challenge:
        if method:
            raise errors.InvalidRequest("code_challenge_method without code_challenge.")
        if client.require_pkce or client.is_public:
            raise errors.InvalidRequest("PKCE (code_challenge, S256) is required.")
        return
    method = method or "plain"
    if method not in ("S256", "plain"):
        raise errors.InvalidRequest("Unsupported code_challenge_method.")
    if method == "plain" and not client.allow_plain_pkce:
        raise errors.InvalidRequest("code_challenge_method must be S256.")
    if not _CODE_CHALLENGE.fullmatch(challenge):
        raise errors.InvalidRequest("Malformed code_challenge.")
    req.code_challenge, req.code_challenge_method = challenge, method


def check_nonce(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: nonce is passed through to the ID token."""
    req.nonce = params.one("nonce", max_length=MAX_NONCE_LENGTH)


def check_prompt(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: known values; "none" with any other value is an error."""
    values = tuple(dict.fromkeys(params.one("prompt").split()))
    if any(v not in PROMPT_VALUES for v in values):
        raise errors.InvalidRequest("Unsupported prompt value.")
    if "none" in values and len(values) > 1:
        raise errors.InvalidRequest("prompt=none cannot be combined with other values.")
    req.prompt = values


def check_max_age(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: max_age is a non-negative number of seconds."""
    value = params.one("max_age", max_length=10)
    if not value:
        return
    if not value.isdigit():
        raise errors.InvalidRequest("max_age must be a non-negative integer.")
    req.max_age = int(value)


def check_acr_values(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: voluntary; values we do not know are ignored."""
    req.acr_values = tuple(v for v in params.one("acr_values").split() if v in ACR_LEVELS)


def check_claims(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §5.5: a JSON object with optional ``userinfo`` and ``id_token`` members, each
    mapping claim names to null or to an object with ``essential``, ``value`` or ``values``."""
    raw = params.one("claims")
    if not raw:
        return
    try:
        claims = json.loads(raw)
    except ValueError:
        raise errors.InvalidRequest("claims is not valid JSON.") from None
    if not isinstance(claims, dict) or not set(claims) <= {"userinfo", "id_token"}:
        raise errors.InvalidRequest("claims must be an object with userinfo and id_token.")
    for member in claims.values():
        if not isinstance(member, dict):
            raise errors.InvalidRequest("Malformed claims parameter.")
        for request in member.values():
            if request is None:
                continue
            if not isinstance(request, dict):
                raise errors.InvalidRequest("Malformed claims parameter.")
            if "essential" in request and not isinstance(request["essential"], bool):
                raise errors.InvalidRequest("Malformed claims parameter.")
            if "values" in request and not isinstance(request["values"], list):
                raise errors.InvalidRequest("Malformed claims parameter.")
    req.claims = claims


def check_login_hint(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: a hint only (PSC: the idNat), prefilled on the login page."""
    req.login_hint = params.one("login_hint", max_length=MAX_LOGIN_HINT_LENGTH).strip()


def check_ui_locales(params: _Params, req: AuthorizationRequest, query_length: int) -> None:
    """OIDC Core §3.1.2.1: space-separated BCP 47 tags, in order of preference."""
    req.ui_locales = tuple(params.one("ui_locales").split()[:10])


CHECKS: tuple[Check, ...] = (
    check_query_size,
    check_client_id,
    check_redirect_uri,
    # From here on, errors go back to the client: read with what (state) and how (response_mode).
    check_state,
    check_response_mode,
    check_no_repeats,
    check_request_object,
    check_response_type,
    check_scope,
    check_pkce,
    check_nonce,
    check_prompt,
    check_max_age,
    check_acr_values,
    check_claims,
    check_login_hint,
    check_ui_locales,
)


def validate(params: Mapping[str, Sequence[str]], *, query_length: int = 0) -> AuthorizationRequest:
    """Run :data:`CHECKS` in order; raise :class:`AuthorizationError` at the first failure.

    ``params`` maps each parameter name to all the values received (a QueryDict's lists);
    ``query_length`` is the size of the raw query string or form body.
    """
    req = AuthorizationRequest()
    wrapped = _Params(params)
    for check in CHECKS:
        try:
            check(wrapped, req, query_length)
        except errors.OAuthError as exc:
            raise AuthorizationError(exc, req) from None
    return req


# --- Can an existing SSO session answer? ------------------------------------------------------
def session_satisfies(
    req: AuthorizationRequest, *, auth_time: datetime, acr: str, now: datetime
) -> bool:
    """May a session authenticated at ``auth_time`` with ``acr`` answer ``req`` without login?

    OIDC Core §3.1.2.1: prompt=login and select_account ask for a new authentication; max_age
    bounds the elapsed time since auth_time ("MUST attempt to actively re-authenticate"); a
    session below the least acceptable acr is not reused (step-up).
    """
    if "login" in req.prompt or "select_account" in req.prompt:
        return False
    if req.max_age is not None and (now - auth_time).total_seconds() > req.max_age:
        return False
    return acr_satisfies(acr, req.minimum_acr)


# --- Issuing the code -------------------------------------------------------------------------
def issue_code(req: AuthorizationRequest, session: SsoSession, *, http_request: Any = None) -> str:
    """Create the authorization code (RFC 6749 §4.1.2) and return it (shown once, stored hashed).

    auth_time, acr and amr come from the session: what actually happened (habit 9). The client is
    recorded in the session so that logout reaches it (OIDC Back-Channel Logout 1.0 §2.7).
    """
    code = hashing.new_secret()
    grant_id = new_opaque_id()
    now = timezone.now()
    # No savepoint: inside a caller's transaction (a login's journal.batched block) this
    # joins it, and its event goes in the caller's batch.
    with transaction.atomic(savepoint=False):
        code_store.insert(
            code_hash=hashing.keyed_hash(code, purpose=CODE_HASH_PURPOSE),
            grant_id=grant_id,
            client_id=req.client_id,
            session_id=session.pk,
            professional_id=session.professional_id,
            redirect_uri=req.redirect_uri,
            scope=req.scope_string,
            nonce=req.nonce,
            code_challenge=req.code_challenge,
            code_challenge_method=req.code_challenge_method,
            claims=req.claims,
            acr=session.acr,
            amr=list(session.amr),
            auth_time=session.auth_time,
            now=now,
            expires_at=now + timedelta(seconds=settings.IDP_AUTHORIZATION_CODE_SECONDS),
        )
        record(
            EventTag.OIDC_CODE_ISSUED,
            actor=f"professional:{session.professional.sub}",
            subject=req.client_id,
            request=http_request,
            data={
                "client_id": req.client_id,
                "grant_id": grant_id,
                "sid": session.sid,
                "scope": req.scope_string,
                "acr": session.acr,
            },
        )
    return code
