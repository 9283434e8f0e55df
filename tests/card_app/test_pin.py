"""PIN checks done on the device (the server remains the authority)."""

from __future__ import annotations

import pytest

from card_app.pin import PinError, check_format, check_new_pin, weakness


@pytest.mark.parametrize("pin", ["2580", "13579", "19750412", "1975", "2031"])
def test_acceptable_pins(pin):
    assert check_new_pin(pin) == pin


@pytest.mark.parametrize(
    "pin", ["123", "123456789", "12a4", " 2580", "\uff12\uff15\uff18\uff10", "", "25 80"]
)
def test_malformed_pins(pin):
    with pytest.raises(PinError):
        check_format(pin)


@pytest.mark.parametrize(
    "pin", ["0000", "7777777", "1234", "0123", "9876", "543210", "1212", "123123", "45674567"]
)
def test_weak_pins(pin):
    assert weakness(pin)
    with pytest.raises(PinError, match="easy"):
        check_new_pin(pin)
