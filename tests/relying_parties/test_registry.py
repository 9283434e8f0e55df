import pytest

from relying_parties import registry
from relying_parties.models import Client
from tests.oidc.factories import make_client

pytestmark = pytest.mark.django_db


def test_secret_is_shown_once_and_stored_as_a_keyed_hash():
    client, secret = make_client()
    assert secret
    assert secret not in client.secret_hash
    snapshot = registry.get_client(client.client_id)
    assert snapshot is not None
    assert snapshot.check_secret(secret)
    assert not snapshot.check_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not snapshot.check_secret("")


def test_public_and_key_based_clients_have_no_secret():
    public, secret = make_client(token_endpoint_auth_method=Client.AuthMethod.NONE)
    assert secret == ""
    snapshot = registry.get_client(public.client_id)
    assert snapshot.is_public
    assert not snapshot.check_secret("")


def test_inactive_and_unknown_clients_are_not_found():
    client, _ = make_client()
    Client.objects.filter(pk=client.pk).update(is_active=False)
    registry.forget(client.client_id)
    assert registry.get_client(client.client_id) is None
    assert registry.get_client("nope") is None


def test_default_lifetimes_come_from_settings(settings):
    settings.IDP_ACCESS_TOKEN_SECONDS = 120
    client, _ = make_client(refresh_token_lifetime=600)
    snapshot = registry.get_client(client.client_id)
    assert snapshot.access_token_lifetime == 120
    assert snapshot.refresh_token_lifetime == 600
    assert snapshot.redirect_uris == ("https://rp.example.fr/callback",)
    assert "authorization_code" in snapshot.grant_types


@pytest.mark.parametrize("field", ["access_token_lifetime", "id_token_lifetime"])
def test_token_lifetimes_are_capped_at_a_day(field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        make_client(**{field: 86_401})
    assert field in error.value.message_dict
    client, _ = make_client(**{field: 86_400})
    assert getattr(client, field) == 86_400


def test_a_registered_jwks_holds_public_keys_only():
    from django.core.exceptions import ValidationError
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", auto_kid=True)
    with pytest.raises(ValidationError) as error:
        make_client(
            token_endpoint_auth_method=Client.AuthMethod.PRIVATE_KEY_JWT,
            jwks={"keys": [key.as_dict(private=True)]},
        )
    assert "jwks" in error.value.message_dict
    client, _ = make_client(
        token_endpoint_auth_method=Client.AuthMethod.PRIVATE_KEY_JWT,
        jwks={"keys": [key.as_dict(private=False)]},
    )
    assert client.jwks["keys"][0]["kid"] == key.kid
