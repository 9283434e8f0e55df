"""SSO sessions: the ``sid`` a professional's browser refers to (docs/design/oidc-provider.md).

The browser holds only a signed reference (cookie ``caducee_sso``: the ``sid``, signed with a salt
of its own); everything else is in the database, so ending a session here ends it everywhere.
A session is live while not ended, within ``IDP_SSO_SESSION_MAX_SECONDS`` of its start and within
``IDP_SSO_SESSION_IDLE_SECONDS`` of its last use. Using it extends the idle timer, but
``last_active_at`` is written at most once a minute to keep writes off the authorization hot path.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from idp.accounts.models import Professional
from idp.accounts.services import professional_status_changed
from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.oidc import backchannel, revocation
from idp.oidc.models import RefreshToken, SsoSession, new_opaque_id
from idp.oidc.refresh_store import SessionState
from idp.oidc.sql_values import aware_datetime, json_value

logger = logging.getLogger(__name__)

COOKIE_NAME = "caducee_sso"
_COOKIE_SALT = "idp.oidc.sessions.cookie"
#: Writing last_active_at on every request would cost a write per authorization.
TOUCH_INTERVAL = timedelta(seconds=60)

# Reasons recorded in SsoSession.end_reason and the journal.
REASON_LOGOUT = "logout"
REASON_SUPERSEDED = "superseded"
REASON_SUSPENDED = "account_suspended"
REASON_DEACTIVATED = "account_deactivated"
_STATUS_REASONS = {
    Professional.Status.SUSPENDED: REASON_SUSPENDED,
    Professional.Status.DEACTIVATED: REASON_DEACTIVATED,
}


# The hot paths (every authorization, resume and login) in plain SQL: an ORM lookup with
# select_related and an ORM create cost several times their query in compilation (performance.md).
_SS = SsoSession._meta.db_table
_PRO = Professional._meta.db_table
#: The session fields read by :func:`current` (the others are deferred: loaded if ever accessed).
_SESSION_FIELDS = (
    "id", "sid", "professional_id", "auth_time", "acr", "amr", "auth_mode", "last_active_at",
    "expires_at", "ended_at", "end_reason",
)  # fmt: skip
#: The professional's fields its session's users read (sub, status, is_active); others deferred.
_PROFESSIONAL_FIELDS = ("id", "sub", "id_nat", "status", "suspended_at", "deactivated_at")
_CURRENT_SQL = (
    f"SELECT {', '.join('s.' + f for f in _SESSION_FIELDS)}, "  # noqa: S608 (model metadata)
    f"{', '.join('p.' + f for f in _PROFESSIONAL_FIELDS)} "
    f"FROM {_SS} s JOIN {_PRO} p ON p.id = s.professional_id WHERE s.sid = %s"
)
_TOUCH_SQL = f"UPDATE {_SS} SET last_active_at = %s WHERE id = %s AND last_active_at < %s"  # noqa: S608
_START_COLUMNS = (
    "sid", "professional_id", "auth_time", "acr", "amr", "auth_mode", "created_at",
    "last_active_at", "expires_at", "end_reason", "ip", "user_agent",
)  # fmt: skip
_START_SQL = (
    f"INSERT INTO {_SS} ({', '.join(_START_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(_START_COLUMNS))})"
)


def _session_by_sid(sid: str) -> SsoSession | None:
    """The session ``sid`` with its professional's identity and status, in one raw query."""
    with connection.cursor() as cursor:
        cursor.execute(_CURRENT_SQL, [sid])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(_SESSION_FIELDS)
    values = list(row[:n])
    for i in (3, 7, 8, 9):  # auth_time, last_active_at, expires_at, ended_at
        values[i] = aware_datetime(values[i])
    values[5] = list(json_value(values[5]) or [])
    session = SsoSession.from_db(connection.alias, _SESSION_FIELDS, values)
    pro = list(row[n:])
    pro[4], pro[5] = aware_datetime(pro[4]), aware_datetime(pro[5])
    session.professional = Professional.from_db(connection.alias, _PROFESSIONAL_FIELDS, pro)
    return session


def _idle_limit() -> timedelta:
    return timedelta(seconds=settings.IDP_SSO_SESSION_IDLE_SECONDS)


def is_live(session: SsoSession | SessionState, *, now: datetime | None = None) -> bool:
    """Not ended, before its absolute expiry, and used within the idle limit."""
    now = now or timezone.now()
    return (
        session.ended_at is None
        and now < session.expires_at
        and now < session.last_active_at + _idle_limit()
    )


def current(request: HttpRequest) -> SsoSession | None:
    """The live session the browser's cookie refers to, or None; using it extends its idle timer.

    A session of a professional who is no longer active is not returned (and is ended): the
    status signal normally ends them already, this covers changes made behind the services' back.
    """
    sid = request.get_signed_cookie(
        COOKIE_NAME, default=None, salt=_COOKIE_SALT, max_age=settings.IDP_SSO_SESSION_MAX_SECONDS
    )
    if not sid:
        return None
    session = _session_by_sid(sid)
    now = timezone.now()
    if session is None or not is_live(session, now=now):
        return None
    if not session.professional.is_active:
        end(session, _STATUS_REASONS.get(session.professional.status, REASON_SUSPENDED))
        return None
    if now - session.last_active_at >= TOUCH_INTERVAL:
        # Conditional: concurrent requests of one browser do not each write.
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(_TOUCH_SQL, [adapt(now), session.pk, adapt(now - TOUCH_INTERVAL)])
        session.last_active_at = now
    return session


def live_by_sid(sid: str, *, sub: str) -> SsoSession | None:
    """The live session ``sid`` of the professional ``sub`` (named by a verified ID token), or
    None. For requests that carry no cookie: a cross-site POST does not send a SameSite=Lax one.
    """
    session = SsoSession.objects.select_related("professional").filter(sid=sid).first()
    if session is None or session.professional.sub != sub or not is_live(session):
        return None
    return session


def start(
    request: HttpRequest | None,
    *,
    professional: Professional,
    acr: str,
    amr: list[str],
    auth_mode: str,
) -> SsoSession:
    """Open a session for a login that just happened (``auth_time`` = now; OIDC Core §2)."""
    now = timezone.now()
    meta = request.META if request is not None else {}
    session = SsoSession(
        sid=new_opaque_id(),
        professional=professional,
        auth_time=now,
        acr=acr,
        amr=list(amr),
        auth_mode=auth_mode,
        created_at=now,
        last_active_at=now,
        expires_at=now + timedelta(seconds=settings.IDP_SSO_SESSION_MAX_SECONDS),
        ip=meta.get("REMOTE_ADDR") or None,
        user_agent=(meta.get("HTTP_USER_AGENT") or "")[:256],
    )
    # No savepoint: inside a caller's transaction (a login's journal.batched block) this
    # joins it, and its event goes in the caller's batch.
    with transaction.atomic(savepoint=False):
        _insert(session)
        record(
            EventTag.OIDC_SESSION_STARTED,
            actor=f"professional:{professional.sub}",
            subject=session.sid,
            request=request,
            data={"sid": session.sid, "acr": acr, "amr": list(amr), "auth_mode": auth_mode},
        )
    return session


def _insert(session: SsoSession) -> None:
    """INSERT ``session`` with one raw statement (no ORM save: its compilation costs more)."""
    ops = connection.ops
    ip_field = SsoSession._meta.get_field("ip")
    amr_field = SsoSession._meta.get_field("amr")
    values = [
        session.sid,
        session.professional_id,
        ops.adapt_datetimefield_value(session.auth_time),
        session.acr,
        amr_field.get_db_prep_save(session.amr, connection),
        session.auth_mode,
        ops.adapt_datetimefield_value(session.created_at),
        ops.adapt_datetimefield_value(session.last_active_at),
        ops.adapt_datetimefield_value(session.expires_at),
        session.end_reason,
        ip_field.get_db_prep_save(session.ip, connection),
        session.user_agent,
    ]
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(_START_SQL + " RETURNING id", values)
            session.pk = cursor.fetchone()[0]
        else:  # pragma: no cover (PostgreSQL and SQLite >= 3.35 return columns)
            cursor.execute(_START_SQL, values)
            session.pk = cursor.lastrowid
    session._state.adding = False
    session._state.db = connection.alias


def reauthenticate(
    request: HttpRequest | None,
    session: SsoSession,
    *,
    acr: str,
    amr: list[str],
    auth_mode: str,
) -> SsoSession:
    """The session's professional logged in again: record the new auth_time, acr and amr.

    The ``sid`` and the absolute expiry are kept (a re-login does not lengthen the session).
    """
    now = timezone.now()
    # No savepoint: inside a caller's transaction (a login's journal.batched block) this
    # joins it, and its event goes in the caller's batch.
    with transaction.atomic(savepoint=False):
        SsoSession.objects.filter(pk=session.pk).update(
            auth_time=now, acr=acr, amr=list(amr), auth_mode=auth_mode, last_active_at=now
        )
        session.auth_time, session.acr, session.amr = now, acr, list(amr)
        session.auth_mode, session.last_active_at = auth_mode, now
        record(
            EventTag.OIDC_SESSION_STARTED,
            actor=f"professional:{session.professional.sub}",
            subject=session.sid,
            request=request,
            data={
                "sid": session.sid,
                "acr": acr,
                "amr": list(amr),
                "auth_mode": auth_mode,
                "reauthentication": True,
            },
        )
    return session


def set_cookie(response: HttpResponse, session: SsoSession) -> None:
    """Point the browser at ``session`` (HttpOnly, SameSite=Lax, Secure outside DEBUG)."""
    response.set_signed_cookie(
        COOKIE_NAME,
        session.sid,
        salt=_COOKIE_SALT,
        max_age=settings.IDP_SSO_SESSION_MAX_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,  # on outside DEBUG, like Django's own
        path="/",
    )


def clear_cookie(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", samesite="Lax")


def end(session: SsoSession, reason: str, *, actor: str = "") -> None:
    """End ``session``: mark it ended, revoke its refresh tokens, announce it to its clients.

    Access tokens carry the ``sid``, so they stop validating at once (``revocation.is_revoked``);
    refresh tokens are revoked outright; relying parties with a back-channel URI are told (OIDC
    Back-Channel Logout 1.0 §2.5). Ending an already ended session does nothing. ``actor`` names
    who ended it for the journal (default: the professional).
    """
    now = timezone.now()
    # No savepoint: inside a login's journal.batched block this joins it (its event in the batch,
    # the chain lock taken at the end only).
    with transaction.atomic(savepoint=False):
        ended = SsoSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
            ended_at=now, end_reason=reason[:40]
        )
        if not ended:
            return
        session.ended_at, session.end_reason = now, reason[:40]
        RefreshToken.objects.filter(session=session, revoked_at__isnull=True).update(revoked_at=now)
        backchannel.schedule_logout(session)
        # Access tokens carrying this sid stop validating everywhere once the cache knows
        # (idp.oidc.revocation). Published with the write, like every revocation: a rolled-back
        # end may refuse a token for a while, never the reverse.
        revocation.mark_session_ended(session.sid)
        record(
            EventTag.OIDC_SESSION_ENDED,
            actor=actor or f"professional:{session.professional.sub}",
            subject=session.sid,
            data={"sid": session.sid, "reason": reason},
        )


def end_all(professional: Professional, reason: str, *, actor: str = "") -> int:
    """End every open session of ``professional``; return how many were ended."""
    count = 0
    for session in SsoSession.objects.filter(professional=professional, ended_at__isnull=True):
        end(session, reason, actor=actor)
        count += 1
    return count


def list_for(professional: Professional) -> list[SsoSession]:
    """The professional's live sessions, most recent first (for the card app's session list)."""
    now = timezone.now()
    candidates = SsoSession.objects.filter(
        professional=professional,
        ended_at__isnull=True,
        expires_at__gt=now,
        last_active_at__gt=now - _idle_limit(),
    ).order_by("-auth_time")
    return list(candidates)


@receiver(professional_status_changed, dispatch_uid="idp.oidc.sessions.end_on_status_change")
def _end_sessions_on_status_change(sender, professional, old_status, new_status, **kwargs) -> None:
    """A suspended or deactivated professional keeps no session (idp.accounts.services)."""
    reason = _STATUS_REASONS.get(new_status)
    if reason is not None:
        ended = end_all(professional, reason)
        logger.info("ended %d session(s) of %s: %s", ended, professional.sub, reason)
