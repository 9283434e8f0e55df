"""The device state file: what an activated card app must remember.

One JSON document holding the server's base URL (and the issuer a QR code named), the device's
``kid`` (RFC 7638 thumbprint of its public key), its P-256 private key (PKCS #8 PEM), the offline
code parameters (RFC 6238 §4: base32 secret, digits, period, hash algorithm), the holder's idNat
and the device name.

The file is as sensitive as the key it holds. It is written atomically (a temporary file created
with ``O_CREAT | O_EXCL`` and mode 0600 in the same directory, then renamed over the target, so a
crash never leaves half a file) and a file that the group or others can read is refused when
loading rather than trusted. A real phone keeps the key in its hardware keystore instead
(``docs/card-app.md``); this file is the reference app's stand-in.

Default path: ``$CADUCEE_CARD_STATE``, else ``$XDG_CONFIG_HOME/caducee-card/device.json``
(``~/.config/caducee-card/device.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from card_app.errors import CardAppError

STATE_ENV = "CADUCEE_CARD_STATE"
FORMAT_VERSION = 1
_FILE_MODE = 0o600
_DIR_MODE = 0o700


class KeystoreError(CardAppError):
    """The state file is missing, unreadable, malformed or too widely readable."""


@dataclass(frozen=True)
class DeviceState:
    """An activated device, as stored in the state file."""

    base_url: str
    kid: str
    private_key_pem: str
    totp_secret: str
    id_nat: str
    device_name: str
    issuer: str | None = None
    display_name: str | None = None
    totp_digits: int = 6
    totp_period: int = 30
    totp_algorithm: str = "SHA1"
    totp_t0: int = 0
    expires_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON document written to disk (with its format version)."""
        return {"version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> DeviceState:
        """Rebuild a state from its JSON document; unknown members are ignored."""
        if not isinstance(data, dict):
            raise KeystoreError("The state file does not hold a JSON object.")
        if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise KeystoreError(f"Unsupported state file version: {data.get('version')!r}.")
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        try:
            state = cls(**values)
        except TypeError as exc:
            raise KeystoreError(f"The state file is incomplete: {exc}.") from exc
        for name in ("base_url", "kid", "private_key_pem", "totp_secret", "id_nat"):
            if not isinstance(getattr(state, name), str) or not getattr(state, name):
                raise KeystoreError(f"The state file has no valid {name!r}.")
        for name in ("totp_digits", "totp_period", "totp_t0"):
            if not isinstance(getattr(state, name), int):
                raise KeystoreError(f"The state file has no valid {name!r}.")
        return state


def default_state_path() -> Path:
    """``$CADUCEE_CARD_STATE``, else ``~/.config/caducee-card/device.json`` (XDG layout)."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "caducee-card" / "device.json"


def _check_private(path: Path, st: os.stat_result) -> None:
    """Refuse a file that is not a regular file, or that the group or others may read or write."""
    if not stat.S_ISREG(st.st_mode):
        raise KeystoreError(f"{path} is not a regular file.")
    if os.name == "posix" and st.st_mode & 0o077:
        raise KeystoreError(
            f"{path} is accessible by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"it holds the device's private key. Run `chmod 600 {path}` if you trust its content, "
            "or revoke this device and activate again."
        )


def load_state(path: Path | str | None = None) -> DeviceState:
    """Read the state file, refusing one readable by the group or others."""
    path = Path(path) if path is not None else default_state_path()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError as exc:
        raise KeystoreError(
            f"No device state at {path}: activate this device first (`caducee-card activate`)."
        ) from exc
    except OSError as exc:
        raise KeystoreError(f"Cannot open {path}: {exc.strerror}.") from exc
    with os.fdopen(fd, "rb") as handle:
        _check_private(path, os.fstat(handle.fileno()))
        raw = handle.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise KeystoreError(f"{path} is not valid JSON.") from exc
    return DeviceState.from_json(data)


def save_state(
    state: DeviceState, path: Path | str | None = None, *, overwrite: bool = False
) -> Path:
    """Write the state atomically with mode 0600; refuse to replace a file unless ``overwrite``.

    The parent directory is created with mode 0700 when missing. Without ``overwrite`` the final
    step is a hard link, which fails if the target appeared meanwhile (no silent clobbering of
    another device's key); with it, an atomic ``os.replace``.
    """
    path = Path(path) if path is not None else default_state_path()
    path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise KeystoreError(f"{path} already exists: refusing to overwrite another device's state.")
    data = json.dumps(state.to_json(), indent=2, sort_keys=True).encode("utf-8") + b"\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            if os.name == "posix":
                os.fchmod(handle.fileno(), _FILE_MODE)  # whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError as exc:
                raise KeystoreError(f"{path} already exists: refusing to overwrite it.") from exc
            except OSError:
                # A filesystem without hard links: the existence check above must do.
                os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def delete_state(path: Path | str | None = None) -> bool:
    """Remove the state file (after the device was revoked); ``False`` if there was none."""
    path = Path(path) if path is not None else default_state_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
