"""The HTTP half of the forged-access-token attacks: a forgery built from the claims of a genuine,
live access token is refused by UserInfo and introspection, and nothing changes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from django.conf import settings

from tests.oidc.grant_helpers import form_post

USERINFO = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/userinfo"
INTROSPECT = f"/auth/realms/{settings.IDP_REALM}/protocol/openid-connect/token/introspect"


def _payload(token: str) -> dict:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def assert_forgery_refused_over_http(client, forge: Callable[[dict], str]) -> None:
    """``forge`` re-wraps the claims of a genuine token; the endpoints must refuse the result."""
    from idp.audit.models import AuditEvent
    from tests.oidc.factories import make_client, make_doctor_with_two_activities
    from tests.oidc.issued import basic, issue

    victim = make_doctor_with_two_activities()
    rp, secret = make_client()
    genuine = issue(rp, victim).access_token
    # Control: the genuine token opens UserInfo, so the refusals below are the forgery's doing.
    assert client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {genuine}").status_code == 200
    forged = forge(_payload(genuine))
    events = AuditEvent.objects.count()

    response = client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert victim.sub not in response.content.decode()
    response = form_post(
        client, INTROSPECT, {"token": forged}, HTTP_AUTHORIZATION=basic(rp.client_id, secret)
    )
    assert response.status_code == 200
    assert response.json() == {"active": False}
    assert AuditEvent.objects.count() == events
    # The genuine token is untouched by the attempts.
    assert client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {genuine}").status_code == 200
