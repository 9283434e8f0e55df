"""Setup tokens for the benchmark, minted with the provider's own functions in the bench database.

Run by ``bench/run.py`` (``python -m bench.mint OUT.json --client-id ID --refresh N``) in the bench
environment. What a completed code flow would leave behind, without enabling the test login
(``IDP_TEST_LOGIN``) on the measured server:

* SSO sessions for the first demonstration professional (``idp.oidc.sessions.start``);
* ``N`` refresh tokens, each the head of its own grant and SSO session
  (``grants._new_refresh_token``: the same keyed hash and row as the token endpoint writes), the
  seeds of the rotation chains;
* one access token (``tokens.issue_access_token``: the signed JWT a code exchange returns) for the
  UserInfo and introspection scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from datetime import timedelta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--refresh", type=int, default=0)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")
    import django

    django.setup()
    from django.utils import timezone

    from idp.accounts.models import Professional
    from idp.oidc import sessions, tokens
    from idp.oidc.models import SessionClient
    from idp.oidc.protocol import grants
    from relying_parties.registry import get_client

    client = get_client(args.client_id)
    if client is None:
        raise SystemExit(f"unknown client {args.client_id}")
    professional = Professional.objects.filter(status=Professional.Status.ACTIVE).order_by("pk")[0]
    claims = tokens.load_professional(professional.pk)

    def login() -> object:
        # One SSO session per grant, as separate logins would leave (32 chains refreshing inside
        # ONE session would all queue on that session's row: grants.refresh_token updates its
        # last_active_at inside the rotation transaction).
        session = sessions.start(
            None, professional=professional, acr="eidas1", amr=["pwd"], auth_mode="CARD"
        )
        SessionClient.objects.get_or_create(session=session, client_id=client.client_id)
        return session

    now = timezone.now()
    scope = "openid scope_all"
    refresh = []
    for _ in range(args.refresh):
        session = login()
        refresh.append(
            grants._new_refresh_token(
                client_id=client.client_id,
                grant_id=secrets.token_urlsafe(24),
                professional_id=professional.pk,
                session=session,
                scope=scope,
                claims=None,
                acr=session.acr,
                amr=list(session.amr),
                auth_time=session.auth_time,
                x5t_s256="",
                now=now,
                expires_at=min(
                    now + timedelta(seconds=client.refresh_token_lifetime), session.expires_at
                ),
            )
        )
    session = login()
    access = tokens.issue_access_token(
        client=client,
        scope=scope,
        professional=claims,
        gid=secrets.token_urlsafe(24),
        sid=session.sid,
        auth_time=session.auth_time,
        acr=session.acr,
        auth_mode=session.auth_mode,
    )
    with open(args.out, "w") as fh:
        json.dump({"access_token": access.value, "refresh_tokens": refresh, "sub": claims.sub}, fh)


if __name__ == "__main__":
    main()
