"""``manage.py admin_totp USERNAME``: enrol, reset or remove an administrator's authenticator.

    admin_totp alice                  new authenticator: prints the otpauth URI and a QR code, then
                                      asks for a first code (on a terminal) to confirm it
    admin_totp alice --confirm CODE   confirm a pending enrolment (scripts, or no terminal)
    admin_totp alice --reset          replace a confirmed authenticator (lost phone)
    admin_totp alice --remove         remove it (alice can no longer open the admin)

The otpauth URI and the QR code contain the seed: they are shown once, to the person enrolling.
"""

from __future__ import annotations

import getpass
import io
import sys
import time
from typing import Any

import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from idp.authn.staff_totp import (
    DEFAULT_DEVICE_NAME,
    CodeRefused,
    EnrolmentError,
    begin_enrolment,
    confirm_enrolment,
    remove_devices,
)

PROMPT_ATTEMPTS = 3
MAX_PROMPT_WAIT = 30  # seconds; beyond that, better to give up and run --confirm later


def cli_actor() -> str:
    """Who runs the command, for the journal: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        return "cli:unknown"


class Command(BaseCommand):
    help = "Enrol, confirm, reset or remove an administrator's TOTP authenticator (second factor)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The administrator's Django username.")
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--reset",
            action="store_true",
            help="Replace a confirmed authenticator (the old one stops working at once).",
        )
        action.add_argument(
            "--remove", action="store_true", help="Remove the authenticator(s) of this user."
        )
        action.add_argument(
            "--confirm",
            metavar="CODE",
            help="Confirm a pending enrolment with a first code from the authenticator app.",
        )
        parser.add_argument("--name", default=DEFAULT_DEVICE_NAME, help="A name for the device.")
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Never prompt for the first code (leave the enrolment pending).",
        )
        parser.add_argument("--no-qr", action="store_true", help="Print the URI only.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options["username"])
        actor = cli_actor()
        try:
            if options["remove"]:
                self._remove(user, actor)
            elif options["confirm"] is not None:
                self._confirm(user, options["confirm"], actor)
            else:
                self._enrol(user, actor, options)
        except EnrolmentError as exc:
            raise CommandError(str(exc)) from exc

    # --- steps ------------------------------------------------------------------------------------
    def _user(self, username: str):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc
        if not (user.is_active and user.is_staff):
            self.stderr.write(
                self.style.WARNING(
                    f"{username} is not an active staff user: the admin stays closed to them "
                    "whatever their authenticator."
                )
            )
        return user

    def _remove(self, user, actor: str) -> None:
        count = remove_devices(user, actor=actor)
        if not count:
            raise CommandError(f"{user.get_username()} has no authenticator to remove.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Removed the authenticator of {user.get_username()}: "
                "they can no longer open the administration."
            )
        )

    def _confirm(self, user, code: str, actor: str) -> None:
        confirm_enrolment(user, code, actor=actor)
        self.stdout.write(
            self.style.SUCCESS(
                f"Authenticator confirmed: {user.get_username()} can now log in to the "
                "administration with their password and a code."
            )
        )

    def _enrol(self, user, actor: str, options: dict[str, Any]) -> None:
        device = begin_enrolment(user, actor=actor, reset=options["reset"], name=options["name"])
        uri = device.config_url
        self.stdout.write(
            "Scan this QR code (or open the URI) with the authenticator app of "
            f"{user.get_username()}. It contains the secret: show it to them only, and do not "
            "paste it into a ticket or a chat."
        )
        if not options["no_qr"]:
            buffer = io.StringIO()
            segno.make(uri, error="m").terminal(out=buffer, compact=True)
            self.stdout.write(buffer.getvalue(), ending="")
        self.stdout.write(uri)

        if (
            options["interactive"]
            and sys.stdin.isatty()
            and self._prompt(user, actor, device.digits)
        ):
            return
        self.stdout.write(
            self.style.WARNING(
                "Not confirmed yet: the authenticator is unusable until confirmed with "
                f"`manage.py admin_totp {user.get_username()} --confirm CODE`."
            )
        )

    def _prompt(self, user, actor: str, digits: int) -> bool:
        attempts = 0
        while attempts < PROMPT_ATTEMPTS:
            try:
                code = input("First code shown by the app: ").replace(" ", "").strip()
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("")
                return False
            # A typo in the format is not a guess: ask again without spending an attempt.
            if not (code.isascii() and code.isdigit() and len(code) == digits):
                self.stderr.write(f"A code is {digits} digits.")
                continue
            attempts += 1
            try:
                self._confirm(user, code, actor)
            except CodeRefused as exc:
                self.stderr.write(str(exc))
                if exc.retry_after and attempts < PROMPT_ATTEMPTS:
                    # django-otp would refuse an attempt before the delay anyway.
                    time.sleep(min(exc.retry_after, MAX_PROMPT_WAIT))
                continue
            return True
        return False
