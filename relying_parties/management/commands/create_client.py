"""``manage.py create_client``: register a relying party and print its secret once.

Example::

    manage.py create_client --name "DMP" --redirect-uri https://dmp.example.fr/cb \\
        --grant-type authorization_code --grant-type refresh_token --scope openid --scope scope_all

CIBA (OpenID CIBA Core 1.0, the card app approves a request the service sends without a browser)::

    manage.py create_client --name "Logiciel" --grant-type refresh_token --ciba-mode ping \\
        --ciba-notification-endpoint https://logiciel.example.fr/ciba/notify

``--ciba-mode`` adds the CIBA grant type; the notification endpoint (ping mode only) follows the
rules of back-channel logout URIs.

The secret is printed once and never stored in clear (only its keyed hash: idp.core.hashing);
``--json`` prints one JSON object for scripts. Redirect URIs follow RFC 6749 §3.1.2 and OAuth 2.0
Security BCP (RFC 9700 §4.1): absolute, https (plain http only on a loopback IP, RFC 8252 §7.3),
no fragment, no wildcard. The registration is journaled (``oidc:client:created``), secret excluded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.audit.journal import record
from idp.audit.tags import EventTag
from relying_parties.models import CIBA_GRANT_TYPE, Client
from relying_parties.registry import create_client

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", CIBA_GRANT_TYPE)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def validate_uri(uri: str, *, what: str) -> str:
    """An absolute https URI (http only on loopback), without fragment, userinfo or wildcard."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError as exc:
        raise CommandError(f"{what} {uri!r}: malformed ({exc}).") from None
    if "*" in uri:
        raise CommandError(f"{what} {uri!r}: wildcards are not allowed (exact match only).")
    if parts.fragment or "#" in uri:
        raise CommandError(f"{what} {uri!r}: a fragment is not allowed (RFC 6749 §3.1.2).")
    if not parts.scheme or not parts.hostname:
        raise CommandError(f"{what} {uri!r}: must be an absolute URI.")
    if "@" in parts.netloc:
        raise CommandError(f"{what} {uri!r}: user information is not allowed.")
    if parts.scheme == "https":
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return uri  # development, tests and native apps (RFC 8252 §7.3)
    raise CommandError(f"{what} {uri!r}: https is required (http only on a loopback address).")


class Command(BaseCommand):
    help = "Register a relying party (OAuth client) and print its client_id and secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--client-id", help="Default: a random identifier.")
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        parser.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            default=[],
            dest="post_logout_redirect_uris",
        )
        parser.add_argument(
            "--grant-type",
            action="append",
            choices=GRANT_TYPES,
            dest="grant_types",
            help="Repeatable. Default: authorization_code and refresh_token.",
        )
        parser.add_argument(
            "--auth-method",
            choices=Client.AuthMethod.values,
            default=Client.AuthMethod.CLIENT_SECRET_BASIC,
        )
        parser.add_argument(
            "--scope", action="append", dest="scopes", help="Repeatable. Default: openid scope_all."
        )
        parser.add_argument("--backchannel-logout-uri", default="")
        parser.add_argument(
            "--ciba-mode",
            choices=[m for m in Client.CibaMode.values if m],
            default="",
            help="Enable CIBA (OpenID CIBA Core 1.0) in poll or ping mode.",
        )
        parser.add_argument(
            "--ciba-notification-endpoint", default="", help="https URI (CIBA ping mode)."
        )
        parser.add_argument("--jwks-file", type=Path, help="Public JWKS (private_key_jwt).")
        parser.add_argument("--tls-subject-dn", default="", help="RFC 4514 DN (tls_client_auth).")
        parser.add_argument("--id-token-alg", choices=Client.SigningAlg.values, default="RS256")
        parser.add_argument("--access-token-alg", choices=Client.SigningAlg.values, default="RS256")
        parser.add_argument("--access-token-lifetime", type=int, help="Seconds.")
        parser.add_argument("--refresh-token-lifetime", type=int, help="Seconds.")
        parser.add_argument(
            "--application-type", choices=Client.ApplicationType.values, default="web"
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        metadata = self._metadata(options)
        try:
            client, secret = create_client(
                name=options["name"], client_id=options["client_id"], **metadata
            )
        except ValidationError as exc:
            raise CommandError(f"Invalid client: {'; '.join(exc.messages)}") from None
        record(
            EventTag.OIDC_CLIENT_CREATED,
            actor="system:manage.py",
            subject=f"client:{client.client_id}",
            data={
                "client_id": client.client_id,
                "name": client.name,
                "auth_method": client.token_endpoint_auth_method,
                "grant_types": client.grant_types,
                "redirect_uris": client.redirect_uris,
                "scopes": client.allowed_scopes,
            },
        )
        if options["json"]:
            payload = {"client_id": client.client_id, "client_secret": secret or None}
            payload.update({k: getattr(client, k) for k in ("name", "token_endpoint_auth_method")})
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write(f"client_id:     {client.client_id}")
        if secret:
            self.stdout.write(f"client_secret: {secret}")
            self.stdout.write(
                self.style.WARNING("The secret is shown once and cannot be recovered; store it.")
            )
        else:
            self.stdout.write(f"no secret ({client.token_endpoint_auth_method})")

    def _metadata(self, options: dict[str, Any]) -> dict[str, Any]:
        method = options["auth_method"]
        grant_types = options["grant_types"] or ["authorization_code", "refresh_token"]
        redirect_uris = [validate_uri(u, what="redirect URI") for u in options["redirect_uris"]]
        post_logout = [
            validate_uri(u, what="post-logout redirect URI")
            for u in options["post_logout_redirect_uris"]
        ]
        backchannel = options["backchannel_logout_uri"]
        if backchannel:
            validate_uri(backchannel, what="back-channel logout URI")
        ciba_mode = options.get("ciba_mode") or ""
        ciba_endpoint = options.get("ciba_notification_endpoint") or ""
        if ciba_endpoint:
            validate_uri(ciba_endpoint, what="CIBA notification endpoint")
        if ciba_mode and CIBA_GRANT_TYPE not in grant_types:
            grant_types = [*grant_types, CIBA_GRANT_TYPE]
        if CIBA_GRANT_TYPE in grant_types and not ciba_mode:
            raise CommandError(f"{CIBA_GRANT_TYPE} needs --ciba-mode (poll or ping).")
        if ciba_mode == "ping" and not ciba_endpoint:
            raise CommandError("--ciba-mode ping needs --ciba-notification-endpoint.")
        if ciba_endpoint and ciba_mode != "ping":
            raise CommandError("--ciba-notification-endpoint is only for --ciba-mode ping.")
        if ciba_mode and method == Client.AuthMethod.NONE:
            raise CommandError("A public client (none) cannot use CIBA.")
        if "authorization_code" in grant_types and not redirect_uris:
            raise CommandError("authorization_code needs at least one --redirect-uri.")
        if method == Client.AuthMethod.NONE and "client_credentials" in grant_types:
            raise CommandError("A public client (none) cannot use client_credentials.")

        jwks = None
        if method == Client.AuthMethod.PRIVATE_KEY_JWT:
            if not options["jwks_file"]:
                raise CommandError("private_key_jwt needs --jwks-file.")
            jwks = self._jwks(options["jwks_file"])
        elif options["jwks_file"]:
            raise CommandError("--jwks-file is only for private_key_jwt.")

        subject_dn = options["tls_subject_dn"]
        if method == Client.AuthMethod.TLS_CLIENT_AUTH:
            if not subject_dn:
                raise CommandError("tls_client_auth needs --tls-subject-dn.")
            try:
                subject_dn = x509.Name.from_rfc4514_string(subject_dn).rfc4514_string()
            except ValueError as exc:
                raise CommandError(f"--tls-subject-dn: not an RFC 4514 DN ({exc}).") from None
        elif subject_dn:
            raise CommandError("--tls-subject-dn is only for tls_client_auth.")

        for name in ("access_token_lifetime", "refresh_token_lifetime"):
            if options[name] is not None and options[name] < 10:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 10 seconds.")

        return {
            "application_type": options["application_type"],
            "token_endpoint_auth_method": method,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout,
            "backchannel_logout_uri": backchannel,
            "ciba_mode": ciba_mode,
            "ciba_notification_endpoint": ciba_endpoint,
            "grant_types": grant_types,
            "response_types": ["code"] if "authorization_code" in grant_types else [],
            "allowed_scopes": options["scopes"] or ["openid", "scope_all"],
            "jwks": jwks,
            "tls_client_auth_subject_dn": subject_dn,
            "id_token_signed_response_alg": options["id_token_alg"],
            "access_token_signed_response_alg": options["access_token_alg"],
            "access_token_lifetime": options["access_token_lifetime"],
            "refresh_token_lifetime": options["refresh_token_lifetime"],
            "require_pkce": True,
        }

    def _jwks(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
            keyset = KeySet.import_key_set(data)
        except (OSError, ValueError, JoseError) as exc:
            raise CommandError(f"--jwks-file: unreadable JWKS ({exc}).") from None
        if not keyset.keys:
            raise CommandError("--jwks-file: no usable key.")
        if any(key.is_private for key in keyset.keys):
            raise CommandError("--jwks-file holds a private key: register the public keys only.")
        return keyset.as_dict(private=False)
