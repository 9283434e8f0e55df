"""Typed audit event tags: ``<area>:<object>:<what happened>``.

Every event the journal records names one of these; a free-form string is refused, so that tests and
alerting can rely on a closed vocabulary. Add new tags in the section of the area that emits them.
"""

from enum import StrEnum


class EventTag(StrEnum):
    # --- accounts: the professional identity ------------------------------------------------------
    ACCOUNTS_PROFESSIONAL_CREATED = "accounts:professional:created"
    ACCOUNTS_PROFESSIONAL_UPDATED = "accounts:professional:updated"
    ACCOUNTS_PROFESSIONAL_SUSPENDED = "accounts:professional:suspended"
    ACCOUNTS_PROFESSIONAL_REACTIVATED = "accounts:professional:reactivated"
    ACCOUNTS_PROFESSIONAL_DEACTIVATED = "accounts:professional:deactivated"
    ACCOUNTS_DEMO_SEEDED = "accounts:demo:seeded"

    # --- admin: administrators and their second factor ----------------------------------------
    ADMIN_LOGIN_SUCCEEDED = "admin:login:succeeded"
    ADMIN_LOGIN_FAILED = "admin:login:failed"
    ADMIN_LOGIN_THROTTLED = "admin:login:throttled"
    ADMIN_LOGOUT = "admin:logout:done"
    ADMIN_TOTP_ENROLLED = "admin:totp:enrolled"
    ADMIN_TOTP_REMOVED = "admin:totp:removed"

    # --- authn: the card app (docs/design/card-app.md) ------------------------------------------
    AUTHN_CARD_ACTIVATION_STARTED = "authn:card:activation_started"
    AUTHN_CARD_ACTIVATION_FAILED = "authn:card:activation_failed"
    AUTHN_CARD_ACTIVATED = "authn:card:activated"
    AUTHN_CARD_DEVICE_RENAMED = "authn:card:device_renamed"
    AUTHN_CARD_DEVICE_REVOKED = "authn:card:device_revoked"
    AUTHN_CARD_DEVICE_BLOCKED = "authn:card:device_blocked"
    AUTHN_CARD_DEVICE_UNBLOCKED = "authn:card:device_unblocked"
    AUTHN_CARD_PUSH_GONE = "authn:card:push_gone"
    AUTHN_CARD_CHALLENGE_CREATED = "authn:card:challenge_created"
    AUTHN_CARD_CHALLENGE_REFUSED = "authn:card:challenge_refused"
    AUTHN_CARD_APPROVED = "authn:card:approved"
    AUTHN_CARD_DENIED = "authn:card:denied"
    AUTHN_CARD_FAILED = "authn:card:failed"
    AUTHN_CARD_LOGIN = "authn:card:login"
    AUTHN_CARD_OFFLINE_LOGIN = "authn:card:offline_login"
    AUTHN_CARD_OFFLINE_FAILED = "authn:card:offline_failed"
    AUTHN_CARD_REQUEST_REFUSED = "authn:card:request_refused"
    AUTHN_CARD_SESSIONS_ENDED = "authn:card:sessions_ended"
    AUTHN_CARD_CIBA_REQUESTED = "authn:card:ciba_requested"

    # --- oidc: the OpenID provider ---------------------------------------------------------------
    OIDC_CODE_ISSUED = "oidc:code:issued"
    OIDC_CODE_REPLAYED = "oidc:code:replayed"
    OIDC_TOKEN_ISSUED = "oidc:token:issued"
    OIDC_REFRESH_REUSED = "oidc:refresh:reused"
    OIDC_TOKEN_REVOKED = "oidc:token:revoked"
    OIDC_SESSION_STARTED = "oidc:session:started"
    OIDC_SESSION_ENDED = "oidc:session:ended"
    OIDC_LOGOUT_REQUESTED = "oidc:logout:requested"
    OIDC_BACKCHANNEL_DELIVERED = "oidc:backchannel:delivered"
    OIDC_BACKCHANNEL_FAILED = "oidc:backchannel:failed"
    OIDC_CIBA_REFUSED = "oidc:ciba:refused"
    OIDC_CIBA_PING_DELIVERED = "oidc:ciba:ping_delivered"
    OIDC_CIBA_PING_FAILED = "oidc:ciba:ping_failed"
    OIDC_CLIENT_AUTH_FAILED = "oidc:client:auth_failed"
    OIDC_CLIENT_CREATED = "oidc:client:created"
    OIDC_CLIENT_SECRET_ROTATED = "oidc:client:secret_rotated"
    OIDC_KEYS_ROTATED = "oidc:keys:rotated"

    # --- audit: the journal itself ----------------------------------------------------------------
    AUDIT_CHAIN_VERIFIED = "audit:chain:verified"
    AUDIT_CHAIN_BROKEN = "audit:chain:broken"
