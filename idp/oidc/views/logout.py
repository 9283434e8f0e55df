"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): HTTP only.

GET or POST (§2: "The OP MUST support the use of the HTTP GET and POST methods"). The view is
CSRF-exempt because relying parties POST here cross-site; the confirmation form it shows carries
its own anti-forgery token instead: a signature over the session id, valid for a few minutes, that
a third-party site cannot obtain.
"""

from __future__ import annotations

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.oidc import sessions
from idp.oidc.protocol.errors import InvalidRequest
from idp.oidc.protocol.logout import (
    LogoutRequest,
    needs_confirmation,
    parse_logout_request,
    pick_language,
)

CONFIRM_SALT = "caducee.oidc.logout.confirm"
CONFIRM_MAX_AGE_SECONDS = 600
CARRIED = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")


def _params(request: HttpRequest) -> dict[str, str]:
    source = request.POST if request.method == "POST" else request.GET
    return {key: source.get(key, "") for key in source}


def _page(
    request: HttpRequest, template: str, lang: str, context: dict, status: int = 200
) -> HttpResponse:
    with translation.override(lang):
        response = render(request, template, {"lang": lang, **context}, status=status)
    response["Cache-Control"] = "no-store"
    # The page must not be framed (clickjacking the confirmation button).
    response["X-Frame-Options"] = "DENY"
    return response


def _confirmed(params: dict[str, str], sid: str) -> bool:
    token = params.get("confirm_token", "")
    if not token:
        return False
    try:
        signed_sid = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return False
    return signed_sid == sid


@csrf_exempt
@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    params = _params(request)
    default_lang = (translation.get_language() or "fr")[:2]
    session = sessions.current(request)
    try:
        logout_request = parse_logout_request(params, default_language=default_lang)
    except InvalidRequest as exc:
        lang = pick_language(params.get("ui_locales", ""), default_lang)
        return _page(
            request,
            "oidc/logged_out.html",
            lang,
            {"error": exc.description, "session_live": session is not None},
            status=400,
        )

    if session is None and logout_request.hint_sid:
        # RP-Initiated Logout §2: relying parties may POST here from their own site, and such a
        # request carries no SameSite=Lax cookie; the verified hint names the session instead.
        session = sessions.live_by_sid(logout_request.hint_sid, sub=logout_request.hint_sub)
    if session is not None:
        confirmed = _confirmed(params, session.sid) if request.method == "POST" else False
        if not confirmed and needs_confirmation(
            logout_request, session_sid=session.sid, session_sub=session.professional.sub
        ):
            return _confirmation(request, logout_request, params, session.sid)
        sessions.end(session, "rp_logout")
        record(
            EventTag.OIDC_LOGOUT_REQUESTED,
            actor=f"professional:{session.professional.sub}",
            subject=session.professional.sub,
            request=request,
            data={
                "sid": session.sid,
                "client_id": logout_request.client.client_id if logout_request.client else "",
                "id_token_hint": logout_request.has_hint,
                "confirmed": confirmed,
                "redirected": bool(logout_request.redirect_uri),
            },
        )
    response = _done(request, logout_request)
    sessions.clear_cookie(response)
    return response


def _confirmation(
    request: HttpRequest, logout_request: LogoutRequest, params: dict[str, str], sid: str
) -> HttpResponse:
    carried = [(name, params[name]) for name in CARRIED if params.get(name)]
    return _page(
        request,
        "oidc/logout_confirm.html",
        logout_request.language,
        {
            "action": request.path,
            "confirm_token": signing.dumps(sid, salt=CONFIRM_SALT),
            "carried": carried,
            "client_name": logout_request.client.name if logout_request.client else "",
        },
    )


def _done(request: HttpRequest, logout_request: LogoutRequest) -> HttpResponse:
    """Redirect to the registered post-logout URI (§3), or our "session closed" page."""
    target = logout_request.redirect_target()
    if target:
        # Not HttpResponseRedirect: a registered URI may use a native app's private scheme
        # (RFC 8252 §7.1); it matched the registration exactly, which is what makes it safe.
        response = HttpResponse(status=302)
        response["Location"] = target
        response["Cache-Control"] = "no-store"
        return response
    return _page(
        request,
        "oidc/logged_out.html",
        logout_request.language,
        {"client_name": logout_request.client.name if logout_request.client else ""},
    )
