"""State changes of a professional, each with its audit event, in one transaction.

Every change of a professional's status goes through this module; nothing else writes the status
fields. Each function locks the row (``SELECT … FOR UPDATE``), checks that the transition makes
sense, saves, and appends the audit event in the same transaction: if the journal cannot be
written, the change does not happen either (``idp.audit.journal``: "no action without its record").

Two independent facets make up the status (see ``Professional``):

* the **registry** facet: ``deactivate`` when a person leaves the registry extract, ``reinstate``
  when they come back. These are for ``rpps_sync`` (which decides, after its guardrails, who left
  and who came back) and are not offered in the admin: the registry, not an administrator, says
  whether someone is a practising professional.
* the **administrators'** facet: ``suspend`` and ``reactivate``, offered as admin actions, with a
  mandatory reason. A suspension outlives registry changes: reinstating a suspended professional
  in the registry leaves them suspended.

Where other parts hook in:

* ``rpps_sync`` calls ``deactivate`` / ``reinstate`` with ``by="system:rpps_sync"`` and a reason
  naming the extract; it must not write the fields itself.
* Ending sessions: when a change makes a professional unable to log in (``suspend``,
  ``deactivate``), every SSO session and token of theirs must end and relying parties that
  registered a ``backchannel_logout_uri`` must be told (OpenID Connect Back-Channel Logout 1.0).
  ``idp.oidc`` does that by receiving the ``professional_status_changed`` signal below, which is
  sent only once the transaction has committed (so no logout is sent for a change that rolled
  back). ``idp.accounts`` does not import ``idp.oidc``: dependencies point one way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from idp.accounts.models import Professional
from idp.audit.journal import record
from idp.audit.tags import EventTag

# Sent after commit with ``professional`` (the updated instance), ``old_status``, ``new_status``
# and ``by``. Receivers: idp.oidc (end sessions, back-channel logout) and, later, notifications.
professional_status_changed = Signal()


class TransitionError(ValueError):
    """The requested change does not apply to the professional's current state."""


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise TransitionError(_("A reason is required."))
    return reason


def _clean_by(by: str) -> str:
    by = (by or "").strip()
    if not by:
        raise TransitionError(_("The author of the change is required."))
    return by


def _apply(
    professional: Professional,
    *,
    by: str,
    tag: EventTag,
    changes: Mapping[str, Any],
    data: Mapping[str, Any],
    request: HttpRequest | None,
    check: Callable[[Professional], None],
) -> Professional:
    """Lock, check, save ``changes``, journal ``tag``; refresh ``professional`` in place."""
    with transaction.atomic():
        locked = Professional.objects.select_for_update().get(pk=professional.pk)
        check(locked)
        old_status = locked.status
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=[*changes, "updated_at"])
        record(
            tag,
            actor=by,
            subject=locked.sub,
            request=request,
            data={
                "id_nat": locked.id_nat,
                "old_status": old_status,
                "new_status": locked.status,
                **data,
            },
        )
        new_status = locked.status
        transaction.on_commit(
            lambda: professional_status_changed.send(
                sender=Professional,
                professional=locked,
                old_status=old_status,
                new_status=new_status,
                by=by,
            )
        )
    for field in (*changes, "status", "updated_at"):
        setattr(professional, field, getattr(locked, field))
    return professional


def suspend(
    professional: Professional, *, by: str, reason: str, request: HttpRequest | None = None
) -> Professional:
    """Suspend a professional by decision of an administrator (``by``: ``"admin:<username>"``).

    The professional can no longer authenticate until ``reactivate``. Refused when already
    suspended (the first suspension's author, date and reason are kept).
    """
    by, reason = _clean_by(by), _clean_reason(reason)

    def check(current: Professional) -> None:
        if current.suspended_at is not None:
            raise TransitionError(_("This professional is already suspended."))

    return _apply(
        professional,
        by=by,
        tag=EventTag.ACCOUNTS_PROFESSIONAL_SUSPENDED,
        changes={"suspended_at": timezone.now(), "suspended_by": by, "suspension_reason": reason},
        data={"reason": reason},
        request=request,
        check=check,
    )


def reactivate(
    professional: Professional, *, by: str, reason: str, request: HttpRequest | None = None
) -> Professional:
    """Lift an administrator's suspension. The registry facet is untouched: a professional who
    also left the registry ends up ``deactivated``, not ``active``."""
    by, reason = _clean_by(by), _clean_reason(reason)
    previous: dict[str, Any] = {}

    def check(current: Professional) -> None:
        if current.suspended_at is None:
            raise TransitionError(_("This professional is not suspended."))
        previous.update(
            suspended_by=current.suspended_by,
            suspension_reason=current.suspension_reason,
            suspended_at=current.suspended_at.isoformat(),
        )

    return _apply(
        professional,
        by=by,
        tag=EventTag.ACCOUNTS_PROFESSIONAL_REACTIVATED,
        changes={"suspended_at": None, "suspended_by": "", "suspension_reason": ""},
        data={"facet": "suspension", "reason": reason, "lifted": previous},
        request=request,
        check=check,
    )


def deactivate(
    professional: Professional, *, by: str, reason: str, request: HttpRequest | None = None
) -> Professional:
    """Record that the registry no longer lists this professional (never a deletion:
    rpps-format.md § Departures and safety, "deactivate on absence, never hard-delete at once")."""
    by, reason = _clean_by(by), _clean_reason(reason)

    def check(current: Professional) -> None:
        if current.deactivated_at is not None:
            raise TransitionError(_("This professional is already deactivated."))

    return _apply(
        professional,
        by=by,
        tag=EventTag.ACCOUNTS_PROFESSIONAL_DEACTIVATED,
        changes={"deactivated_at": timezone.now(), "deactivation_reason": reason},
        data={"reason": reason},
        request=request,
        check=check,
    )


def reinstate(
    professional: Professional, *, by: str, reason: str, request: HttpRequest | None = None
) -> Professional:
    """Clear a registry deactivation (the person is back in the extract). A suspension, if any,
    stays in force."""
    by, reason = _clean_by(by), _clean_reason(reason)

    def check(current: Professional) -> None:
        if current.deactivated_at is None:
            raise TransitionError(_("This professional is not deactivated."))

    return _apply(
        professional,
        by=by,
        tag=EventTag.ACCOUNTS_PROFESSIONAL_REACTIVATED,
        changes={"deactivated_at": None, "deactivation_reason": ""},
        data={"facet": "registry", "reason": reason},
        request=request,
        check=check,
    )
