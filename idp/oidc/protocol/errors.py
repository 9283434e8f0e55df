"""Protocol errors: each knows its OAuth code, HTTP status, whether it may be sent back to the
client's redirect URI, a public ASCII description and a private detail for the logs.

Codes come from RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core 1.0 §3.1.2.6, RFC 6750 §3.1,
RFC 7009 §2.2.1 and OpenID CIBA Core §13. ``idp.oidc.rendering`` turns them into JSON, a redirect
or an HTML page; nothing else decides how an error looks.
"""

from __future__ import annotations

import re

# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class OAuthError(Exception):
    error: str = "server_error"
    status: int = 400
    #: May this error be delivered to the client's (verified) redirect URI?
    redirectable: bool = True
    description: str = ""

    def __init__(self, description: str | None = None, *, detail: str = "") -> None:
        text = self.description if description is None else description
        self.description = _DESCRIPTION_UNSAFE.sub("?", text)
        self.detail = detail  # private: logs and audit only, never sent to the client
        super().__init__(f"{self.error}: {self.description}")

    def as_dict(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


# --- Errors that must never be redirected: the redirect URI or the client is not trusted ----------
class InvalidClient(OAuthError):
    """RFC 6749 §5.2: client authentication failed (401 with a WWW-Authenticate challenge)."""

    error = "invalid_client"
    status = 401
    redirectable = False
    description = "Client authentication failed."


class InvalidRedirectUri(OAuthError):
    """RFC 6749 §4.1.2.1: shown to the user, never redirected to the unverified URI."""

    error = "invalid_request"
    redirectable = False
    description = "The redirect_uri is missing or not registered for this client."


class UnknownClient(OAuthError):
    error = "invalid_request"
    redirectable = False
    description = "Unknown or inactive client_id."


# --- RFC 6749 §4.1.2.1 / §5.2 ---------------------------------------------------------------------
class InvalidRequest(OAuthError):
    error = "invalid_request"
    description = "The request is malformed."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    description = "The client is not allowed to use this grant or response type."


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403
    description = "The request was denied."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    description = "Only response_type=code is supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    description = "The requested scope is invalid."


class ServerError(OAuthError):
    error = "server_error"
    status = 500
    description = "The server could not process the request."


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    description = "The grant is invalid, expired, revoked or was issued to another client."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    description = "This grant type is not supported."


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1."""

    error = "unsupported_token_type"


# --- OpenID Connect Core 1.0 §3.1.2.6 -------------------------------------------------------------
class LoginRequired(OAuthError):
    error = "login_required"
    description = "The professional must log in."


class ConsentRequired(OAuthError):
    error = "consent_required"


class InteractionRequired(OAuthError):
    error = "interaction_required"


class AccountSelectionRequired(OAuthError):
    error = "account_selection_required"


class RequestNotSupported(OAuthError):
    error = "request_not_supported"
    description = "Request objects are not supported."


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"
    description = "request_uri is not supported."


class UnmetAuthenticationRequirements(OAuthError):
    """OpenID Connect Core Unmet Authentication Requirements 1.0: acr_values could not be met."""

    error = "unmet_authentication_requirements"
    description = "The requested authentication level cannot be met."


# --- RFC 6750 §3.1: protected resources (UserInfo) ------------------------------------------------
class InvalidToken(OAuthError):
    error = "invalid_token"
    status = 401
    redirectable = False
    description = "The access token is invalid or expired."


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403
    redirectable = False
