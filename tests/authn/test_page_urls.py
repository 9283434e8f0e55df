"""The login page's URLs are reverse()'s, for any transaction and script prefix."""

import pytest
from django.urls import NoReverseMatch, clear_script_prefix, reverse, set_script_prefix

from idp.authn import page_urls

TRANSACTIONS = [
    "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl",  # what interaction issues
    "a:b~c@d!$&'()*+,;=",  # kept as they are in a path
    'é à ?#%20 "<>`{}|\\^[]',  # quoted
    "caduceeTransactionPlaceholder",  # the placeholder itself
    "x" * 2000,
]


@pytest.mark.parametrize("txn", TRANSACTIONS)
def test_each_url_is_what_reverse_gives(txn):
    urls = page_urls.for_transaction(txn)
    assert urls == {name: reverse(f"authn:{name}", args=[txn]) for name in page_urls.ROUTES}
    assert urls["card_start"].startswith("/login/") and urls["card_start"].endswith("/card")


def test_under_a_script_prefix():
    set_script_prefix("/sso/")
    try:
        urls = page_urls.for_transaction("t1")
        assert urls["cancel"] == reverse("authn:cancel", args=["t1"]) == "/sso/login/t1/cancel"
        assert page_urls.language_switch("/sso/") == reverse("set_language")
    finally:
        clear_script_prefix()
    assert page_urls.for_transaction("t1")["cancel"] == "/login/t1/cancel"


@pytest.mark.parametrize("txn", ["", "a/b"])
def test_what_is_not_a_path_segment_is_refused_as_reverse_refuses_it(txn):
    with pytest.raises(NoReverseMatch):
        page_urls.for_transaction(txn)
