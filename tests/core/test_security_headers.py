"""Strict HTTP security defaults on every page."""

import pytest

pytestmark = pytest.mark.django_db


def test_pages_carry_the_security_headers(client):
    response = client.get("/", secure=True)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp


def test_hsts_outside_debug(client):
    response = client.get("/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "includeSubDomains" in response["Strict-Transport-Security"]


def test_plain_http_is_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/?x=1")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/?x=1"


def test_cookies_are_secure_and_host_bound_outside_debug(settings):
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CSRF_COOKIE_SECURE is True
    assert settings.SESSION_COOKIE_NAME.startswith("__Host-")
    assert settings.CSRF_COOKIE_NAME.startswith("__Host-")
    assert settings.SESSION_COOKIE_HTTPONLY is True


def test_home_page_speaks_french_by_default_and_english_on_request(client):
    french = client.get("/", secure=True).content.decode()
    english = client.get("/", secure=True, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="fr"' in french
    assert "Pour les services utilisateurs" in french
    assert 'lang="en"' in english
    assert "For relying services" in english
