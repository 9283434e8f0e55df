"""Fixtures for the OpenID provider's tests.

The signing keys (``oidc_keys``) and the fresh client cache are in tests/conftest.py: the
interoperability tests need them too.
"""
