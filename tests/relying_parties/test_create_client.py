"""``manage.py create_client``: validation, secret shown once, journal, and the client works."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from joserfc.jwk import KeySet, RSAKey

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from relying_parties import registry
from relying_parties.models import Client
from tests.oidc.grant_helpers import basic, post_token

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_client", *args, stdout=out)
    return out.getvalue()


def test_creates_a_client_and_prints_its_secret_once(client):
    output = _run(
        "--name", "DMP",
        "--redirect-uri", "https://dmp.example.fr/cb",
        "--redirect-uri", "http://127.0.0.1:8080/cb",
        "--post-logout-redirect-uri", "https://dmp.example.fr/bye",
        "--grant-type", "authorization_code",
        "--grant-type", "refresh_token",
        "--grant-type", "client_credentials",
        "--scope", "openid", "--scope", "scope_all", "--scope", "api:read",
        "--backchannel-logout-uri", "https://dmp.example.fr/bcl",
        "--id-token-alg", "ES256",
        "--access-token-lifetime", "300",
    )  # fmt: skip
    lines = dict(line.split(":", 1) for line in output.splitlines() if ":" in line)
    client_id, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    model = Client.objects.get(client_id=client_id)
    assert secret not in model.secret_hash
    assert model.redirect_uris == ["https://dmp.example.fr/cb", "http://127.0.0.1:8080/cb"]
    assert model.id_token_signed_response_alg == "ES256"
    assert model.access_token_lifetime == 300
    assert model.backchannel_logout_uri == "https://dmp.example.fr/bcl"
    event = AuditEvent.objects.get(tag=EventTag.OIDC_CLIENT_CREATED)
    assert event.data["client_id"] == client_id
    assert secret not in json.dumps(event.data)
    # The printed secret works at the token endpoint.
    registry.forget()
    response = post_token(
        client, {"grant_type": "client_credentials"}, auth=basic(client_id, secret)
    )
    assert response.status_code == 200, response.content


def test_json_mode():
    payload = json.loads(
        _run("--name", "Script", "--redirect-uri", "https://s.example.fr/cb", "--json")
    )
    assert payload["client_secret"]
    assert Client.objects.filter(client_id=payload["client_id"]).exists()


def test_private_key_jwt_client_from_a_jwks_file(tmp_path):
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, auto_kid=True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KeySet([key]).as_dict(private=False)))
    payload = json.loads(
        _run(
            "--name",
            "Keys",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            str(path),
            "--json",
        )
    )
    assert payload["client_secret"] is None
    model = Client.objects.get(client_id=payload["client_id"])
    assert model.jwks["keys"][0]["kid"] == key.kid


def test_private_jwks_is_refused(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KeySet([RSAKey.generate_key(2048)]).as_dict(private=True)))
    with pytest.raises(CommandError, match="private key"):
        _run("--name", "K", "--grant-type", "client_credentials",
             "--auth-method", "private_key_jwt", "--jwks-file", str(path))  # fmt: skip


def test_tls_client_auth_dn_is_normalised():
    payload = json.loads(
        _run(
            "--name",
            "mTLS",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "tls_client_auth",
            "--tls-subject-dn",
            "CN=svc,O=Org,C=FR",
            "--json",
        )
    )
    assert Client.objects.get(client_id=payload["client_id"]).tls_client_auth_subject_dn == (
        "CN=svc,O=Org,C=FR"
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://dmp.example.fr/cb", "https is required"),
        ("https://dmp.example.fr/cb#frag", "fragment"),
        ("https://*.example.fr/cb", "wildcard"),
        ("https://user@dmp.example.fr/cb", "user information"),
        ("/relative/cb", "absolute"),
        ("https://dmp.example.fr:99999/cb", "malformed"),
    ],
)
def test_bad_redirect_uris_are_refused(uri, message):
    with pytest.raises(CommandError, match=message):
        _run("--name", "Bad", "--redirect-uri", uri)
    assert not Client.objects.exists()
    assert not AuditEvent.objects.filter(tag=EventTag.OIDC_CLIENT_CREATED).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grant-type", "authorization_code"], "needs at least one --redirect-uri"),
        (["--auth-method", "private_key_jwt", "--grant-type", "client_credentials"], "jwks-file"),
        (["--auth-method", "tls_client_auth", "--grant-type", "client_credentials"], "subject-dn"),
        (["--auth-method", "none", "--grant-type", "client_credentials"], "public client"),
        (["--grant-type", "client_credentials", "--tls-subject-dn", "CN=x"], "only for"),
        (["--grant-type", "client_credentials", "--access-token-lifetime", "1"], "at least"),
        (
            ["--grant-type", "client_credentials", "--post-logout-redirect-uri", "http://x.fr/"],
            "https",
        ),
    ],
)
def test_inconsistent_options_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        _run("--name", "Bad", *args)
    assert not Client.objects.exists()
