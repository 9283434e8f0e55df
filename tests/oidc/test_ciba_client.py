"""Registering a client for CIBA: model rules, ``create_client`` options, the admin form."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from relying_parties import registry
from relying_parties.models import CIBA_GRANT_TYPE, Client
from tests.authn.helpers import make_staff, verified_admin_client
from tests.oidc.ciba import GRANT_TYPE, make_ciba_client
from tests.oidc.factories import make_client

pytestmark = pytest.mark.django_db


def test_one_grant_type_name_on_both_sides():
    assert CIBA_GRANT_TYPE == GRANT_TYPE == "urn:openid:params:grant-type:ciba"


def test_registry_snapshot_carries_the_ciba_settings():
    model, _ = make_ciba_client("ping", ciba_notification_endpoint="https://rp.example.fr/n")
    snapshot = registry.get_client(model.client_id)
    assert snapshot.ciba_mode == "ping"
    assert snapshot.ciba_notification_endpoint == "https://rp.example.fr/n"
    make_client(client_id="plain")
    assert registry.get_client("plain").ciba_mode == ""


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ciba_mode": "poll", "grant_types": ["refresh_token"]}, "grant_types"),
        ({"ciba_mode": "", "grant_types": [CIBA_GRANT_TYPE]}, "ciba_mode"),
        ({"ciba_mode": "ping"}, "ciba_notification_endpoint"),
        (
            {"ciba_mode": "poll", "ciba_notification_endpoint": "https://rp.example.fr/n"},
            "ciba_notification_endpoint",
        ),
        (
            {
                "ciba_mode": "poll",
                "token_endpoint_auth_method": "none",
                "grant_types": [CIBA_GRANT_TYPE],
            },
            "ciba_mode",
        ),
        ({"ciba_mode": "push"}, "ciba_mode"),
    ],
)
def test_inconsistent_ciba_registrations_are_refused(overrides, field):
    metadata = {"grant_types": ["refresh_token", CIBA_GRANT_TYPE], **overrides}
    with pytest.raises(ValidationError) as raised:
        make_client(**metadata)
    assert field in raised.value.message_dict
    assert not Client.objects.exists()


def _run(*args: str) -> dict:
    out = StringIO()
    call_command("create_client", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_create_client_ciba_ping_adds_the_grant_type():
    created = _run(
        "--name",
        "Logiciel",
        "--grant-type",
        "refresh_token",
        "--ciba-mode",
        "ping",
        "--ciba-notification-endpoint",
        "https://logiciel.example.fr/ciba",
    )
    client = Client.objects.get(client_id=created["client_id"])
    assert client.ciba_mode == "ping"
    assert client.ciba_notification_endpoint == "https://logiciel.example.fr/ciba"
    assert client.grant_types == ["refresh_token", CIBA_GRANT_TYPE]
    assert created["client_secret"]


def test_create_client_ciba_poll():
    created = _run("--name", "Poll", "--grant-type", CIBA_GRANT_TYPE, "--ciba-mode", "poll")
    client = Client.objects.get(client_id=created["client_id"])
    assert (client.ciba_mode, client.grant_types) == ("poll", [CIBA_GRANT_TYPE])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ciba-mode", "ping"], "needs --ciba-notification-endpoint"),
        (
            ["--ciba-mode", "poll", "--ciba-notification-endpoint", "https://rp.example.fr/n"],
            "only for --ciba-mode ping",
        ),
        (["--grant-type", CIBA_GRANT_TYPE], "needs --ciba-mode"),
        (
            ["--ciba-mode", "ping", "--ciba-notification-endpoint", "http://rp.example.fr/n"],
            "https is required",
        ),
        (
            ["--ciba-mode", "ping", "--ciba-notification-endpoint", "https://rp.example.fr/n#x"],
            "fragment",
        ),
        (["--ciba-mode", "poll", "--auth-method", "none"], "public client"),
    ],
)
def test_create_client_refuses_bad_ciba_options(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_client", "--name", "X", "--grant-type", "refresh_token", *args)
    assert not Client.objects.exists()


def _admin_form(**changes: str) -> dict[str, str]:
    data = {
        "name": "Logiciel",
        "application_type": "web",
        "token_endpoint_auth_method": "client_secret_basic",
        "jwks": "null",
        "redirect_uris": "[]",
        "post_logout_redirect_uris": "[]",
        "grant_types": json.dumps(["refresh_token", CIBA_GRANT_TYPE]),
        "response_types": "[]",
        "allowed_scopes": '["openid", "scope_all"]',
        "id_token_signed_response_alg": "RS256",
        "access_token_signed_response_alg": "RS256",
        "userinfo_signed_response_alg": "",
        "ciba_mode": "ping",
        "ciba_notification_endpoint": "https://rp.example.fr/ciba",
    }
    data.update(changes)
    return data


def test_admin_enables_ciba_ping(client):
    admin = verified_admin_client(client, make_staff())
    model, _ = make_client()
    response = admin.post(
        reverse("admin:relying_parties_client_change", args=[model.pk]), _admin_form()
    )
    assert response.status_code == 302, response.content[:3000]
    model.refresh_from_db()
    assert model.ciba_mode == "ping"
    assert model.ciba_notification_endpoint == "https://rp.example.fr/ciba"


@pytest.mark.parametrize(
    "changes",
    [
        {"ciba_notification_endpoint": "http://rp.example.fr/ciba"},
        {"ciba_notification_endpoint": ""},
        {"grant_types": '["refresh_token"]'},
    ],
)
def test_admin_refuses_bad_ciba_settings(client, changes):
    admin = verified_admin_client(client, make_staff())
    model, _ = make_client()
    response = admin.post(
        reverse("admin:relying_parties_client_change", args=[model.pk]), _admin_form(**changes)
    )
    assert response.status_code == 200  # the form again, with the error
    assert 'class="errorlist' in response.content.decode()
    model.refresh_from_db()
    assert model.ciba_mode == "" and model.ciba_notification_endpoint == ""
