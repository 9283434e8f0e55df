"""Typed readers for environment variables.

Every knob Caducée has is read once, in ``idp/settings.py``, through these helpers, and listed in
``deploy/env.example``. A malformed value stops start-up with a message naming the variable, rather
than silently falling back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class InvalidEnvironment(ValueError):
    """A variable is set to something Caducée cannot use."""


class Env:
    """Reads typed values from a mapping (``os.environ`` by default)."""

    def __init__(self, source: Mapping[str, str] | None = None) -> None:
        self._source = os.environ if source is None else source

    def is_set(self, name: str) -> bool:
        return name in self._source

    def str(self, name: str, default: str = "") -> str:
        return self._source.get(name, default).strip()

    def bool(self, name: str, default: bool = False) -> bool:
        raw = self._source.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise InvalidEnvironment(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}")

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self._source.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError as exc:
            raise InvalidEnvironment(f"{name} must be an integer, got {raw!r}") from exc
        if minimum is not None and value < minimum:
            raise InvalidEnvironment(f"{name} must be at least {minimum}, got {value}")
        return value

    def list(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self._source.get(name)
        if raw is None:
            return list(default or [])
        return [item.strip() for item in raw.split(",") if item.strip()]

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.str(name, default).lower()
        if value not in choices:
            raise InvalidEnvironment(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        return value
