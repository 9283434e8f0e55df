"""The reference app knows every error code the server can answer (the API contract)."""

from __future__ import annotations

from card_app.errors import ERROR_CODES
from idp.authn.card.errors import CATALOGUE


def test_the_app_and_the_server_share_one_catalogue():
    # method_not_allowed comes from the API plumbing (a wrong HTTP method), not from a service.
    assert set(CATALOGUE) == ERROR_CODES - {"method_not_allowed"}
