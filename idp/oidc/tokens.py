"""Access tokens and ID tokens: what they say, how they are signed, how an access token is checked.

Access tokens are JWTs shaped like Pro Santé Connect's (Keycloak) and RFC 9068's: header
``typ: JWT`` as PSC sends it (psc-compat.md § Tokens), claim ``typ: "Bearer"``; ID tokens carry
claim ``typ: "ID"`` (Keycloak does the same), which is how one is never accepted for the other.

``aud`` of an access token is the client it was issued to (PSC relying parties read ``azp`` and
``aud`` as their own client id); resource indicators (RFC 8707) are not supported yet.

Nothing is stored for an access token: the revocation check (:mod:`idp.oidc.revocation`) reads
the ``jti``, the grant id ``gid`` and the session id ``sid`` it carries.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import OuterRef, Subquery

from idp.accounts.models import Exercice, Professional
from idp.oidc import revocation
from idp.oidc.protocol.errors import InvalidToken
from relying_parties.registry import RegisteredClient

ACCESS_TOKEN_TYP = "Bearer"  # noqa: S105 (a claim value)
ID_TOKEN_TYP = "ID"  # noqa: S105


@dataclass(frozen=True, slots=True)
class ProfessionalClaims:
    """What tokens say about a professional, loaded in one query (:func:`load_professional`)."""

    pk: int
    sub: str
    id_nat: str
    is_active: bool
    given_name: str
    family_name: str
    other_ids: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    value: str
    claims: dict[str, Any]
    expires_in: int


@dataclass(frozen=True)
class AccessTokenClaims:
    """A verified, unrevoked access token's claims."""

    sub: str
    client_id: str
    scope: str
    exp: int
    iat: int
    jti: str
    gid: str
    sid: str
    auth_time: int | None
    acr: str
    x5t_s256: str
    claims: dict[str, Any] = field(repr=False)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    @property
    def is_service_account(self) -> bool:
        """Issued by client_credentials: ``sub`` is the client, not a professional."""
        return not self.gid and self.sub == self.client_id


def _first_exercice(column: str) -> Subquery:
    return Subquery(
        Exercice.objects.filter(professional=OuterRef("pk"))
        .order_by("position", "id")
        .values(column)[:1]
    )


#: Seconds a professional's token claims stay cached; dropped at once when their data changes
#: (receivers in idp.oidc.protocol.userinfo), so this only bounds staleness if a signal is missed.
CLAIMS_CACHE_SECONDS = 60


def claims_cache_key(pk: int) -> str:
    return f"oidc:pro-claims:{pk}"


def cached_professional(pk: int) -> ProfessionalClaims | None:
    """:func:`load_professional` through Django's cache (Redis): refreshes and logins of the same
    professional skip the query and its ORM compilation."""
    key = claims_cache_key(pk)
    claims = cache.get(key)
    if claims is None:
        claims = load_professional(pk)
        if claims is not None:
            cache.set(key, claims, CLAIMS_CACHE_SECONDS)
    return claims


def load_professional(pk: int) -> ProfessionalClaims | None:
    """The professional's token claims in ONE query: the row, the first exercice's names (as
    subqueries) and the other ids (a LEFT JOIN, one row per identifier)."""
    rows = list(
        Professional.objects.filter(pk=pk)
        .annotate(ex_given=_first_exercice("prenom_exercice"))
        .annotate(ex_family=_first_exercice("nom_exercice"))
        .order_by("other_ids__id")
        .values(
            "pk",
            "sub",
            "id_nat",
            "status",
            "given_names",
            "family_name",
            "ex_given",
            "ex_family",
            "other_ids__identifiant",
            "other_ids__origine",
            "other_ids__qualite",
        )
    )
    if not rows:
        return None
    row = rows[0]
    # Names as UserInfo gives them: the exercise names of the first exercice, else the civil ones
    # (idp.accounts.userinfo.render_userinfo).
    if row["ex_given"] is not None or row["ex_family"] is not None:
        given, family = row["ex_given"] or "", row["ex_family"] or ""
    else:
        given = (row["given_names"] or "").split("'", 1)[0].strip()
        family = row["family_name"] or ""
    other_ids = tuple(
        {
            "identifiant": r["other_ids__identifiant"],
            "origine": r["other_ids__origine"],
            "qualite": int(r["other_ids__qualite"]),
        }
        for r in rows
        if r["other_ids__identifiant"] is not None
    )
    return ProfessionalClaims(
        pk=row["pk"],
        sub=row["sub"],
        id_nat=row["id_nat"],
        is_active=row["status"] == Professional.Status.ACTIVE,
        given_name=given,
        family_name=family,
        other_ids=other_ids,
    )


def professional_claims(professional: Professional) -> ProfessionalClaims:
    """:func:`load_professional`'s result from an instance loaded with its exercices and other ids
    (``Professional.objects.with_userinfo()``): the same values, no further query."""
    exercices = list(professional.exercices.all())
    if exercices:
        given, family = exercices[0].prenom_exercice or "", exercices[0].nom_exercice or ""
    else:
        given = (professional.given_names or "").split("'", 1)[0].strip()
        family = professional.family_name or ""
    return ProfessionalClaims(
        pk=professional.pk,
        sub=professional.sub,
        id_nat=professional.id_nat,
        is_active=professional.status == Professional.Status.ACTIVE,
        given_name=given,
        family_name=family,
        other_ids=tuple(
            {"identifiant": o.identifiant, "origine": o.origine, "qualite": int(o.qualite)}
            for o in professional.other_ids.all()
        ),
    )


def _epoch(value: datetime | int | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)


def new_jti() -> str:
    return secrets.token_urlsafe(16)


def at_hash(access_token: str, alg: str = "RS256") -> str:
    """OIDC Core §3.1.3.6 ``at_hash`` (see :func:`idp.oidc.jwt.at_hash`)."""
    from idp.oidc import jwt

    return jwt.at_hash(access_token, alg)


def _sign(claims: dict[str, Any], alg: str) -> str:
    from idp.oidc import jwt  # engineer A's module: imported late so this module loads alone

    return jwt.sign(claims, alg=alg, typ="JWT")


def issue_access_token(
    *,
    client: RegisteredClient,
    scope: str,
    professional: ProfessionalClaims | None,
    gid: str = "",
    sid: str = "",
    auth_time: datetime | int | None = None,
    acr: str = "",
    auth_mode: str = "",
    x5t_s256: str = "",
    now: int | None = None,
) -> IssuedToken:
    """An access token for ``client`` (PSC claims; RFC 9068 §2.2 names), signed with the client's
    ``access_token_signed_response_alg``, living the client's ``access_token_lifetime``.

    Without ``professional`` it is a service-account token (RFC 6749 §4.4): ``sub`` is the client.
    With ``x5t_s256`` it is bound to the client's certificate (RFC 8705 §3.1: ``cnf``).
    """
    iat = int(time.time()) if now is None else now
    lifetime = client.access_token_lifetime
    claims: dict[str, Any] = {
        "exp": iat + lifetime,
        "iat": iat,
        "jti": new_jti(),
        "iss": settings.IDP_ISSUER,
        "aud": client.client_id,
        "sub": professional.sub if professional else client.client_id,
        "typ": ACCESS_TOKEN_TYP,
        "azp": client.client_id,
        "client_id": client.client_id,
        "scope": scope,
    }
    if professional is not None:
        claims["auth_time"] = _epoch(auth_time)
        claims["acr"] = acr
        claims["sid"] = sid
        claims["gid"] = gid
        claims["preferred_username"] = professional.id_nat
        claims["SubjectNameID"] = professional.id_nat
        claims["authMode"] = auth_mode
        claims["otherIds"] = [dict(o) for o in professional.other_ids]
    if x5t_s256:
        claims["cnf"] = {"x5t#S256": x5t_s256}
    return IssuedToken(_sign(claims, client.access_token_signed_response_alg), claims, lifetime)


def issue_id_token(
    *,
    client: RegisteredClient,
    professional: ProfessionalClaims,
    access_token: str,
    nonce: str,
    auth_time: datetime | int,
    acr: str,
    amr: list[str],
    sid: str,
    now: int | None = None,
) -> IssuedToken:
    """OIDC Core §2 and §3.1.3.6 ID token, thin as PSC's: identity, names, no professional data."""
    iat = int(time.time()) if now is None else now
    lifetime = client.id_token_lifetime
    claims: dict[str, Any] = {
        "exp": iat + lifetime,
        "iat": iat,
        "auth_time": _epoch(auth_time),
        "jti": new_jti(),
        "iss": settings.IDP_ISSUER,
        "aud": client.client_id,
        "sub": professional.sub,
        "typ": ID_TOKEN_TYP,
        "azp": client.client_id,
        "sid": sid,
        "at_hash": at_hash(access_token, client.id_token_signed_response_alg),
        "acr": acr,
        "amr": list(amr),
        "preferred_username": professional.id_nat,
        "SubjectNameID": professional.id_nat,
        "given_name": professional.given_name,
        "family_name": professional.family_name,
    }
    if nonce:
        claims["nonce"] = nonce
    return IssuedToken(_sign(claims, client.id_token_signed_response_alg), claims, lifetime)


def validate_access_token(token: str) -> AccessTokenClaims:
    """Verify an access token: signature and ``iss``/``exp`` (:func:`idp.oidc.jwt.verify`), that it
    is an access token (claim ``typ``), then revocation of its ``jti``, grant and session.

    Raises :class:`InvalidToken` (RFC 6750 §3.1) on any failure.
    """
    return validate_access_token_and_read(token, _nothing_to_read)[0]


def validate_access_token_and_read(
    token: str, read: Callable[[dict[str, Any]], Sequence[str]]
) -> tuple[AccessTokenClaims, dict[str, Any]]:
    """:func:`validate_access_token`, and the cache entries named by ``read(claims)`` (claims of
    the verified token) fetched in the revocation check's round trip
    (:func:`revocation.is_revoked_and_read`): UserInfo's cached document comes with the markers.
    """
    from idp.oidc import jwt

    if not token or len(token) > 16384:
        raise InvalidToken(detail="empty or oversized token")
    try:
        claims = jwt.verify(token)
    except jwt.InvalidJWT as exc:
        raise InvalidToken(detail=f"jwt: {exc}") from None
    if claims.get("typ") != ACCESS_TOKEN_TYP:
        raise InvalidToken(detail="not an access token")
    jti, gid, sid = (str(claims.get(name) or "") for name in ("jti", "gid", "sid"))
    if not jti:
        raise InvalidToken(detail="no jti")
    revoked, entries = revocation.is_revoked_and_read(jti=jti, gid=gid, sid=sid, read=read(claims))
    if revoked:
        raise InvalidToken(detail="revoked")
    cnf = claims.get("cnf")
    validated = AccessTokenClaims(
        sub=str(claims.get("sub", "")),
        client_id=str(claims.get("client_id") or claims.get("azp") or ""),
        scope=str(claims.get("scope", "")),
        exp=int(claims["exp"]),
        iat=int(claims.get("iat", 0)),
        jti=jti,
        gid=gid,
        sid=sid,
        auth_time=claims.get("auth_time"),
        acr=str(claims.get("acr", "")),
        x5t_s256=str(cnf.get("x5t#S256", "")) if isinstance(cnf, dict) else "",
        claims=claims,
    )
    return validated, entries


def _nothing_to_read(claims: dict[str, Any]) -> Sequence[str]:
    return ()
