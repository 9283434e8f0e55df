"""Machine-to-machine endpoints served through a lean middleware stack.

The token, UserInfo, introspection, revocation, CIBA, discovery and JWKS endpoints are called by
relying parties' servers, thousands of times a second, and use neither sessions, users, CSRF,
messages, locale negotiation nor HTML: through Django's full middleware stack, that stack cost
more than the views themselves (docs/benchmarks.md). So the WSGI entry point routes those exact
paths to a second Django handler whose middleware is only what they need: the trusted-proxy
client address, the Host check, and SecurityMiddleware (HSTS, nosniff, referrer policy, https
redirect). Pages (authorization, login, logout, admin) keep the full stack.

The paths are the named routes of ``idp.oidc.urls`` under the issuer, resolved once, the
card app's API (``/api/card/``), whose requests are signed by the device and carry no cookie, and
the card login's status (``/login/<txn>/card/<id>/status``), polled every second by the waiting
page: it reads the ``caducee_txn`` cookie and the signed transaction (no Django session, user or
locale) and sets its own no-framing headers (idp/authn/card/login.py). Its ``POST``, the page's
poll, checks the page's CSRF token in the view (``csrf_protect``) and, once the holder approved,
completes the login there: the SSO session, the code and their journal events, the session's
cookie. Only a completed login's JSON answer leaves; a refused completion's page is not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.urls import reverse
from django.utils.module_loading import import_string

#: Routes (``oidc:<name>``) served through the lean stack.
PROTOCOL_ROUTES = (
    "discovery",
    "discovery_wallet",
    "discovery_oauth",
    "jwks",
    "token",
    "userinfo",
    "introspect",
    "revoke",
    "ciba",
)
#: Path prefixes served through the lean stack: the card app's API (signed requests, no cookie).
PROTOCOL_PREFIXES = ("/api/card/",)


def is_lean_path(path: str) -> bool:
    """A login page path served through the lean stack: ``/login/<txn>/card/<id>/status``."""
    if not (path.startswith("/login/") and path.endswith("/status")):
        return False
    parts = path.split("/")  # "", "login", txn, "card", id, "status"
    return len(parts) == 6 and parts[3] == "card" and all(parts[2:5])


LEAN_MIDDLEWARE = (
    "idp.core.proxy.TrustedProxyMiddleware",
    "idp.core.protocol_handler.AllowedHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
)


class AllowedHostMiddleware:
    """Refuse a Host outside ALLOWED_HOSTS (400), as CommonMiddleware does on the full stack."""

    def __init__(self, get_response: Callable[..., Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request.get_host()  # raises DisallowedHost, rendered as 400 by the handler
        return self.get_response(request)


class LeanWSGIHandler(WSGIHandler):
    """A Django WSGI handler with its own, short middleware list (synchronous middleware only)."""

    def __init__(self, middleware: Iterable[str] = LEAN_MIDDLEWARE) -> None:
        self._middleware_paths = tuple(middleware)
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler.load_middleware reads settings.MIDDLEWARE; this is its synchronous path for
        # a given list. The lean middleware have no view, template or exception hooks.
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(self._middleware_paths):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler


class ProtocolRouter:
    """WSGI application: protocol endpoints to the lean handler, everything else to Django's."""

    def __init__(self, pages: Callable[..., Any], protocol: Callable[..., Any]) -> None:
        self.pages = pages
        self.protocol = protocol
        self._paths: frozenset[str] | None = None

    @property
    def paths(self) -> frozenset[str]:
        if self._paths is None:
            self._paths = frozenset(reverse(f"oidc:{name}") for name in PROTOCOL_ROUTES)
        return self._paths

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        lean = path in self.paths or path.startswith(PROTOCOL_PREFIXES) or is_lean_path(path)
        handler = self.protocol if lean else self.pages
        return handler(environ, start_response)
