"""Sessions and tokens issued the way the token endpoint issues them, for resource-side tests.

Real rows, real signatures (engineer C's ``idp.oidc.tokens``): no login journey needed to test
UserInfo, introspection, revocation and logout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from idp.accounts.models import Professional
from idp.core import hashing
from idp.oidc import sessions, tokens
from idp.oidc.models import RefreshToken, SessionClient, SsoSession, new_opaque_id
from relying_parties.models import Client
from relying_parties.registry import get_client


@dataclass
class Issued:
    session: SsoSession
    grant_id: str
    access_token: str
    id_token: str
    refresh_token: str
    refresh_row: RefreshToken


def open_session(professional: Professional, *, auth_mode: str = "CARD") -> SsoSession:
    return sessions.start(
        None, professional=professional, acr="eidas1", amr=["pop", "pin"], auth_mode=auth_mode
    )


def issue(
    client: Client,
    professional: Professional,
    *,
    scope: str = "openid scope_all",
    session: SsoSession | None = None,
    auth_mode: str = "CARD",
) -> Issued:
    """An access token, ID token and refresh token for ``client`` in a (new) session."""
    session = session or open_session(professional, auth_mode=auth_mode)
    SessionClient.objects.get_or_create(session=session, client_id=client.client_id)
    registered = get_client(client.client_id)
    assert registered is not None
    claims_of = tokens.load_professional(professional.pk)
    grant_id = new_opaque_id()
    access = tokens.issue_access_token(
        client=registered,
        scope=scope,
        professional=claims_of,
        gid=grant_id,
        sid=session.sid,
        auth_time=session.auth_time,
        acr=session.acr,
        auth_mode=session.auth_mode,
    )
    id_token = tokens.issue_id_token(
        client=registered,
        professional=claims_of,
        access_token=access.value,
        nonce="n-0S6_WzA2Mj",
        auth_time=session.auth_time,
        acr=session.acr,
        amr=list(session.amr),
        sid=session.sid,
    )
    refresh = hashing.new_secret()
    now = timezone.now()
    row = RefreshToken.objects.create(
        token_hash=hashing.keyed_hash(refresh, purpose="refresh_token"),
        grant_id=grant_id,
        client_id=client.client_id,
        professional=professional,
        session=session,
        scope=scope,
        acr=session.acr,
        amr=list(session.amr),
        auth_time=session.auth_time,
        issued_at=now,
        expires_at=now + timedelta(seconds=registered.refresh_token_lifetime),
    )
    return Issued(session, grant_id, access.value, id_token.value, refresh, row)


def basic(client_id: str, secret: str) -> str:
    import base64
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()
