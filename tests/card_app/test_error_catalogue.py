"""The reference app knows every error code the server can answer (the API contract)."""

from __future__ import annotations

import re
from pathlib import Path

from card_app.errors import ERROR_CODES
from idp.authn.card.errors import CATALOGUE

SPEC = Path(__file__).resolve().parents[2] / "docs" / "api" / "card-v1.openapi.yaml"


def test_the_app_and_the_server_share_one_catalogue():
    # method_not_allowed comes from the API plumbing (a wrong HTTP method), not from a service.
    assert set(CATALOGUE) == ERROR_CODES - {"method_not_allowed"}


def test_the_openapi_enum_lists_every_code():
    text = SPEC.read_text()
    block = text[text.index("ErrorCode:") : text.index("    Error:")]
    assert set(re.findall(r"^\s+- ([a-z_]+)$", block, re.M)) == ERROR_CODES
