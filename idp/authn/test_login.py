"""Test-only login method: claim to be any active professional, at any level (IDP_TEST_LOGIN).

For automated tests and the demo: the professional's idNat and the acr to claim are typed into a
form, nothing is proved. Enabled only by ``IDP_TEST_LOGIN``, which the system checks refuse
outside DEBUG (caducee.E007); when disabled its URL answers 404. The tokens it leads to say so:
``amr`` is ``["test"]`` and PSC's ``authMode`` is ``TEST``.
"""

from __future__ import annotations

from django.conf import settings

from idp.accounts.models import Professional
from idp.oidc.protocol.authorize import ACR_LEVELS

AMR = ("test",)
AUTH_MODE = "TEST"
ACR_CHOICES = tuple(ACR_LEVELS)


class TestLoginError(Exception):
    """The form cannot log anyone in; ``code`` picks the message shown."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def enabled() -> bool:
    return bool(settings.IDP_TEST_LOGIN)


def authenticate(id_nat: str, acr: str) -> Professional:
    """The active professional with this idNat; raises :class:`TestLoginError`."""
    id_nat = (id_nat or "").strip()
    if acr not in ACR_LEVELS:
        raise TestLoginError("acr")
    if not id_nat:
        raise TestLoginError("missing")
    professional = Professional.objects.filter(id_nat=id_nat).first()
    if professional is None:
        raise TestLoginError("unknown")
    if not professional.is_active:
        raise TestLoginError("inactive")
    return professional
