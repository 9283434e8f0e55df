"""idp.core.csp: django-csp's middleware with the settings' policy built once gives the same headers
as django-csp's own, and follows settings changes and per-response changes."""

import pytest
from csp.constants import NONE, SELF
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from idp.core.csp import CachedPolicyCSPMiddleware

HEADER = "Content-Security-Policy"
REPORT_ONLY = "Content-Security-Policy-Report-Only"


def both(path="/", prepare=lambda request, response: None):
    """The headers of django-csp's middleware and of ours, for the same request and response."""
    out = []
    for middleware_class in (CSPMiddleware, CachedPolicyCSPMiddleware):
        request = RequestFactory().get(path)
        response = HttpResponse("x")
        middleware = middleware_class(lambda r, response=response: response)
        middleware.process_request(request)
        prepare(request, response)
        result = middleware.process_response(request, response)
        out.append((result.get(HEADER), result.get(REPORT_ONLY)))
    return out


def test_same_header_as_django_csp():
    ours, theirs = both()
    assert ours == theirs
    assert "default-src 'self'" in ours[0]


@pytest.mark.parametrize(
    "prepare",
    [
        lambda request, response: setattr(response, "_csp_update", {"form-action": ["https://a"]}),
        lambda request, response: setattr(response, "_csp_replace", {"form-action": None}),
        lambda request, response: setattr(response, "_csp_exempt", True),
        lambda request, response: response.__setitem__(HEADER, "default-src 'none'"),
        lambda request, response: str(request.csp_nonce),
    ],
    ids=["update", "replace", "exempt", "already-set", "nonce"],
)
def test_per_response_changes_are_applied(prepare):
    ours, theirs = both(prepare=prepare)
    assert ours == theirs


def test_settings_changes_are_followed(settings):
    both()  # fills the cache
    settings.CONTENT_SECURITY_POLICY = {
        "EXCLUDE_URL_PREFIXES": ["/excluded"],
        "DIRECTIVES": {"default-src": [NONE]},
    }
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": [SELF]}}
    ours, theirs = both()
    assert ours == theirs == ("default-src 'none'", "default-src 'self'")
    ours, theirs = both("/excluded/page")
    assert ours == theirs == (None, "default-src 'self'")


def test_nonce_is_refused_after_the_response():
    from csp.exceptions import CSPNonceError

    request = RequestFactory().get("/")
    middleware = CachedPolicyCSPMiddleware(lambda r: HttpResponse())
    middleware.process_request(request)
    middleware.process_response(request, HttpResponse())
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
