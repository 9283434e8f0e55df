"""Token endpoint grants: authorization_code (RFC 6749 §4.1.3), refresh_token (§6),
client_credentials (§4.4) and CIBA (OpenID CIBA Core 1.0 §10.1, poll and ping modes).

Each grant takes the form parameters and the authenticated client and returns the JSON body of a
successful token response shaped as Pro Santé Connect's (Keycloak): ``access_token, expires_in,
refresh_expires_in, refresh_token, token_type, id_token, not-before-policy, session_state, scope``.
``session_state`` is the SSO session id (``sid``, also in the tokens): Keycloak sends its session
id there, and our ``sid`` is already an opaque random value, so nothing more is disclosed.

Single-use artifacts are consumed with a conditional UPDATE whose row count decides (architecture
habit 4): under concurrent requests on PostgreSQL the second UPDATE waits for the first
transaction and then finds nothing to update, on SQLite ``BEGIN IMMEDIATE`` serialises writers.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from idp.audit import journal
from idp.audit.tags import EventTag
from idp.core import hashing
from idp.oidc import code_store, refresh_store, revocation, sessions, tokens
from idp.oidc.models import (
    CODE_HASH_PURPOSE,
    REFRESH_HASH_PURPOSE,
    RefreshToken,
    SessionClient,
    SsoSession,
)
from idp.oidc.protocol import ciba as ciba_protocol
from idp.oidc.protocol import userinfo as userinfo_protocol
from idp.oidc.protocol.client_auth import ClientAuthentication
from idp.oidc.protocol.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)

logger = logging.getLogger(__name__)

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 (a grant type name)
CLIENT_CREDENTIALS = "client_credentials"
CIBA = ciba_protocol.GRANT_TYPE


# RFC 7636 §4.1: code_verifier = 43*128unreserved.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# Scopes about a person: meaningless for a service account (client_credentials).
_USER_SCOPES = frozenset({"openid", "profile", "email", "scope_all", "offline_access"})


def handle(params: Mapping[str, str], auth: ClientAuthentication, *, request: Any = None) -> dict:
    """Run the grant named by ``grant_type`` for an authenticated client (RFC 6749 §5.1 body).

    ``request`` is only handed to the journal. Errors are :mod:`idp.oidc.protocol.errors` classes.
    """
    grant_type = params.get("grant_type", "")
    if not grant_type:
        raise InvalidRequest("grant_type is required.")
    grant = _GRANTS.get(grant_type)
    if grant is None:
        raise UnsupportedGrantType(detail=f"grant_type {grant_type[:60]!r}")
    if grant_type not in auth.client.grant_types:
        raise UnauthorizedClient(
            "The client is not allowed to use this grant type.", detail=grant_type
        )
    return grant(params, auth, request)


# --- helpers --------------------------------------------------------------------------------------


def _session_live(session: SsoSession | None, now: datetime) -> bool:
    """OIDC Session: the SSO session has not ended and is within its absolute and idle limits."""
    return session is None or sessions.is_live(session, now=now)


def _refresh_expiry(
    now: datetime, lifetime: int, session: SsoSession | refresh_store.SessionState | None
) -> datetime:
    """The client's refresh lifetime, never beyond the end of the SSO session."""
    expires = now + timedelta(seconds=lifetime)
    return min(expires, session.expires_at) if session is not None else expires


def _token_body(
    access: tokens.IssuedToken,
    *,
    refresh: str = "",
    refresh_expires_in: int = 0,
    id_token: str = "",
    sid: str = "",
    scope: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": access.value,
        "expires_in": access.expires_in,
        "refresh_expires_in": refresh_expires_in,
    }
    if refresh:
        body["refresh_token"] = refresh
    body["token_type"] = "Bearer"  # noqa: S105
    if id_token:
        body["id_token"] = id_token
    body["not-before-policy"] = 0
    if sid:
        body["session_state"] = sid
    body["scope"] = scope
    return body


def _seconds_until(expires_at: datetime | None, now: datetime) -> int:
    """``refresh_expires_in``: whole seconds left, 0 without a refresh token (PSC's shape)."""
    return max(0, int((expires_at - now).total_seconds())) if expires_at else 0


def _new_refresh_token(
    *,
    client_id: str,
    grant_id: str,
    professional_id: int,
    session: SsoSession | None,
    scope: str,
    claims: Any,
    acr: str,
    amr: list[str],
    auth_time: datetime,
    x5t_s256: str,
    now: datetime,
    expires_at: datetime,
    parent: RefreshToken | None = None,
) -> str:
    value = hashing.new_secret()
    RefreshToken.objects.create(
        token_hash=hashing.keyed_hash(value, purpose=REFRESH_HASH_PURPOSE),
        grant_id=grant_id,
        parent=parent,
        client_id=client_id,
        professional_id=professional_id,
        session=session,
        scope=scope,
        claims=claims,
        acr=acr,
        amr=amr,
        auth_time=auth_time,
        cnf_x5t_s256=x5t_s256,
        issued_at=now,
        expires_at=expires_at,
    )
    return value


def _check_pkce(
    code: code_store.StoredCode, verifier: str | None, auth: ClientAuthentication
) -> None:
    """RFC 7636 §4.6, constant-time; RFC 9700 §2.1.1: no verifier without a challenge."""
    if not code.code_challenge:
        if verifier is not None:
            raise InvalidGrant(detail="code_verifier without code_challenge (PKCE downgrade)")
        if auth.client.is_public or auth.client.require_pkce:
            raise InvalidGrant(detail="PKCE required but the code has no challenge")
        return
    if not verifier:
        raise InvalidGrant("code_verifier is required.", detail="PKCE verifier missing")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant(detail="malformed code_verifier")
    if code.code_challenge_method == "S256":
        computed = hashing.s256(verifier)
    elif code.code_challenge_method == "plain" and auth.client.allow_plain_pkce:
        computed = verifier
    else:
        raise InvalidGrant(detail=f"challenge method {code.code_challenge_method!r}")
    if not hmac.compare_digest(computed.encode(), code.code_challenge.encode()):
        raise InvalidGrant(detail="PKCE verification failed")


def _issued_event(
    grant_type: str, auth: ClientAuthentication, sub: str, data: dict[str, Any], request: Any
) -> dict[str, Any]:
    """``OIDC_TOKEN_ISSUED``'s arguments for ``journal.record`` / ``journal.for_statement``."""
    return {
        "actor": f"client:{auth.client.client_id}",
        "subject": f"professional:{sub}",
        "request": request,
        "data": {"grant_type": grant_type, "client_id": auth.client.client_id, **data},
    }


def _audit_issued(
    grant_type: str, auth: ClientAuthentication, sub: str, data: dict[str, Any], request: Any
) -> None:
    journal.record(
        EventTag.OIDC_TOKEN_ISSUED, **_issued_event(grant_type, auth, sub, data, request)
    )


# --- authorization_code (RFC 6749 §4.1.3, OIDC Core §3.1.3) ---------------------------------------


def authorization_code(
    params: Mapping[str, str], auth: ClientAuthentication, request: Any = None
) -> dict:
    """Exchange a code: same client, same redirect URI, PKCE, live session and professional."""
    client = auth.client
    code_value = params.get("code", "")
    redirect_uri = params.get("redirect_uri", "")
    if not code_value:
        raise InvalidRequest("code is required.")
    if not redirect_uri:
        raise InvalidRequest("redirect_uri is required.")
    code_hash = hashing.keyed_hash(code_value, purpose=CODE_HASH_PURPOSE)
    code = code_store.lookup(code_hash)
    now = timezone.now()
    if code is None:
        raise InvalidGrant(detail="unknown code")
    if code.client_id != client.client_id:
        # Checked before anything is consumed: another client cannot burn a victim's code.
        raise InvalidGrant(detail=f"code issued to {code.client_id}")
    if code.consumed_at is not None:
        _code_replayed(code, auth, request)
    if code.expires_at <= now:
        raise InvalidGrant(detail="code expired")
    # RFC 6749 §4.1.3: "ensure that the redirect_uri parameter is present ... and that their
    # values are identical" to the authorization request's.
    if not hmac.compare_digest(code.redirect_uri.encode(), redirect_uri.encode()):
        raise InvalidGrant(detail="redirect_uri differs from the authorization request")
    _check_pkce(code, params.get("code_verifier"), auth)
    session = code.session
    if not _session_live(session, now):
        raise InvalidGrant(detail="SSO session ended")
    # UserInfo is what the relying party calls next: this also tells it which claims the grant
    # requested and, on a cold cache, primes the professional's UserInfo document.
    professional = userinfo_protocol.professional_at_code_exchange(
        code.professional_id, grant_id=code.grant_id, claims=code.claims
    )
    if professional is None or not professional.is_active:
        raise InvalidGrant(detail="professional not active")

    scope = code.scope
    scopes = scope.split()
    access = tokens.issue_access_token(
        client=client,
        scope=scope,
        professional=professional,
        gid=code.grant_id,
        sid=session.sid,
        auth_time=code.auth_time,
        acr=code.acr,
        auth_mode=session.auth_mode,
        x5t_s256=auth.x5t_s256,
    )
    id_token = ""
    if "openid" in scopes:
        id_token = tokens.issue_id_token(
            client=client,
            professional=professional,
            access_token=access.value,
            nonce=code.nonce,
            auth_time=code.auth_time,
            acr=code.acr,
            amr=list(code.amr),
            sid=session.sid,
        ).value

    refresh = ""
    refresh_expires_at = None
    if REFRESH_TOKEN in client.grant_types:
        refresh = hashing.new_secret()
        refresh_expires_at = _refresh_expiry(now, client.refresh_token_lifetime, session)
    # One statement on PostgreSQL: consume (single use), and only if that won, the refresh token
    # (a copy of the code's grant), the session's client (back-channel logout) and the journal's
    # event; its own transaction. Elsewhere the same in a transaction.
    refresh_hash = hashing.keyed_hash(refresh, purpose=REFRESH_HASH_PURPOSE) if refresh else ""
    redemption = {
        "now": now,
        "refresh_hash": refresh_hash,
        "refresh_expires_at": refresh_expires_at,
        "x5t_s256": auth.x5t_s256,
    }
    issued = _issued_event(
        AUTHORIZATION_CODE,
        auth,
        professional.sub,
        {"grant_id": code.grant_id, "jti": access.claims["jti"], "scope": scope},
        request,
    )
    event = journal.for_statement(EventTag.OIDC_TOKEN_ISSUED, **issued)
    if event is not None:
        consumed = code_store.redeem(code.id, **redemption, journal_event=event)
    else:
        with transaction.atomic():
            consumed = code_store.redeem(code.id, **redemption)
            if consumed:
                journal.record(EventTag.OIDC_TOKEN_ISSUED, **issued)
    if not consumed:
        # A concurrent request won (handled after the block commits), or the code just expired.
        again = code_store.lookup(code_hash)
        if again is not None and again.consumed_at is not None:
            _code_replayed(again, auth, request)
        raise InvalidGrant(detail="code expired")

    return _token_body(
        access,
        refresh=refresh,
        refresh_expires_in=_seconds_until(refresh_expires_at, now),
        id_token=id_token,
        sid=session.sid,
        scope=scope,
    )


def _revoke_misused_grant(
    grant_id: str, tag: EventTag, reason: str, auth: ClientAuthentication, request: Any
) -> None:
    """Revoke every token of a grant whose single-use artifact came back, journal it, refuse."""
    revoked = revocation.revoke_grant(grant_id, reason)
    journal.record(
        tag,
        actor=f"client:{auth.client.client_id}",
        subject=f"grant:{grant_id}",
        request=request,
        data={"client_id": auth.client.client_id, "grant_id": grant_id, "refresh_revoked": revoked},
    )
    raise InvalidGrant(detail=f"{reason}: grant revoked")


def _code_replayed(code: code_store.StoredCode, auth: ClientAuthentication, request: Any) -> None:
    """RFC 6749 §4.1.2: a code used twice revokes every token issued from it."""
    _revoke_misused_grant(
        code.grant_id, EventTag.OIDC_CODE_REPLAYED, "code_replayed", auth, request
    )


# --- refresh_token (RFC 6749 §6, OAuth 2.0 Security BCP §4.14) ------------------------------------


def refresh_token(
    params: Mapping[str, str], auth: ClientAuthentication, request: Any = None
) -> dict:
    """Rotate a refresh token; scope may be narrowed, never widened; reuse revokes the family."""
    client = auth.client
    presented = params.get("refresh_token", "")
    if not presented:
        raise InvalidRequest("refresh_token is required.")
    token_hash = hashing.keyed_hash(presented, purpose=REFRESH_HASH_PURPOSE)
    row = refresh_store.lookup(token_hash)
    now = timezone.now()
    if row is None:
        raise InvalidGrant(detail="unknown refresh token")
    if row.client_id != client.client_id:
        raise InvalidGrant(detail=f"refresh token issued to {row.client_id}")
    if row.revoked_at is not None:
        raise InvalidGrant(detail="refresh token revoked")
    if row.rotated_at is not None:
        _refresh_reused(row.grant_id, auth, request)
    if row.expires_at <= now:
        raise InvalidGrant(detail="refresh token expired")
    # RFC 8705 §3: a token bound to a certificate is usable only with that certificate.
    if row.cnf_x5t_s256 and not hmac.compare_digest(
        row.cnf_x5t_s256.encode(), auth.x5t_s256.encode()
    ):
        raise InvalidGrant(detail="certificate differs from the one the token is bound to")
    session = row.session
    if session is not None and not sessions.is_live(session, now=now):
        raise InvalidGrant(detail="SSO session ended")

    granted = row.scope.split()
    requested = params.get("scope")
    if requested is not None:
        wanted = set(requested.split())
        if not wanted or not wanted.issubset(granted):
            # RFC 6749 §6: "MUST NOT include any scope not originally granted".
            raise InvalidScope("The requested scope exceeds the scope originally granted.")
        scopes = [s for s in granted if s in wanted]
    else:
        scopes = granted
    scope = " ".join(scopes)

    professional = tokens.cached_professional(row.professional_id)
    if professional is None or not professional.is_active:
        raise InvalidGrant(detail="professional not active")
    sid = session.sid if session is not None else ""
    access = tokens.issue_access_token(
        client=client,
        scope=scope,
        professional=professional,
        gid=row.grant_id,
        sid=sid,
        auth_time=row.auth_time,
        acr=row.acr,
        auth_mode=session.auth_mode if session is not None else "",
        x5t_s256=row.cnf_x5t_s256,
    )
    id_token = ""
    if "openid" in scopes:
        # OIDC Core §12.2: a refreshed ID token keeps iss, sub, aud, auth_time, acr, amr.
        id_token = tokens.issue_id_token(
            client=client,
            professional=professional,
            access_token=access.value,
            nonce="",
            auth_time=row.auth_time,
            acr=row.acr,
            amr=row.amr,
            sid=sid,
        ).value

    # The successor keeps the original grant's scope (RFC 6749 §6), copied in SQL with the rest.
    new_value = hashing.new_secret()
    expires_at = _refresh_expiry(now, client.refresh_token_lifetime, session)
    if not refresh_store.rotate(
        row.id,
        new_hash=hashing.keyed_hash(new_value, purpose=REFRESH_HASH_PURPOSE),
        now=now,
        expires_at=expires_at,
    ):
        # A concurrent request used it first: if that made it rotated, this is a reuse.
        again = refresh_store.lookup(token_hash)
        if again is not None and again.rotated_at is not None:
            _refresh_reused(row.grant_id, auth, request)
        raise InvalidGrant(detail="refresh token revoked or expired")
    if session is not None and now - session.last_active_at >= sessions.TOUCH_INTERVAL:
        # Using the grant is activity in the SSO session (Keycloak does the same); written at
        # most once a minute, like sessions.current(), to keep the session row cool.
        SsoSession.objects.filter(
            pk=session.id, last_active_at__lt=now - sessions.TOUCH_INTERVAL
        ).update(last_active_at=now)
    # A routine rotation is logged, not journaled: the journal is for security events (issuance
    # at login, reuse, revocation) and its chain lock must stay off this path.
    logger.info(
        "refresh token rotated: client=%s grant=%s jti=%s",
        client.client_id,
        row.grant_id,
        access.claims["jti"],
    )
    return _token_body(
        access,
        refresh=new_value,
        refresh_expires_in=_seconds_until(expires_at, now),
        id_token=id_token,
        sid=sid,
        scope=scope,
    )


def _refresh_reused(grant_id: str, auth: ClientAuthentication, request: Any) -> None:
    """OAuth 2.0 Security BCP §4.14.2: a rotated token presented again means it leaked, so the
    whole family (the grant) is revoked, the legitimate holder's current token included."""
    _revoke_misused_grant(grant_id, EventTag.OIDC_REFRESH_REUSED, "refresh_reused", auth, request)


# --- client_credentials (RFC 6749 §4.4) -----------------------------------------------------------


def client_credentials(
    params: Mapping[str, str], auth: ClientAuthentication, request: Any = None
) -> dict:
    """A service-account access token: ``sub`` = client_id, no refresh token, no ID token.

    Nothing is written to the database on this path (the client comes from the registry's
    per-worker cache, the secret check is one HMAC, the token is a JWT), so the journal does not
    record each issuance; it is logged instead.
    """
    client = auth.client
    # RFC 6749 §4.4: "MUST only be used by confidential clients".
    if client.is_public:
        raise UnauthorizedClient(detail="public client")
    requested = params.get("scope")
    available = client.allowed_scopes - _USER_SCOPES
    if requested is None:
        scopes = sorted(available)
    else:
        # Unknown or unallowed scopes are dropped, not refused (PSC behaviour).
        scopes = [s for s in dict.fromkeys(requested.split()) if s in available]
    scope = " ".join(scopes)
    access = tokens.issue_access_token(
        client=client, scope=scope, professional=None, x5t_s256=auth.x5t_s256
    )
    logger.info(
        "token issued: grant=client_credentials client_id=%s jti=%s",
        client.client_id,
        access.claims["jti"],
    )
    return _token_body(access, scope=scope)


# --- CIBA (OpenID CIBA Core 1.0 §10.1, §11) -------------------------------------------------------


def ciba(params: Mapping[str, str], auth: ClientAuthentication, request: Any = None) -> dict:
    """Redeem an approved ``auth_req_id`` once: an SSO session for what happened on the card app
    (acr eidas2, amr pop pin mfa, authMode MOBILE), then tokens as a code exchange gives them.

    While the professional has not answered: authorization_pending / slow_down; then
    access_denied or expired_token (:func:`ciba_protocol.ready_request`). No nonce (§7.1 has
    none); the ID token's ``urn:openid:params:jwt:claim:auth_req_id`` is for push mode only
    (§10.3.1), which is not offered.
    """
    client = auth.client
    row = ciba_protocol.ready_request(params, auth)
    professional = tokens.cached_professional(row.professional_id)
    if professional is None or not professional.is_active:
        raise InvalidGrant(detail="professional not active")
    now = timezone.now()
    scope = row.scope
    amr = list(ciba_protocol.AMR)
    with transaction.atomic():
        if not ciba_protocol.consume(row, now):
            raise InvalidGrant(detail="auth_req_id already redeemed or expired")
        session = sessions.start(
            None,
            professional=row.professional,
            acr=row.acr,
            amr=amr,
            auth_mode=ciba_protocol.AUTH_MODE,
        )
        auth_time = session.auth_time
        access = tokens.issue_access_token(
            client=client,
            scope=scope,
            professional=professional,
            gid=row.grant_id,
            sid=session.sid,
            auth_time=auth_time,
            acr=row.acr,
            auth_mode=session.auth_mode,
            x5t_s256=auth.x5t_s256,
        )
        id_token = tokens.issue_id_token(
            client=client,
            professional=professional,
            access_token=access.value,
            nonce="",
            auth_time=auth_time,
            acr=row.acr,
            amr=amr,
            sid=session.sid,
        ).value
        refresh = ""
        refresh_expires_at = None
        if REFRESH_TOKEN in client.grant_types:
            refresh_expires_at = _refresh_expiry(now, client.refresh_token_lifetime, session)
            refresh = _new_refresh_token(
                client_id=client.client_id,
                grant_id=row.grant_id,
                professional_id=row.professional_id,
                session=session,
                scope=scope,
                claims=None,
                acr=row.acr,
                amr=amr,
                auth_time=auth_time,
                x5t_s256=auth.x5t_s256,
                now=now,
                expires_at=refresh_expires_at,
            )
        SessionClient.objects.get_or_create(session=session, client_id=client.client_id)
        _audit_issued(
            CIBA,
            auth,
            professional.sub,
            {"grant_id": row.grant_id, "jti": access.claims["jti"], "scope": scope},
            request,
        )
    return _token_body(
        access,
        refresh=refresh,
        refresh_expires_in=_seconds_until(refresh_expires_at, now),
        id_token=id_token,
        sid=session.sid,
        scope=scope,
    )


_GRANTS: dict[str, Callable[..., dict]] = {
    AUTHORIZATION_CODE: authorization_code,
    REFRESH_TOKEN: refresh_token,
    CLIENT_CREDENTIALS: client_credentials,
    CIBA: ciba,
}
