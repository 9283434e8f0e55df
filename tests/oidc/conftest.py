"""Fixtures for the OpenID provider's tests."""

from __future__ import annotations

import pytest

from relying_parties import registry


@pytest.fixture(scope="session")
def _session_key_dir(tmp_path_factory):
    # One key directory for the whole run: generating RSA keys costs tens of milliseconds.
    return tmp_path_factory.mktemp("signing-keys")


@pytest.fixture(autouse=True)
def oidc_keys(settings, _session_key_dir):
    """Signing keys for the provider, generated on first use into a temporary directory."""
    settings.IDP_KEY_DIR = _session_key_dir
    settings.IDP_AUTOGENERATE_KEYS = True
    return _session_key_dir


@pytest.fixture(autouse=True)
def _fresh_client_cache():
    registry.forget()
    yield
    registry.forget()
