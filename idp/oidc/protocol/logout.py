"""RP-initiated logout's rules (OpenID Connect RP-Initiated Logout 1.0).

``parse_logout_request(params)`` checks the request and says which client it comes from, which
session its ``id_token_hint`` names, and where (if anywhere) the browser may be sent afterwards:

* ``id_token_hint`` (§2): an ID token *we* issued, signature checked, ``exp`` ignored ("the OP
  SHOULD accept ID Tokens ... even if they have expired"); anything else is ``invalid_request``,
  shown on our page, never redirected.
* ``client_id`` (§2): when given with a hint it must be the hint's audience.
* ``post_logout_redirect_uri`` (§2, §3): used only when it exactly matches one registered by the
  client identified by the hint or ``client_id``; otherwise it is ignored and our own "session
  closed" page is shown (never a redirect to an unregistered URI, §3: "MUST NOT perform
  post-logout redirection if the post_logout_redirect_uri value supplied does not exactly
  match").
* ``state`` (§2) is added to the redirect with ``urlencode``; ``ui_locales`` picks the page's
  language (fr/en).

Whether to ask the End-User first is :func:`needs_confirmation`: §2 lets the OP ask; we ask
whenever the request does not prove, with a valid hint naming this very session or professional,
that it comes from a relying party the browser logged into (otherwise any site could log a
professional out: logout CSRF).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from idp.oidc import jwt, tokens
from idp.oidc.protocol.errors import InvalidRequest
from relying_parties.registry import RegisteredClient, get_client

SUPPORTED_LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class LogoutRequest:
    """A checked logout request."""

    client: RegisteredClient | None
    #: From a valid id_token_hint: the session and subject it was issued in.
    hint_sid: str
    hint_sub: str
    #: The registered post_logout_redirect_uri, or "" (show our page).
    redirect_uri: str
    state: str
    language: str

    @property
    def has_hint(self) -> bool:
        return bool(self.hint_sub)

    def redirect_target(self) -> str:
        """The post-logout redirect with ``state`` (RP-Initiated Logout §3), or ""."""
        if not self.redirect_uri:
            return ""
        if not self.state:
            return self.redirect_uri
        parts = urlsplit(self.redirect_uri)
        query = f"{parts.query}&" if parts.query else ""
        query += urlencode({"state": self.state})
        return urlunsplit(parts._replace(query=query))


def pick_language(ui_locales: str, default: str) -> str:
    """The first of ``ui_locales`` (space-separated BCP 47 tags, Core §3.1.2.1) we speak."""
    for tag in ui_locales.split():
        primary = tag.split("-", 1)[0].lower()
        if primary in SUPPORTED_LANGUAGES:
            return primary
    return default if default in SUPPORTED_LANGUAGES else "fr"


def parse_logout_request(
    params: Mapping[str, str], *, default_language: str = "fr"
) -> LogoutRequest:
    """Check a logout request's parameters (RP-Initiated Logout 1.0 §2); raise InvalidRequest."""
    hint = (params.get("id_token_hint") or "").strip()
    client_id = (params.get("client_id") or "").strip()
    uri = (params.get("post_logout_redirect_uri") or "").strip()
    state = params.get("state") or ""
    language = pick_language(params.get("ui_locales") or "", default_language)

    hint_sid = hint_sub = ""
    if hint:
        try:
            claims = jwt.verify(hint, verify_exp=False)
        except jwt.InvalidJWT as exc:
            raise InvalidRequest("The id_token_hint is not valid.", detail=str(exc)) from None
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        # Our JWTs say what they are in their typ claim: an access token is not a hint.
        if claims.get("typ") != tokens.ID_TOKEN_TYP or not audiences or not claims.get("sub"):
            raise InvalidRequest("The id_token_hint is not an ID token.")
        hint_client = str(claims.get("azp") or audiences[0])
        if client_id and client_id not in audiences:
            raise InvalidRequest("The client_id does not match the id_token_hint.")
        client_id = hint_client
        hint_sid = str(claims.get("sid") or "")
        hint_sub = str(claims["sub"])

    client = get_client(client_id) if client_id else None
    if client_id and client is None and hint:
        raise InvalidRequest("The client of the id_token_hint is unknown or inactive.")
    redirect_uri = uri if client is not None and uri in client.post_logout_redirect_uris else ""
    return LogoutRequest(
        client=client,
        hint_sid=hint_sid,
        hint_sub=hint_sub,
        redirect_uri=redirect_uri,
        state=state if redirect_uri else "",
        language=language,
    )


def needs_confirmation(request: LogoutRequest, *, session_sid: str, session_sub: str) -> bool:
    """Ask the End-User before ending their session (RP-Initiated Logout 1.0 §2, logout CSRF).

    No confirmation when a valid hint names the current session, or (a hint from an earlier
    session of the same login) the same professional.
    """
    if not request.has_hint:
        return True
    if request.hint_sid and request.hint_sid == session_sid:
        return False
    return request.hint_sub != session_sub
