"""Text messages (SMS), through a small pluggable backend.

Like Django's e-mail backends: ``IDP_SMS_BACKEND`` names ``console``, ``file`` or ``locmem``, or the
dotted path of a class implementing :class:`SmsBackend` (an SMS provider's API). Card-app activation
sends one of its two codes this way, to the mobile number the registry holds.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_SEPARATORS = re.compile(r"[\s.\-()]")


class InvalidPhoneNumber(ValueError):
    """The number cannot be turned into an international (E.164) number."""


def normalise_phone_number(raw: str, *, default_country_code: str = "33") -> str:
    """Return `raw` as an E.164 number (ITU-T E.164), French national numbers by default.

    ``06 12 34 56 78`` and ``+33 6 12 34 56 78`` both become ``+33612345678``.
    """
    number = _SEPARATORS.sub("", raw or "")
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        number = f"+{default_country_code}{number[1:]}"
    if not _E164.match(number):
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    return number


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    sender: str


class SmsBackend(ABC):
    """Delivers text messages. Implementations raise on failure; they never drop silently."""

    @abstractmethod
    def send(self, message: SmsMessage) -> None: ...


class ConsoleSmsBackend(SmsBackend):
    """Development: writes each message to standard output."""

    def send(self, message: SmsMessage) -> None:
        sys.stdout.write(f"[SMS] from {message.sender} to {message.to}: {message.body}\n")
        sys.stdout.flush()


class FileSmsBackend(SmsBackend):
    """Development and spooling: appends one JSON line per message to a file per day."""

    _lock = threading.Lock()

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory or settings.IDP_SMS_FILE_PATH)

    def send(self, message: SmsMessage) -> None:
        now = datetime.now(UTC)
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"at": now.isoformat(), "from": message.sender, "to": message.to, "body": message.body}
        )
        with self._lock, open(self.directory / f"{now:%Y-%m-%d}.jsonl", "a") as spool:
            spool.write(line + "\n")


#: Messages sent through the locmem backend, for tests (like django.core.mail.outbox).
outbox: list[SmsMessage] = []


class LocmemSmsBackend(SmsBackend):
    """Tests: keeps messages in :data:`outbox`."""

    def send(self, message: SmsMessage) -> None:
        outbox.append(message)


_SHORT_NAMES = {
    "console": ConsoleSmsBackend,
    "file": FileSmsBackend,
    "locmem": LocmemSmsBackend,
}


def get_backend(name: str | None = None) -> SmsBackend:
    """Instantiate the configured backend (or `name`: a short name or a dotted class path)."""
    name = name or settings.IDP_SMS_BACKEND
    backend_class = _SHORT_NAMES.get(name) or import_string(name)
    return backend_class()


def send_sms(to: str, body: str, *, backend: SmsBackend | None = None) -> SmsMessage:
    """Send `body` to the phone number `to` (normalised to E.164 first)."""
    message = SmsMessage(to=normalise_phone_number(to), body=body, sender=settings.IDP_SMS_SENDER)
    (backend or get_backend()).send(message)
    return message
