"""Relying parties' admin through HTTP: secret never shown, rotation shows it once, journaled."""

from __future__ import annotations

import pytest
from django.urls import reverse

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from relying_parties import registry
from relying_parties.models import Client
from tests.authn.helpers import make_staff, verified_admin_client
from tests.oidc.factories import make_client
from tests.oidc.grant_helpers import basic, post_token

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:relying_parties_client_changelist"


@pytest.fixture
def admin_client(client):
    return verified_admin_client(client, make_staff())


def _secret_from(response) -> str:
    html = response.content.decode()
    start = html.index('<code class="client-secret">') + len('<code class="client-secret">')
    return html[start : html.index("</code>", start)]


def test_change_page_never_shows_the_secret(admin_client):
    model, secret = make_client()
    response = admin_client.get(reverse("admin:relying_parties_client_change", args=[model.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert model.client_id in page
    assert secret not in page
    assert model.secret_hash not in page
    assert 'name="secret_hash"' not in page


def test_rotate_secret_asks_then_shows_the_new_secret_once(admin_client, client):
    model, old_secret = make_client()
    data = {"action": "rotate_secret", "_selected_action": [model.pk]}
    confirm = admin_client.post(reverse(CHANGELIST), data)
    assert confirm.status_code == 200
    assert Client.objects.get(pk=model.pk).secret_hash == model.secret_hash  # not yet

    shown = admin_client.post(reverse(CHANGELIST), {**data, "apply": "yes"})
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    new_secret = _secret_from(shown)
    assert new_secret and new_secret != old_secret

    registry.forget()
    cc = {"grant_type": "client_credentials"}
    assert post_token(client, cc, auth=basic(model.client_id, new_secret)).status_code == 200
    assert post_token(client, cc, auth=basic(model.client_id, old_secret)).status_code == 401

    event = AuditEvent.objects.get(tag=EventTag.OIDC_CLIENT_SECRET_ROTATED)
    assert event.actor == "admin:alice"
    assert event.data["client_id"] == model.client_id
    assert new_secret not in str(event.data)
    # Not shown again anywhere.
    page = admin_client.get(reverse("admin:relying_parties_client_change", args=[model.pk]))
    assert new_secret not in page.content.decode()
    listing = admin_client.get(reverse(CHANGELIST))
    assert new_secret not in listing.content.decode()


def test_rotate_skips_clients_without_secret(admin_client):
    model, _ = make_client(token_endpoint_auth_method=Client.AuthMethod.NONE)
    data = {"action": "rotate_secret", "_selected_action": [model.pk], "apply": "yes"}
    response = admin_client.post(reverse(CHANGELIST), data)
    assert response.status_code == 302
    assert Client.objects.get(pk=model.pk).secret_hash == ""


def test_adding_a_client_shows_its_secret_once(admin_client, client):
    response = admin_client.post(
        reverse("admin:relying_parties_client_add"),
        {
            "client_id": "",
            "name": "Nouveau",
            "is_active": "on",
            "application_type": "web",
            "token_endpoint_auth_method": "client_secret_basic",
            "jwks": "null",
            "redirect_uris": '["https://new.example.fr/cb"]',
            "post_logout_redirect_uris": "[]",
            "grant_types": '["authorization_code", "client_credentials"]',
            "response_types": '["code"]',
            "allowed_scopes": '["openid", "scope_all"]',
            "require_pkce": "on",
            "id_token_signed_response_alg": "RS256",
            "access_token_signed_response_alg": "RS256",
            "userinfo_signed_response_alg": "",
        },
    )
    assert response.status_code == 200, response.content[:2000]
    secret = _secret_from(response)
    created = Client.objects.get(name="Nouveau")
    assert created.client_id and secret not in created.secret_hash
    assert AuditEvent.objects.filter(tag="oidc:client:created", data__name="Nouveau").exists()
    cc = {"grant_type": "client_credentials"}
    assert post_token(client, cc, auth=basic(created.client_id, secret)).status_code == 200


def test_http_redirect_uri_is_refused_in_the_admin(admin_client):
    model, _ = make_client()
    response = admin_client.post(
        reverse("admin:relying_parties_client_change", args=[model.pk]),
        {
            "name": model.name,
            "application_type": "web",
            "token_endpoint_auth_method": "client_secret_basic",
            "jwks": "null",
            "redirect_uris": '["http://evil.example/cb#x"]',
            "post_logout_redirect_uris": "[]",
            "grant_types": '["authorization_code"]',
            "response_types": '["code"]',
            "allowed_scopes": '["openid"]',
            "id_token_signed_response_alg": "RS256",
            "access_token_signed_response_alg": "RS256",
            "userinfo_signed_response_alg": "",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "fragment" in response.content.decode() or "https" in response.content.decode()
    assert Client.objects.get(pk=model.pk).redirect_uris == model.redirect_uris
