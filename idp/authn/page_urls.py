"""The login page's URLs for one login transaction, without a ``reverse()`` per URL.

The page shows six forms and links that all point under ``login/<txn>``: through ``{% url %}``
each was a full ``reverse()`` (namespace lookup, candidate patterns, regex check, quoting), about
a quarter of the page's rendering, and the page is shown on every login (docs/benchmarks.md,
stop 13). Each route is reversed once per script prefix with a placeholder for the transaction;
a page then only puts its transaction in, quoted as ``reverse()`` quotes a path argument
(``django.urls.resolvers.URLResolver._reverse_with_prefix``). tests/authn/test_page_urls.py
checks that the result is ``reverse()``'s for any transaction.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from django.urls import get_script_prefix, reverse
from django.utils.http import RFC3986_SUBDELIMS

#: The login routes of idp/authn/urls.py that take the transaction and nothing else.
ROUTES = ("login", "cancel", "card_start", "card_qr", "offline")

# Letters only: quoting leaves it as it is, and no route's fixed text contains it.
_PLACEHOLDER = "caduceeTransactionPlaceholder"
# What reverse() leaves unquoted in a path.
_SAFE = RFC3986_SUBDELIMS + "/~:@"


@lru_cache(maxsize=16)
def _shapes(script_prefix: str) -> dict[str, tuple[str, str]]:
    """Each route as (text before the transaction, text after it) under ``script_prefix``."""
    shapes = {}
    for name in ROUTES:
        before, found, after = reverse(f"authn:{name}", args=[_PLACEHOLDER]).partition(_PLACEHOLDER)
        if not found:  # pragma: no cover (a route changed shape: reverse() then, always)
            raise LookupError(f"authn:{name} does not carry its transaction in its path")
        shapes[name] = (before, after)
    return shapes


@lru_cache(maxsize=16)
def language_switch(script_prefix: str) -> str:
    """The language switch's URL (``set_language``) under ``script_prefix``."""
    return reverse("set_language")


def for_transaction(txn: str) -> dict[str, str]:
    """``{route name: URL}`` of :data:`ROUTES` for ``txn``, as ``reverse()`` gives them."""
    if not txn or "/" in txn:
        # Not a path segment (``<str:…>`` refuses it): reverse() raises NoReverseMatch.
        return {name: reverse(f"authn:{name}", args=[txn]) for name in ROUTES}
    quoted = quote(txn, safe=_SAFE)
    return {
        name: f"{before}{quoted}{after}"
        for name, (before, after) in _shapes(get_script_prefix()).items()
    }
