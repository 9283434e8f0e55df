"""RPPS, ADELI and idNat validation (idp.accounts.identifiers), with real registry values."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from idp.accounts.identifiers import (
    IdentifierType,
    build_id_nat,
    luhn_check_digit,
    luhn_is_valid,
    parse_id_nat,
    validate_adeli,
    validate_id_nat,
    validate_rpps,
)

# From /work/shared/data/rpps/PS_LibreAcces_Personne_activite_202105180922.sample.txt
REAL_RPPS = "10100271385"
REAL_ADELI = "012600631"


def _code(exc_info: pytest.ExceptionInfo[ValidationError]) -> str:
    return exc_info.value.error_list[0].code


class TestLuhn:
    @pytest.mark.parametrize("digits", ["79927398713", "0", "18", REAL_RPPS, REAL_ADELI])
    def test_valid(self, digits):
        assert luhn_is_valid(digits)

    @pytest.mark.parametrize(
        "digits", ["79927398710", "1", "", "12a4", "\uff11\uff12\uff13", "-18"]
    )
    def test_invalid(self, digits):
        assert not luhn_is_valid(digits)

    def test_check_digit_completes_the_payload(self):
        assert luhn_check_digit("7992739871") == "3"
        assert luhn_check_digit(REAL_RPPS[:-1]) == REAL_RPPS[-1]

    def test_check_digit_refuses_non_digits(self):
        with pytest.raises(ValueError):
            luhn_check_digit("99a")

    def test_real_rpps_idnat_does_not_pass_luhn_with_its_prefix(self):
        # The check digit covers the RPPS number only, never the "8" of the idNat.
        assert not luhn_is_valid("8" + REAL_RPPS)


class TestRpps:
    def test_real_value(self):
        validate_rpps(REAL_RPPS)

    def test_test_range_value(self):
        validate_rpps("99700010012")

    @pytest.mark.parametrize("value", ["1010027138", "101002713850", ""])
    def test_wrong_length(self, value):
        with pytest.raises(ValidationError) as exc_info:
            validate_rpps(value)
        assert _code(exc_info) in {"rpps_length", "rpps_not_digits"}

    @pytest.mark.parametrize(
        "value",
        [
            "1010027138A",
            "10100 71385",
            "\u0661\u0660\u0661\u0660\u0660\u0662\u0667\u0661\u0663\u0668\u0665",
        ],
    )
    def test_letters_and_non_ascii_digits(self, value):
        with pytest.raises(ValidationError) as exc_info:
            validate_rpps(value)
        assert _code(exc_info) == "rpps_not_digits"

    def test_bad_check_digit(self):
        with pytest.raises(ValidationError) as exc_info:
            validate_rpps("10100271386")
        assert _code(exc_info) == "rpps_checksum"
        assert "Luhn" in str(exc_info.value.messages[0])

    def test_not_a_string(self):
        with pytest.raises(ValidationError) as exc_info:
            validate_rpps(10100271385)
        assert _code(exc_info) == "invalid_type"


class TestAdeli:
    def test_real_value_with_leading_zero(self):
        validate_adeli(REAL_ADELI)

    def test_wrong_length(self):
        with pytest.raises(ValidationError) as exc_info:
            validate_adeli("12600631")
        assert _code(exc_info) == "adeli_length"

    def test_letters(self):
        with pytest.raises(ValidationError) as exc_info:
            validate_adeli("01260063X")
        assert _code(exc_info) == "adeli_not_digits"

    def test_bad_check_digit(self):
        with pytest.raises(ValidationError) as exc_info:
            validate_adeli("012600632")
        assert _code(exc_info) == "adeli_checksum"


class TestIdNat:
    def test_real_rpps(self):
        assert parse_id_nat("8" + REAL_RPPS) == (IdentifierType.RPPS, REAL_RPPS)

    def test_real_adeli(self):
        assert parse_id_nat("0" + REAL_ADELI) == (IdentifierType.ADELI, REAL_ADELI)

    def test_lengths(self):
        assert len("8" + REAL_RPPS) == 12
        assert len("0" + REAL_ADELI) == 10

    def test_siret_staff(self):
        parsed = parse_id_nat("500000001815646/CPAT00045")
        assert parsed.type is IdentifierType.SIRET
        assert parsed.identifier == "00000001815646/CPAT00045"

    def test_finess_staff(self):
        assert parse_id_nat("3250000700/INT-42").type is IdentifierType.FINESS
        assert parse_id_nat("32A0000001/X").type is IdentifierType.FINESS

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("", "id_nat_empty"),
            ("9" + REAL_RPPS, "id_nat_prefix"),
            ("A" + REAL_RPPS, "id_nat_prefix"),
            ("8" + REAL_ADELI, "rpps_length"),  # an ADELI number under the RPPS prefix
            ("0" + REAL_RPPS, "adeli_length"),  # an RPPS number under the ADELI prefix
            ("810100271386", "rpps_checksum"),
            ("0012600632", "adeli_checksum"),
            ("8" + REAL_RPPS + " ", "rpps_not_digits"),
            ("500000001815646", "internal_id"),  # no internal id
            ("500000001815646/", "internal_id"),
            ("500000001815646/CP AT", "internal_id"),
            ("5000000018156/CPAT00045", "structure_number"),  # 13-digit SIRET
            ("3250000/CPAT", "structure_number"),
            ("5" + "0" * 14 + "/" + "A" * 60, "id_nat_too_long"),
        ],
    )
    def test_invalid(self, value, code):
        with pytest.raises(ValidationError) as exc_info:
            validate_id_nat(value)
        assert _code(exc_info) == code

    def test_not_a_string(self):
        with pytest.raises(ValidationError):
            parse_id_nat(None)

    def test_build(self):
        assert build_id_nat("8", REAL_RPPS) == "8" + REAL_RPPS
        assert build_id_nat(IdentifierType.ADELI, REAL_ADELI) == "0" + REAL_ADELI
        with pytest.raises(ValidationError):
            build_id_nat("8", REAL_ADELI)

    def test_messages_are_translated(self):
        from django.utils import translation

        for language, expected in (
            ("en", "must start with 8 (RPPS)"),
            ("fr", "doit commencer par 8"),
        ):
            with translation.override(language):
                with pytest.raises(ValidationError) as exc_info:
                    validate_id_nat("9" + REAL_RPPS)
                assert expected in exc_info.value.messages[0]
