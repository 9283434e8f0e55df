"""National identifiers of health professionals: RPPS, ADELI and the national id (idNat).

Rules and where they come from:

* **RPPS** (Répertoire partagé des professionnels de santé): 11 digits, the last one a Luhn check
  digit computed over the first ten, so the Luhn sum of all 11 digits is a multiple of 10
  (``/work/shared/rpps-format.md`` § Identifiers; ANS "Annuaire Santé" extract documentation).
* **ADELI** (legacy list kept by the regional health agencies): 9 digits, Luhn over all 9 as well.
  Checked against real registry rows: RPPS ``10100271385`` and ADELI ``012600631`` both pass the
  plain Luhn test over the number *without* its idNat prefix. Note that for RPPS the prefixed idNat
  (``810100271385``) does **not** pass Luhn, so the check must run on the number alone; for ADELI
  the prefix ``0`` is neutral, which is why naive checks on the idNat seem to work for ADELI only.
* **idNat** (identification nationale PP, the identifier PSC puts in ``preferred_username`` and
  ``SubjectNameID``): a one-character identifier type (ANS nomenclature TRE_G08 "type d'identifiant
  PP") followed by the number: ``8`` + RPPS (12 characters), ``0`` + ADELI (10 characters),
  ``3`` + FINESS + ``/`` + internal id and ``5`` + SIRET + ``/`` + internal id for staff registered
  by a health organisation (e.g. ``500000001815646/CPAT00045``) (``/work/shared/psc-compat.md``
  § National identifier). Only ``8`` and ``0`` appear in the public extract.

Messages are written in English through ``gettext_lazy``; the French catalogue translates them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

RPPS_LENGTH = 11
ADELI_LENGTH = 9
FINESS_LENGTH = 9
SIRET_LENGTH = 14
ID_NAT_MAX_LENGTH = 64

# FINESS numbers start with the department code, which is "2A"/"2B" in Corsica.
_FINESS_RE = re.compile(r"^(?:\d{2}|2A|2B)\d{7}$")
# Internal identifier a health organisation gives to a member of its staff (after the "/").
_INTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class IdentifierType(models.TextChoices):
    """Type of a professional's national identifier: the first character of the idNat.

    ANS nomenclature TRE_G08 (type d'identifiant PP), as used by the registry extract's
    ``Type d'identifiant PP`` column and by PSC.
    """

    ADELI = "0", "ADELI"
    FINESS = "3", _("FINESS (staff of a health organisation)")
    SIRET = "5", _("SIRET (staff of a health organisation)")
    RPPS = "8", "RPPS"


class ParsedIdNat(NamedTuple):
    """An idNat split into its type and the identifier proper (without the prefix)."""

    type: IdentifierType
    identifier: str


def luhn_is_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn (mod 10) check.

    ISO/IEC 7812-1 annex B: from the rightmost digit, double every second digit, subtract 9 from
    doubled values above 9, and the total must be a multiple of 10.
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The Luhn check digit to append to ``payload`` (ASCII digits) to make it valid."""
    if not payload or not payload.isascii() or not payload.isdigit():
        raise ValueError("the Luhn payload must be a non-empty string of ASCII digits")
    for candidate in "0123456789":
        if luhn_is_valid(payload + candidate):
            return candidate
    raise AssertionError("unreachable: one digit in ten always completes a Luhn sum")


def _require_string(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(_("An identifier must be a string."), code="invalid_type")
    return value


def _validate_luhn_number(value: object, *, length: int, name: str) -> None:
    text = _require_string(value)
    if not text.isascii() or not text.isdigit():
        raise ValidationError(
            _("%(name)s number must contain digits only."),
            code=f"{name.lower()}_not_digits",
            params={"name": name},
        )
    if len(text) != length:
        raise ValidationError(
            _("%(name)s number must be %(length)d digits long (got %(actual)d)."),
            code=f"{name.lower()}_length",
            params={"name": name, "length": length, "actual": len(text)},
        )
    if not luhn_is_valid(text):
        raise ValidationError(
            _("%(name)s number %(value)s fails its check digit (Luhn)."),
            code=f"{name.lower()}_checksum",
            params={"name": name, "value": text},
        )


def validate_rpps(value: object) -> None:
    """Raise ``ValidationError`` unless ``value`` is an RPPS number: 11 digits, valid Luhn."""
    _validate_luhn_number(value, length=RPPS_LENGTH, name="RPPS")


def validate_adeli(value: object) -> None:
    """Raise ``ValidationError`` unless ``value`` is an ADELI number: 9 digits, valid Luhn."""
    _validate_luhn_number(value, length=ADELI_LENGTH, name="ADELI")


def _validate_staff_identifier(identifier: str, *, kind: IdentifierType) -> None:
    """``<FINESS or SIRET>/<internal id>``: a member of an organisation's staff (PSC idNat 3/5).

    No check digit is verified on the structure number: SIRET numbers of La Poste establishments
    are known exceptions to the Luhn rule, and FINESS keys are not published as a stable algorithm.
    """
    structure, slash, internal = identifier.partition("/")
    if kind is IdentifierType.FINESS:
        structure_ok = bool(_FINESS_RE.match(structure))
        structure_message = _("A FINESS number is 9 characters: digits, or 2A/2B then 7 digits.")
    else:
        structure_ok = structure.isascii() and structure.isdigit() and len(structure) == 14
        structure_message = _("A SIRET number is 14 digits.")
    if not structure_ok:
        raise ValidationError(structure_message, code="structure_number")
    if not slash or not _INTERNAL_ID_RE.match(internal):
        raise ValidationError(
            _(
                "A national id of type %(type)s must end with '/' and the internal identifier "
                "given by the organisation (letters, digits, '.', '_' or '-')."
            ),
            code="internal_id",
            params={"type": kind.value},
        )


def parse_id_nat(value: object) -> ParsedIdNat:
    """Split and validate an idNat; return ``(type, identifier)`` or raise ``ValidationError``.

    ``parse_id_nat("810100271385")`` gives ``(IdentifierType.RPPS, "10100271385")``.
    """
    text = _require_string(value)
    if not text:
        raise ValidationError(_("The national id (idNat) is empty."), code="id_nat_empty")
    if len(text) > ID_NAT_MAX_LENGTH:
        raise ValidationError(
            _("The national id (idNat) is longer than %(max)d characters."),
            code="id_nat_too_long",
            params={"max": ID_NAT_MAX_LENGTH},
        )
    prefix, identifier = text[0], text[1:]
    try:
        kind = IdentifierType(prefix)
    except ValueError:
        raise ValidationError(
            _(
                "The national id (idNat) must start with 8 (RPPS), 0 (ADELI), 3 (FINESS) or "
                "5 (SIRET), not %(prefix)r."
            ),
            code="id_nat_prefix",
            params={"prefix": prefix},
        ) from None
    if kind is IdentifierType.RPPS:
        validate_rpps(identifier)
    elif kind is IdentifierType.ADELI:
        validate_adeli(identifier)
    else:
        _validate_staff_identifier(identifier, kind=kind)
    return ParsedIdNat(kind, identifier)


def validate_id_nat(value: object) -> None:
    """Raise ``ValidationError`` unless ``value`` is a well-formed idNat (see ``parse_id_nat``)."""
    parse_id_nat(value)


def build_id_nat(kind: IdentifierType | str, identifier: str) -> str:
    """The idNat for an identifier of the given type, validated: ``build_id_nat("8", rpps)``."""
    id_nat = f"{IdentifierType(kind).value}{identifier}"
    validate_id_nat(id_nat)
    return id_nat
