"""The seam between the OpenID provider and the login journey (architecture.md habit 9).

The authorization endpoint stores a validated request in a **login transaction**: a value signed
with Django's signing (salted for this use only), expiring after ``IDP_LOGIN_TRANSACTION_SECONDS``
and bound to the browser that made the request: the browser gets a random value in the
``caducee_txn`` cookie, the transaction carries its keyed hash. A transaction URL copied to
another browser (phishing, shoulder surfing, a leaked log) cannot be completed there.

The authorization endpoint then shows the journey's login page itself (:data:`LOGIN_PAGE`, given
the transaction), as Pro Santé Connect's Keycloak does, instead of redirecting to ``/login/<txn>``:
one request and one network round trip fewer for every login; the page's forms post to the
transaction's paths, and ``/login/<txn>`` still shows it (after an error, from ``oidc:resume``,
after a form-posted authorization request, which is answered by a 303 to it).

An authentication method reads what it needs with :func:`pending`, and once the professional has
proved who they are, calls :func:`complete_login`, which opens the SSO session and answers the
client in the same request (:func:`answer`: the code, or the error OIDC Core §3.1.2.6 calls
for): the browser goes straight back to the relying party, one round trip fewer than a detour
through ``oidc:resume``, which remains for a browser that comes back with a session but no
answer. ``auth_time``, ``acr`` and ``amr`` are what actually happened, never what was asked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.module_loading import import_string

from idp.accounts.models import Professional
from idp.audit import journal
from idp.core import hashing
from idp.oidc import rendering, sessions
from idp.oidc.models import SsoSession
from idp.oidc.protocol import errors
from idp.oidc.protocol.authorize import AuthorizationRequest, acr_satisfies, issue_code

BROWSER_COOKIE = "caducee_txn"
_SALT = "idp.oidc.interaction.login-transaction"
_BROWSER_PURPOSE = "login_txn_browser"
_USED_KEY = "oidc:txn-used:{}"
#: The login journey's page, ``(request, LoginTransaction) -> HttpResponse``; by dotted path, so
#: that the provider imports none of the journey's code (habit 9).
LOGIN_PAGE = "idp.authn.views.page"


class InvalidTransaction(errors.OAuthError):
    """The login transaction is forged, expired, used, or belongs to another browser.

    Never redirected: nothing in it can be trusted enough to pick a redirect URI.
    """

    error = "invalid_request"
    redirectable = False
    description = "The login request is invalid or has expired. Start again from the service."


@dataclass(frozen=True)
class LoginTransaction:
    """What the login page needs to know about the pending authorization request."""

    txn: str
    request: AuthorizationRequest
    issued_at: float
    #: auth_time (POSIX) of a session that could not answer the request: it needs a newer login.
    stale_auth_time: float | None
    jti: str

    def answered_by(self, session: SsoSession) -> bool:
        """Did ``session`` come from a login made for this transaction, if one was needed?"""
        return self.stale_auth_time is None or session.auth_time.timestamp() > self.stale_auth_time

    @property
    def client_name(self) -> str:
        return self.request.client.name if self.request.client else self.request.client_id

    @property
    def login_hint(self) -> str:
        return self.request.login_hint

    @property
    def language(self) -> str | None:
        return self.request.language

    @property
    def acr_values(self) -> tuple[str, ...]:
        return self.request.acr_values

    @property
    def minimum_acr(self) -> str | None:
        return self.request.minimum_acr

    @property
    def redirect_uri(self) -> str:
        return self.request.redirect_uri


# AuthorizationRequest.to_dict is dataclasses.asdict, which deep-copies the RegisteredClient (then
# dropped) and every value: the payload is serialised to JSON right away, the values are enough.
_REQUEST_FIELDS = tuple(f.name for f in fields(AuthorizationRequest) if f.name != "client")


def _request_data(req: AuthorizationRequest) -> dict:
    """``req.to_dict()`` without the copies (the same JSON)."""
    return {name: getattr(req, name) for name in _REQUEST_FIELDS}


def _browser_hash(value: str) -> str:
    return hashing.keyed_hash(value, purpose=_BROWSER_PURPOSE)


def begin(
    request: HttpRequest, req: AuthorizationRequest, *, stale_auth_time: datetime | None = None
) -> HttpResponse:
    """Store ``req`` in a login transaction and answer with the login page (:data:`LOGIN_PAGE`).

    ``stale_auth_time``: the auth_time of the browser's session that could not answer ``req``
    (prompt=login, max_age, acr): resuming then needs a login more recent than that one.
    """
    browser = request.COOKIES.get(BROWSER_COOKIE) or ""
    if len(browser) < 32 or len(browser) > 64:
        browser = hashing.new_secret()
    payload = {
        "r": _request_data(req),
        "b": _browser_hash(browser),
        "t": time.time(),
        "a": stale_auth_time.timestamp() if stale_auth_time else None,
        "j": hashing.new_secret(16),
    }
    txn = signing.dumps(payload, salt=_SALT, compress=True)
    if request.method == "POST":
        # A form-posted authorization request (Core §3.1.2.1), often cross-site: the page comes
        # by a GET of its own, so that going back or reloading does not post the form again and
        # the page's CSRF cookie is the one the browser already has (a cross-site POST carries
        # no Lax cookie: answering it with the page would replace that cookie for every tab).
        response = redirect_to_login(txn, see_other=True)
    else:
        transaction = LoginTransaction(
            txn=txn,
            request=req,
            issued_at=payload["t"],
            stale_auth_time=payload["a"],
            jti=payload["j"],
        )
        response = import_string(LOGIN_PAGE)(request, transaction)
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=settings.IDP_LOGIN_TRANSACTION_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,  # on outside DEBUG, like Django's own
        path="/",
    )
    return response


def redirect_to_login(txn: str, *, see_other: bool = False) -> HttpResponse:
    """Send the browser to the login page of transaction ``txn`` (303 after a POST)."""
    response = HttpResponseRedirect(reverse("authn:login", args=[txn]))
    if see_other:
        response.status_code = 303
    response["Cache-Control"] = "no-store"
    return response


def pending(request: HttpRequest, txn: str, *, unused: bool = True) -> LoginTransaction:
    """The login transaction ``txn``, checked: signature, age, this browser, not yet used.

        ``unused=False`` skips the last check (a Redis round trip) for a read that changes nothing
        and shows nothing of a finished login, such as the card status the waiting page polls every
        second: what completes a login uses the transaction up, atomically (:func:`complete_login`,
    :func:`answer`). Raises
        :class:`InvalidTransaction`.
    """
    try:
        payload = signing.loads(txn, salt=_SALT, max_age=settings.IDP_LOGIN_TRANSACTION_SECONDS)
        browser = request.COOKIES.get(BROWSER_COOKIE) or ""
        if not browser or not hashing.matches(browser, payload["b"], purpose=_BROWSER_PURPOSE):
            raise InvalidTransaction(detail="login transaction presented by another browser")
        req = AuthorizationRequest.from_dict(payload["r"])
        transaction = LoginTransaction(
            txn=txn,
            request=req,
            issued_at=float(payload["t"]),
            stale_auth_time=None if payload["a"] is None else float(payload["a"]),
            jti=str(payload["j"]),
        )
    except signing.SignatureExpired:
        raise InvalidTransaction(detail="login transaction expired") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidTransaction(detail="login transaction malformed or forged") from None
    if req.client is None:
        raise InvalidTransaction(detail="client deactivated during login")
    if unused and cache.get(_USED_KEY.format(transaction.jti)):
        raise InvalidTransaction(detail="login transaction already used")
    return transaction


def consume(transaction: LoginTransaction) -> bool:
    """Mark the transaction used; False if it already was (a replayed resume URL)."""
    return cache.add(
        _USED_KEY.format(transaction.jti), 1, timeout=settings.IDP_LOGIN_TRANSACTION_SECONDS + 60
    )


def _use_up(transaction: LoginTransaction) -> None:
    """:func:`consume` it, or raise :class:`InvalidTransaction` if it already was."""
    if not consume(transaction):
        raise InvalidTransaction(detail="login transaction already used")


def complete_login(
    request: HttpRequest,
    txn: str,
    *,
    professional: Professional,
    amr: list[str],
    acr: str,
    auth_mode: str,
    checked: LoginTransaction | None = None,
) -> HttpResponse:
    """An authentication method proved who the professional is: open the SSO session, answer.

    ``amr`` (RFC 8176 values), ``acr`` (eidas1..3) and ``auth_mode`` (PSC's authMode) describe
    what actually happened; ``auth_time`` is now (OIDC Core §2). ``checked``: the transaction as
    the caller's :func:`pending` just returned it (not checked twice). The session, the code and
    their journal events are one transaction (the caller's :func:`journal.batched` block, if
    any). Raises :class:`InvalidTransaction` (render it with ``rendering.error_page``) and
    :class:`errors.AccessDenied` for a professional who may not log in.
    """
    transaction = checked if checked is not None and checked.txn == txn else pending(request, txn)
    if not professional.is_active:
        raise errors.AccessDenied(detail="inactive professional completed a login")
    # Used up before anything else: a completion that loses the race for the transaction (a
    # replay, a second approved challenge of the same login) must not reach the browser's
    # previous session, whose end is announced outside the database (revocation, back-channel).
    # A completion that fails after this point (a database error) leaves it used: the
    # professional starts again from the service.
    _use_up(transaction)
    previous = sessions.current(request)
    with journal.batched():
        if previous is not None and previous.professional_id == professional.pk:
            # Re-authentication (prompt=login, max_age, step-up): the same session, as Keycloak
            # does, so relying parties already in it are not logged out; its auth facts are new.
            session = sessions.reauthenticate(
                request, previous, acr=acr, amr=list(amr), auth_mode=auth_mode
            )
        else:
            if previous is not None:
                # Another professional on the same browser: the first one's session must not
                # linger.
                sessions.end(previous, sessions.REASON_SUPERSEDED)
            session = sessions.start(
                request, professional=professional, acr=acr, amr=list(amr), auth_mode=auth_mode
            )
        response = answer(request, transaction, session, consumed=True)
    response["Cache-Control"] = "no-store"
    sessions.set_cookie(response, session)
    return response


def answer(
    request: HttpRequest,
    transaction: LoginTransaction,
    session: SsoSession,
    *,
    consumed: bool = False,
) -> HttpResponse:
    """Answer the pending authorization request with ``session`` (RFC 6749 §4.1.2), once.

    OIDC Core §5.5.1.1: an essential acr the login did not reach is an error, not a downgrade.
    The transaction is used up either way (``consumed``: :func:`complete_login` already did,
    before it touched any session). A second answer (a replayed resume URL, or two racing for
    one transaction) raises :class:`InvalidTransaction`, so that the caller's database
    transaction (its journal events) rolls back.
    """
    req = transaction.request
    # Used up first, whatever the answer: a second login racing for the transaction must fail
    # (and roll back its session) on the refusal branch too, not answer the client again.
    if not consumed:
        _use_up(transaction)
    if not acr_satisfies(session.acr, req.essential_acr):
        return refuse(request, errors.UnmetAuthenticationRequirements(), req)
    return code_response(request, req, session)


def code_response(
    request: HttpRequest, req: AuthorizationRequest, session: SsoSession
) -> HttpResponse:
    """Issue the code for ``req`` from ``session`` and send it to the client (RFC 6749 §4.1.2)."""
    code = issue_code(req, session, http_request=request)
    return rendering.authorization_response(
        req.redirect_uri, {"code": code}, state=req.state, response_mode=req.response_mode
    )


def refuse(
    request: HttpRequest, exc: errors.OAuthError, req: AuthorizationRequest | None
) -> HttpResponse:
    """Redirect the error when ``req`` has a verified redirect URI, else show a page."""
    if req is not None and req.redirect_verified and exc.redirectable:
        return rendering.redirect_error(exc, req.redirect_uri, req.state, req.response_mode)
    return rendering.error_page(request, exc, language=req.language if req else None)


def cancel(request: HttpRequest, txn: str) -> HttpResponse:
    """The professional gave up: OIDC Core §3.1.2.6 / RFC 6749 §4.1.2.1 access_denied."""
    transaction = pending(request, txn)
    consume(transaction)
    req = transaction.request
    return rendering.redirect_error(
        errors.AccessDenied("The professional cancelled the login."),
        req.redirect_uri,
        req.state,
        req.response_mode,
    )
