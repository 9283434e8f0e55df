"""One inventory: every variable settings.py reads is documented in deploy/env.example."""

import re
from pathlib import Path

import pytest

from idp.core.env import Env, InvalidEnvironment

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_read_from_the_environment_is_documented():
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (REPO / "idp/settings.py").read_text()))
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (REPO / "deploy/env.example").read_text(), re.M)
    )
    assert read, "settings.py reads no variable?"
    assert read - documented == set()
    assert documented - read == set()


def test_typed_readers_refuse_malformed_values():
    env = Env({"FLAG": "perhaps", "COUNT": "ten", "SMALL": "0", "MODE": "loud"})
    with pytest.raises(InvalidEnvironment, match="FLAG"):
        env.bool("FLAG")
    with pytest.raises(InvalidEnvironment, match="COUNT"):
        env.int("COUNT", 1)
    with pytest.raises(InvalidEnvironment, match="at least 1"):
        env.int("SMALL", 5, minimum=1)
    with pytest.raises(InvalidEnvironment, match="MODE"):
        env.choice("MODE", ("quiet",), "quiet")


def test_typed_readers_parse_values_and_defaults():
    env = Env({"FLAG": "Yes", "OFF": "0", "COUNT": " 42 ", "HOSTS": "a.fr, b.fr,,"})
    assert env.bool("FLAG") is True
    assert env.bool("OFF", True) is False
    assert env.bool("MISSING", True) is True
    assert env.int("COUNT", 1) == 42
    assert env.int("MISSING", 7) == 7
    assert env.list("HOSTS") == ["a.fr", "b.fr"]
    assert env.list("MISSING", ["x"]) == ["x"]
    assert env.str("MISSING", "d") == "d"
