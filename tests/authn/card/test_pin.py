"""PIN policy and storage (idp/authn/card/pin.py)."""

from __future__ import annotations

import pytest

from idp.authn.card import pin as pins


@pytest.mark.parametrize("good", ["4826", "19840", "7391", "13572468", "0192", "2023"])
def test_acceptable_pins(good):
    pins.check_policy(good)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("0000", "sequence"),
        ("1234", "sequence"),
        ("98765", "sequence"),
        ("0123", "sequence"),
        ("1212", "repetition"),
        ("123123", "repetition"),
        ("12341234", "repetition"),
        ("123", "length"),
        ("123456789", "length"),
        ("12a4", "digits"),
        ("١٢٣٤", "digits"),  # Arabic-Indic digits: isdigit() but not ASCII
        ("", "digits"),
    ],
)
def test_weak_or_malformed_pins_are_refused(bad, reason):
    with pytest.raises(pins.WeakPin) as caught:
        pins.check_policy(bad)
    assert caught.value.reason == reason


def test_the_stored_form_is_salted_and_keyed(settings):
    salt_a, salt_b = pins.new_salt(), pins.new_salt()
    stored_a = pins.hash_pin("4826", salt_a)
    assert stored_a != pins.hash_pin("4826", salt_b)  # same PIN, different devices
    assert "4826" not in stored_a
    assert pins.presented_hash("4826", salt_a) == stored_a
    assert pins.presented_hash("4827", salt_a) != stored_a
    # Without the server's key (it is in the environment, not the database) the hash is useless.
    settings.IDP_TOKEN_HMAC_KEY = "another-server-key-of-sufficient-length-000000"
    assert pins.presented_hash("4826", salt_a) != stored_a


FULLWIDTH_4826 = "\uff14\uff18\uff12\uff16"  # digits, but not ASCII ones


@pytest.mark.parametrize("presented", [None, 4826, ["4826"], "4" * 33, "\ud800", FULLWIDTH_4826])
def test_what_is_not_a_pin_never_matches_a_stored_hash(presented):
    stored = pins.hash_pin("4826", pins.new_salt())
    assert pins.presented_hash(presented, "salt") == pins.NOT_A_PIN != stored
    assert all(c in "0123456789abcdef" for c in stored)  # a stored hash is hexadecimal
