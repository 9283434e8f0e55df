import pytest

pytestmark = pytest.mark.django_db


def test_home_page_names_the_issuer(client, settings):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert settings.IDP_ISSUER in response.content.decode()
    assert settings.IDP_ISSUER.endswith("/auth/realms/esante-wallet")
