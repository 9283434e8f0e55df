"""django-csp's middleware, with the policy of the settings built once instead of per response.

django-csp 4.0 rebuilds the header from ``CONTENT_SECURITY_POLICY`` on every response
(``dataclasses.asdict`` of its policy parts, then ``csp.utils.build_policy``), although without a
per-response change nor a nonce the result depends on the settings alone. This subclass keeps
that result (and the report-only one) until a ``setting_changed`` signal (tests) drops it.

Only the plain case takes the short cut: a response carrying django-csp's per-response attributes
(``_csp_update``, ``_csp_replace``, ``_csp_config`` and their ``_ro`` twins: the login page's
``form-action``, the form_post page) or a request whose nonce was used goes through django-csp's
own ``process_response`` unchanged.
"""

from __future__ import annotations

import http.client
from functools import lru_cache

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_DEBUG_EXEMPT = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)


@lru_cache(maxsize=1)
def _settings_policies() -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
    """The header and report-only header of the settings, with their excluded URL prefixes."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) or {}
    return (
        build_policy(),
        tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ()),
        build_policy(report_only=True),
        tuple(report_only.get("EXCLUDE_URL_PREFIXES", None) or ()),
    )


@receiver(setting_changed)
def _forget_policies(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _settings_policies.cache_clear()


class CachedPolicyCSPMiddleware(CSPMiddleware):
    """``csp.middleware.CSPMiddleware``, the settings' policy built once."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in _DEBUG_EXEMPT and settings.DEBUG:
            return response
        csp, prefixes, csp_ro, prefixes_ro = _settings_policies()
        # As django-csp: a header already set, an exempted response or an excluded path keeps its
        # own (or none).
        path = request.path_info
        if (
            csp
            and HEADER not in response
            and getattr(response, "_csp_exempt", False) is False
            and not path.startswith(prefixes)
        ):
            response[HEADER] = csp
        if (
            csp_ro
            and HEADER_REPORT_ONLY not in response
            and getattr(response, "_csp_exempt_ro", False) is False
            and not path.startswith(prefixes_ro)
        ):
            response[HEADER_REPORT_ONLY] = csp_ro
        # The nonce was not used: asking for it now would be too late (django-csp raises).
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
