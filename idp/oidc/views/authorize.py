"""Authorization endpoint and its resumption after login (OIDC Core 1.0 §3.1.2).

Thin: parse the request, call ``idp.oidc.protocol.authorize``, render what comes back through
``idp.oidc.rendering``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from idp.oidc import interaction, rendering, sessions
from idp.oidc.protocol import errors
from idp.oidc.protocol.authorize import AuthorizationError, session_satisfies, validate


# csrf_exempt: the request comes from the relying party's pages (a cross-site GET or form POST);
# its integrity is the client's state and PKCE, not a CSRF token of ours.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """OIDC Core §3.1.2.1: GET and POST (form-encoded) are both supported."""
    if request.method == "POST":
        size, params = len(request.body), request.POST
    else:
        size, params = len(request.META.get("QUERY_STRING", "")), request.GET
    try:
        req = validate(dict(params.lists()), query_length=size)
    except AuthorizationError as exc:
        return interaction.refuse(request, exc.error, exc.request if exc.redirectable else None)

    session = sessions.current(request)
    if session is not None and session_satisfies(
        req, auth_time=session.auth_time, acr=session.acr, now=timezone.now()
    ):
        return interaction.code_response(request, req, session)
    if "none" in req.prompt:
        # OIDC Core §3.1.2.6: no interaction allowed, and the session cannot answer.
        return interaction.refuse(request, errors.LoginRequired(), req)
    return interaction.begin(
        request, req, stale_auth_time=session.auth_time if session is not None else None
    )


@require_GET
def resume(request: HttpRequest, txn: str) -> HttpResponse:
    """Back from the login journey: issue the code for the pending request."""
    try:
        transaction = interaction.pending(request, txn)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
    session = sessions.current(request)
    if session is None or not transaction.answered_by(session):
        # No login happened for this transaction (resume URL opened directly): back to the login.
        return interaction.redirect_to_login(txn)
    try:
        return interaction.answer(request, transaction, session)
    except errors.OAuthError as exc:
        return rendering.error_page(request, exc)
