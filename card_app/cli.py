"""``caducee-card``: the reference card app on the command line.

Subcommands: ``activate``, ``device``, ``pending``, ``approve``, ``deny``, ``code``, ``devices``,
``sessions``, ``logout-all``. Human output is short English / French; ``--json`` prints the API's
JSON for scripts. Exit codes: 0 done, 1 refused (API error, network, state file, nothing to
approve), 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from card_app import keystore, pin
from card_app.client import CardApp
from card_app.errors import TERMINAL_DEVICE_CODES, CardApiError, CardAppError
from card_app.qr import base_url_from_issuer, parse_activation_qr, parse_login_qr

BASE_URL_ENV = "CADUCEE_CARD_BASE_URL"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit code 2)."""


# --- output -----------------------------------------------------------------------------------
def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))


def _say(args: argparse.Namespace, text: str) -> None:
    """A human line (on stderr under ``--json``, so stdout stays parseable)."""
    print(text, file=sys.stderr if args.json else sys.stdout)


def _describe_challenge(challenge: dict[str, Any]) -> str:
    lines = [f"Request / Demande {challenge.get('id')} ({challenge.get('purpose', 'login')})"]
    if challenge.get("client_name"):
        lines.append(f"  Service: {challenge['client_name']}")
    if challenge.get("browser"):
        lines.append(f"  Browser / Navigateur: {challenge['browser']}")
    if challenge.get("binding_message"):
        lines.append(f"  Message: {challenge['binding_message']}")
    if challenge.get("expires_at"):
        lines.append(f"  Expires / Expire: {challenge['expires_at']}")
    return "\n".join(lines)


# --- prompts (module-level so tests can replace them) -----------------------------------------
def prompt(text: str) -> str:
    """Read one line from the holder."""
    return input(text).strip()


def prompt_secret(text: str) -> str:
    """Read a secret without echo."""
    return getpass.getpass(text).strip()


def _ask_pin(given: str | None, *, new: bool = False) -> str:
    if given is not None:
        return pin.check_new_pin(given) if new else pin.check_format(given)
    if not new:
        return pin.check_format(prompt_secret("PIN / Code PIN: "))
    first = pin.check_new_pin(prompt_secret("Choose a PIN (4-8 digits) / Choisissez un PIN : "))
    if prompt_secret("Confirm the PIN / Confirmez le PIN : ") != first:
        raise pin.PinError("The PINs differ. / Les codes PIN diffèrent.")
    return first


# --- state ------------------------------------------------------------------------------------
def _state_path(args: argparse.Namespace) -> str:
    return args.state or str(keystore.default_state_path())


def _app(args: argparse.Namespace) -> CardApp:
    return _app_and_state(args)[0]


def _app_and_state(args: argparse.Namespace) -> tuple[CardApp, keystore.DeviceState]:
    state = keystore.load_state(_state_path(args))
    return CardApp.from_state(state, verify=_verify(args), timeout=args.timeout), state


def _verify(args: argparse.Namespace) -> bool | str:
    if args.insecure:
        return False
    return args.ca_bundle or True


# --- activate ---------------------------------------------------------------------------------
def _default_device_name() -> str:
    return f"caducee-card ({socket.gethostname()})"[:64]


def cmd_activate(args: argparse.Namespace) -> int:
    path = _state_path(args)
    if os.path.exists(path) and not args.force:
        raise UsageError(
            f"{path} already holds a device; use --state for another file or --force to replace it."
        )
    base_url = args.base_url
    qr = parse_activation_qr(args.qr) if args.qr else None
    if qr is not None and not base_url:
        base_url = base_url_from_issuer(qr.issuer)
    if not base_url:
        raise UsageError(f"--base-url (or ${BASE_URL_ENV}) is needed.")
    app = CardApp(base_url, verify=_verify(args), timeout=args.timeout)
    name = args.name or _default_device_name()

    if args.id_nat and args.start_only:
        started = app.start_activation(args.id_nat)
        if args.json:
            _emit_json(started)
        else:
            print(f"activation_id: {started['activation_id']}")
        return EXIT_OK

    codes: dict[str, Any] = {}
    if args.id_nat:
        started = app.start_activation(args.id_nat)
        _say(
            args,
            "Codes sent by email and SMS / Codes envoyés par courriel et SMS "
            f"({', '.join(started.get('channels') or [])}; {started.get('expires_in')} s).",
        )
        email_code = args.email_code or prompt("Email code / Code reçu par courriel : ")
        sms_code = args.sms_code or prompt("SMS code / Code reçu par SMS : ")
        codes = {
            "activation_id": started["activation_id"],
            "email_code": email_code,
            "sms_code": sms_code,
        }
    elif args.activation_id:
        if not (args.email_code and args.sms_code):
            raise UsageError("--activation-id needs --email-code and --sms-code.")
        codes = {
            "activation_id": args.activation_id,
            "email_code": args.email_code,
            "sms_code": args.sms_code,
        }
    elif args.qr:
        codes = {"qr_uri": args.qr}
    else:
        codes = {"activation_code": args.code}

    chosen_pin = _ask_pin(args.pin, new=True)
    state = app.complete_activation(pin=chosen_pin, device_name=name, **codes)
    saved = keystore.save_state(state, path, overwrite=args.force)
    summary = {
        "kid": state.kid,
        "device_name": state.device_name,
        "id_nat": state.id_nat,
        "display_name": state.display_name,
        "expires_at": state.expires_at,
        "state": str(saved),
    }
    if args.json:
        _emit_json(summary)
    else:
        who = state.display_name or state.id_nat
        print(f"Activated / Activée : {state.device_name} for / pour {who}")
        print(f"  kid: {state.kid}")
        print(f"  Expires / Expire : {state.expires_at}")
        print(f"  State / État : {saved}")
    return EXIT_OK


# --- device -----------------------------------------------------------------------------------
def cmd_device(args: argparse.Namespace) -> int:
    app = _app(args)
    device = app.rename(args.rename) if args.rename else app.device()
    if args.json:
        _emit_json(device)
    else:
        print(f"{device.get('name')}  [{device.get('status')}]  kid {device.get('kid')}")
        print(f"  Expires / Expire : {device.get('expires_at')}")
        print(f"  Last used / Dernière utilisation : {device.get('last_used_at')}")
    return EXIT_OK


# --- challenges -------------------------------------------------------------------------------
def cmd_pending(args: argparse.Namespace) -> int:
    challenges = _app(args).pending()
    if args.json:
        _emit_json(challenges)
    elif not challenges:
        print("No pending request / Aucune demande en attente")
    else:
        print("\n\n".join(_describe_challenge(c) for c in challenges))
    return EXIT_OK


def _pick_challenge(app: CardApp, challenge_id: str | None) -> dict[str, Any] | None:
    challenges = app.pending()
    if challenge_id is None:
        if len(challenges) > 1:
            listed = ", ".join(str(c.get("id")) for c in challenges)
            raise UsageError(f"Several pending requests ({listed}): name one.")
        return challenges[0] if challenges else None
    for challenge in challenges:
        if challenge.get("id") == challenge_id:
            return challenge
    return {"id": challenge_id}


def _match_choice(text: str, choices: list[Any]) -> Any:
    """The element of ``choices`` the holder typed (``"7"`` and ``"07"`` both match ``"07"``)."""
    for choice in choices:
        if str(choice) == text or (
            text.isdigit() and str(choice).isdigit() and int(text) == int(choice)
        ):
            return choice
    return None


def _ask_number(choices: list[Any]) -> Any:
    shown = "   ".join(f"{c:0>2}" if isinstance(c, int) else str(c) for c in choices)
    print(f"Pick the number shown on the login page / Choisissez le nombre affiché : {shown}")
    while True:
        typed = prompt("Number / Nombre : ")
        if not typed:
            raise UsageError("No number chosen / Aucun nombre choisi.")
        choice = _match_choice(typed, choices)
        if choice is not None:
            return choice
        print("Not one of the choices / Ce nombre n'est pas proposé.")


def cmd_approve(args: argparse.Namespace) -> int:
    app = _app(args)
    challenge = app.scan(args.qr) if args.qr else _pick_challenge(app, args.challenge)
    if challenge is None:
        _say(args, "No pending request / Aucune demande en attente")
        return EXIT_ERROR
    if not args.json:
        print(_describe_challenge(challenge))
    choices = list(challenge.get("choices") or [])
    if args.number is not None:
        number = _match_choice(args.number, choices) if choices else None
        if number is None:
            number = args.number  # not among the choices: the server will fail the request
    elif choices:
        number = _ask_number(choices)
    else:
        raise UsageError("--number is needed for this request.")
    answer = app.approve(str(challenge["id"]), number, _ask_pin(args.pin))
    if args.json:
        _emit_json(answer)
    else:
        print("Approved / Approuvé")
    return EXIT_OK


def cmd_deny(args: argparse.Namespace) -> int:
    app = _app(args)
    challenge = _pick_challenge(app, args.challenge)
    if challenge is None:
        _say(args, "No pending request / Aucune demande en attente")
        return EXIT_ERROR
    answer = app.deny(str(challenge["id"]), args.reason)
    if args.json:
        _emit_json(answer)
    else:
        print("Denied / Refusé")
    return EXIT_OK


# --- offline code -----------------------------------------------------------------------------
def cmd_code(args: argparse.Namespace) -> int:
    app, state = _app_and_state(args)
    now = time.time()
    code = app.offline_code(_ask_pin(args.pin), at=now)
    remaining = state.totp_period - int(now - state.totp_t0) % state.totp_period
    if args.json:
        _emit_json({"code": code, "valid_for": remaining, "id_nat": state.id_nat})
    else:
        print(code)
        _say(args, f"Valid for / Valable {remaining} s (idNat {state.id_nat})")
    return EXIT_OK


# --- devices and sessions ---------------------------------------------------------------------
def cmd_devices(args: argparse.Namespace) -> int:
    app, state = _app_and_state(args)
    if args.revoke:
        app.revoke(args.revoke)
        if args.revoke == state.kid:
            keystore.delete_state(_state_path(args))
        if args.json:
            _emit_json({"revoked": args.revoke, "current": args.revoke == state.kid})
        else:
            print("Revoked / Révoqué")
        return EXIT_OK
    devices = app.devices()
    if args.json:
        _emit_json(devices)
        return EXIT_OK
    for device in devices:
        mark = "*" if device.get("current") else " "
        print(f"{mark} {device.get('kid')}  {device.get('name')}  [{device.get('status')}]")
        print(f"    Expires / Expire : {device.get('expires_at')}")
    return EXIT_OK


def cmd_sessions(args: argparse.Namespace) -> int:
    app = _app(args)
    if args.end:
        app.end_session(args.end)
        if args.json:
            _emit_json({"ended": 1})
        else:
            print("Session ended / Session terminée")
        return EXIT_OK
    sessions = app.sessions()
    if args.json:
        _emit_json(sessions)
    elif not sessions:
        print("No open session / Aucune session ouverte")
    else:
        for session in sessions:
            clients = ", ".join(
                str(c.get("client_name") or c.get("client_id")) if isinstance(c, dict) else str(c)
                for c in session.get("clients") or []
            )
            print(f"{session.get('sid')}  {session.get('acr')}  {session.get('auth_mode')}")
            print(
                f"    Started / Ouverte : {session.get('started_at')}; "
                f"last active / dernière activité : {session.get('last_active_at')}"
            )
            if clients:
                print(f"    Services: {clients}")
    return EXIT_OK


def cmd_logout_all(args: argparse.Namespace) -> int:
    ended = _app(args).logout_all()
    if args.json:
        _emit_json({"ended": ended})
    else:
        print(f"Sessions ended / Sessions terminées : {ended}")
    return EXIT_OK


# --- the parser -------------------------------------------------------------------------------
def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before or after the subcommand (after: only when given)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--state",
        default=default(None),
        help="device state file (default: $CADUCEE_CARD_STATE or "
        "~/.config/caducee-card/device.json)",
    )
    parser.add_argument("--json", action="store_true", default=default(False), help="JSON output")
    parser.add_argument("--ca-bundle", default=default(None), help="CA bundle to verify TLS with")
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="do not verify TLS certificates (tests only)",
    )
    parser.add_argument(
        "--timeout", type=float, default=default(15.0), help="HTTP timeout in seconds"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``caducee-card`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="caducee-card",
        description="Reference card app of Caducée (the /api/card/v1/ API).",
    )
    _common_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    activate = commands.add_parser(
        "activate", parents=[common], help="enrol this device / activer cet appareil"
    )
    how = activate.add_mutually_exclusive_group(required=True)
    how.add_argument("--id-nat", help="self service: codes are sent by email and SMS")
    how.add_argument("--activation-id", help="self service, second step (with both codes)")
    how.add_argument("--qr", help="a caducee-card://activate?... URI (from a session QR code)")
    how.add_argument("--code", help="an activation code (from an administrator)")
    activate.add_argument(
        "--base-url",
        default=os.environ.get(BASE_URL_ENV),
        help=f"the server, e.g. https://idp.example (default: ${BASE_URL_ENV})",
    )
    activate.add_argument("--email-code", help="the code received by email")
    activate.add_argument("--sms-code", help="the code received by SMS")
    activate.add_argument(
        "--start-only",
        action="store_true",
        help="with --id-nat: only ask for the codes and print the activation_id",
    )
    activate.add_argument("--name", help="device name (default: from the host name)")
    activate.add_argument("--pin", help="the new PIN (default: asked twice)")
    activate.add_argument("--force", action="store_true", help="replace an existing state file")
    activate.set_defaults(handler=cmd_activate)

    device = commands.add_parser("device", parents=[common], help="show or rename this device")
    device.add_argument("--rename", metavar="NAME", help="new device name")
    device.set_defaults(handler=cmd_device)

    pending = commands.add_parser("pending", parents=[common], help="list pending requests")
    pending.set_defaults(handler=cmd_pending)

    approve = commands.add_parser(
        "approve", parents=[common], help="approve a request / approuver une demande"
    )
    approve.add_argument("challenge", nargs="?", help="request id (default: the only pending one)")
    approve.add_argument("--qr", help="a caducee-card://login?... URI to scan first")
    approve.add_argument("--number", help="the number shown on the login page")
    approve.add_argument("--pin", help="the PIN (default: asked)")
    approve.set_defaults(handler=cmd_approve)

    deny = commands.add_parser("deny", parents=[common], help="deny a request / refuser")
    deny.add_argument("challenge", nargs="?", help="request id (default: the only pending one)")
    deny.add_argument("--reason", help="why (e.g. 'not me'), journaled by the server")
    deny.set_defaults(handler=cmd_deny)

    code = commands.add_parser("code", parents=[common], help="offline code / code hors ligne")
    code.add_argument("--pin", help="the PIN (default: asked)")
    code.set_defaults(handler=cmd_code)

    devices = commands.add_parser("devices", parents=[common], help="the holder's devices")
    devices.add_argument("--revoke", metavar="KID", help="revoke this device or a sibling")
    devices.set_defaults(handler=cmd_devices)

    sessions = commands.add_parser("sessions", parents=[common], help="open sessions")
    sessions.add_argument("--end", metavar="SID", help="end this session")
    sessions.set_defaults(handler=cmd_sessions)

    logout_all = commands.add_parser(
        "logout-all", parents=[common], help="end every session / tout déconnecter"
    )
    logout_all.set_defaults(handler=cmd_logout_all)
    return parser


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Cross-option checks argparse cannot express (reported as usage errors, exit 2)."""
    if args.command == "activate":
        if args.start_only and not args.id_nat:
            parser.error("--start-only goes with --id-nat")
        if (args.email_code or args.sms_code) and not (args.id_nat or args.activation_id):
            parser.error("--email-code/--sms-code go with --id-nat or --activation-id")
        if args.code and not args.base_url:
            parser.error(f"--code needs --base-url (or ${BASE_URL_ENV})")
        if args.id_nat and not args.base_url:
            parser.error(f"--id-nat needs --base-url (or ${BASE_URL_ENV})")
        if args.activation_id and not args.base_url:
            parser.error(f"--activation-id needs --base-url (or ${BASE_URL_ENV})")
        if args.qr:
            try:
                parse_activation_qr(args.qr)
            except CardAppError as exc:
                parser.error(str(exc))
    if args.command == "approve" and args.qr:
        if args.challenge:
            parser.error("give a request id or --qr, not both")
        try:
            parse_login_qr(args.qr)
        except CardAppError as exc:
            parser.error(str(exc))


def _report(args: argparse.Namespace, exc: CardAppError) -> None:
    if isinstance(exc, CardApiError):
        text = f"Error / Erreur {exc.code} (HTTP {exc.status}): {exc.message}"
        if exc.message_fr:
            text += f" / {exc.message_fr}"
        if exc.retry_after:
            text += f" (retry in / réessayer dans {exc.retry_after} s)"
        if isinstance(exc.details.get("attempts_left"), int):
            left = exc.details["attempts_left"]
            text += f"\nAttempts left / Essais restants : {left}"
        if exc.code in TERMINAL_DEVICE_CODES:
            text += "\nActivate this device again / Activez de nouveau cet appareil."
    else:
        text = f"Error / Erreur: {exc}"
    print(text, file=sys.stderr)
    if args.json and isinstance(exc, CardApiError):
        _emit_json({"error": exc.code, "status": exc.status, "message": exc.message})


# Request ids, session ids and kids are base64url (22 or 43 characters) and begin with "-" one
# time in 64: argparse would take ``approve -Xy…`` or ``--revoke -Xy…`` for an unknown option.
_DASHED_ID = re.compile(r"-[A-Za-z0-9_-]{21,}")
_OPTION = re.compile(r"--?[a-z][a-z-]*")
_FLAGS = frozenset({"-h", "--help", "--json", "--insecure", "--start-only", "--force"})


def shield_dashed_ids(argv: Sequence[str]) -> list[str]:
    """``argv`` with each identifier starting with "-" glued to its option (``--revoke=-Xy…``)
    or, as a positional argument, moved after ``--``. Unchanged if ``--`` is already there."""
    if "--" in argv:
        return list(argv)
    out: list[str] = []
    positional: list[str] = []
    for arg in argv:
        if _DASHED_ID.fullmatch(arg) and not _OPTION.fullmatch(arg):
            previous = out[-1] if out else ""
            if _OPTION.fullmatch(previous) and previous not in _FLAGS:
                out[-1] = f"{previous}={arg}"
            else:
                positional.append(arg)
            continue
        out.append(arg)
    return [*out, "--", *positional] if positional else out


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``caducee-card``; returns the exit code (0 done, 1 refused, 2 usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(shield_dashed_ids(sys.argv[1:] if argv is None else argv))
        _validate(parser, args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.handler(args))
    except UsageError as exc:
        print(f"caducee-card {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CardAppError as exc:
        _report(args, exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except EOFError:
        print("No input / Aucune saisie", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
