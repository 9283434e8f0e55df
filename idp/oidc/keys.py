"""The provider's signing keys: one active key per algorithm, older keys kept for verification.

Keys live in ``settings.IDP_KEY_DIR``: one PKCS#8 PEM file per private key (mode 0600, directory
0700) and ``manifest.json`` saying, for each key, its ``kid``, ``alg``, state and dates. Both are
written atomically (temporary file + ``os.replace``), so a reader sees the old set or the new one,
never half of one. Alternatively the keys come from the environment: ``IDP_SIGNING_JWKS`` holds a
private JWK Set (RFC 7517 §5), each key optionally carrying a non-standard ``"state"`` member.

Life of a key (docs/design/oidc-provider.md § Keys and JWTs), moved along by ``manage.py
rotate_keys``:

* ``next``: published in the JWKS, not signing yet, so that relying parties caching the JWKS
  learn it before the first token it signs;
* ``active``: signs (one per algorithm);
* ``previous``: published, verification only, until every token it signed has expired;
* retired: removed from the manifest and its PEM file deleted.

``kid`` is the RFC 7638 JWK thumbprint (SHA-256) of the public key. The algorithm is pinned by the
key (RFC 8725 §3.1): a verifier looks the key up by ``kid`` and uses the key's ``alg``, never the
header's. Signing always uses the single active ``Key``, never a ``KeySet`` (joserfc would pick a
random key of the set).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from joserfc.jwk import ECKey, RSAKey

logger = logging.getLogger(__name__)

Key = RSAKey | ECKey

ALGORITHMS = ("RS256", "ES256")
MANIFEST = "manifest.json"
LOCK_FILE = ".lock"
MANIFEST_VERSION = 1
# RSA keys below 2048 bits are refused (NIST SP 800-57 part 1, ANSSI RGS B1 §2.2.1).
MIN_RSA_BITS = 2048
DEFAULT_RSA_BITS = 2048
# How often a worker looks at the manifest's mtime: rotations reach every worker within this.
STAT_INTERVAL_SECONDS = 2.0
# Cache-Control max-age of the JWKS (views/discovery.py).
JWKS_MAX_AGE_SECONDS = 300
# A `next` key is promoted only after it has been published this long. Far above the JWKS
# max-age, because relying parties also cache JWKS on their own terms (mod_auth_openidc refreshes
# hourly by default).
PUBLISH_DELAY_SECONDS = 3600
# Added to the longest token lifetime before a previous key is retired: clock skew (jwt.verify's
# leeway) and the JWKS caches of relying parties.
RETIRE_LEEWAY_SECONDS = 300

_MODE_DIR = 0o700
_MODE_FILE = 0o600


class State(StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    PREVIOUS = "previous"


# Order of keys in the published JWKS.
_STATE_ORDER = {State.ACTIVE: 0, State.NEXT: 1, State.PREVIOUS: 2}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _parse_time(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class KeyRecord:
    """One key as the manifest describes it."""

    kid: str
    alg: str
    state: State
    created_at: dt.datetime
    activated_at: dt.datetime | None = None
    deactivated_at: dt.datetime | None = None
    file: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state.value,
            "file": self.file,
            "created_at": _iso(self.created_at),
            "activated_at": _iso(self.activated_at),
            "deactivated_at": _iso(self.deactivated_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyRecord:
        try:
            return cls(
                kid=str(data["kid"]),
                alg=str(data["alg"]),
                state=State(data["state"]),
                created_at=_parse_time(data["created_at"]) or _now(),
                activated_at=_parse_time(data.get("activated_at")),
                deactivated_at=_parse_time(data.get("deactivated_at")),
                file=str(data.get("file") or f"{data['kid']}.pem"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"Invalid key manifest entry {data!r}: {exc}") from exc


@dataclass(frozen=True)
class StoredKey:
    record: KeyRecord
    key: Key  # private key, kid and alg set


# --- Keys -----------------------------------------------------------------------------------------
def generate_key(alg: str, *, rsa_bits: int = DEFAULT_RSA_BITS) -> Key:
    """A new private key for `alg` (RS256: RSA `rsa_bits`; ES256: P-256), kid = RFC 7638."""
    params = {"alg": alg, "use": "sig"}
    if alg == "RS256":
        if rsa_bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits.")
        key: Key = RSAKey.generate_key(rsa_bits, parameters=params, auto_kid=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=params, auto_kid=True)
    else:
        raise ValueError(f"Unsupported signing algorithm {alg!r} (expected one of {ALGORITHMS}).")
    return key


def _alg_of(private_key: object) -> str:
    """The JWS algorithm a private key serves (RFC 7518 §3.3, §3.4)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < MIN_RSA_BITS:
            raise ImproperlyConfigured(
                f"RSA signing key of {private_key.key_size} bits: at least {MIN_RSA_BITS} required."
            )
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP256R1
    ):
        return "ES256"
    raise ImproperlyConfigured(
        f"Unsupported signing key type {type(private_key).__name__}: RSA or EC P-256 expected."
    )


def _key_from_pem(pem: bytes, *, source: str, expected_alg: str | None = None) -> Key:
    try:
        private_key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"Unreadable signing key {source}: {exc}") from exc
    alg = _alg_of(private_key)
    if expected_alg and alg != expected_alg:
        raise ImproperlyConfigured(
            f"Signing key {source} is a {alg} key, the manifest says {expected_alg}."
        )
    params = {"alg": alg, "use": "sig"}
    key: Key
    if alg == "RS256":
        key = RSAKey.import_key(private_key, parameters=params)  # type: ignore[arg-type]
    else:
        key = ECKey.import_key(private_key, parameters=params)  # type: ignore[arg-type]
    key.ensure_kid()  # RFC 7638 thumbprint
    return key


def _key_from_jwk(data: dict[str, Any]) -> tuple[Key, State]:
    data = dict(data)
    state = State(data.pop("state", State.ACTIVE))
    declared_kid = data.pop("kid", None)
    if "d" not in data:
        raise ImproperlyConfigured("IDP_SIGNING_JWKS must hold private keys (no 'd' member).")
    kty = data.get("kty")
    if kty == "RSA":
        key: Key = RSAKey.import_key(data)  # type: ignore[arg-type]
    elif kty == "EC":
        key = ECKey.import_key(data)  # type: ignore[arg-type]
    else:
        raise ImproperlyConfigured(f"IDP_SIGNING_JWKS: unsupported kty {kty!r}.")
    alg = _alg_of(key.private_key)
    if data.get("alg") not in (None, alg):
        raise ImproperlyConfigured(f"IDP_SIGNING_JWKS: key of type {alg} declares {data['alg']}.")
    key = type(key).import_key(key.private_key, parameters={"alg": alg, "use": "sig"})  # type: ignore[arg-type]
    key.ensure_kid()
    if declared_kid not in (None, key.kid):
        raise ImproperlyConfigured(
            f"IDP_SIGNING_JWKS: kid {declared_kid!r} is not the RFC 7638 thumbprint {key.kid!r}."
        )
    return key, state


# --- The store ------------------------------------------------------------------------------------
@dataclass
class KeyStore:
    """An immutable snapshot of the provider's keys."""

    keys: Sequence[StoredKey]
    source: str = ""
    _by_kid: dict[str, Key] = field(init=False, repr=False)
    _signing: dict[str, Key] = field(init=False, repr=False)
    _public_jwks: dict[str, Any] = field(init=False, repr=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        ordered = sorted(
            self.keys,
            key=lambda k: (_STATE_ORDER[k.record.state], ALGORITHMS.index(k.record.alg)),
        )
        self.keys = tuple(ordered)
        self._by_kid = {k.record.kid: k.key for k in ordered}
        self._signing = {}
        # Several active keys for one algorithm (hand-made manifests, adopted PEM files): the most
        # recently activated one signs, the others only verify.
        for stored in sorted(
            (k for k in ordered if k.record.state is State.ACTIVE),
            key=lambda k: k.record.activated_at or k.record.created_at,
        ):
            self._signing[stored.record.alg] = stored.key
        self._public_jwks = {"keys": [k.key.as_dict(private=False) for k in ordered]}
        digest = hashlib.sha256(
            json.dumps(self._public_jwks, sort_keys=True).encode()
            + json.dumps(
                sorted(self._signing.items(), key=lambda i: i[0]), default=lambda k: k.kid
            ).encode()
        )
        self.version = digest.hexdigest()[:16]

    def signing_key(self, alg: str) -> Key:
        """The active key for `alg`; kid and alg are set on it."""
        try:
            return self._signing[alg]
        except KeyError:
            raise ImproperlyConfigured(
                f"No active {alg} signing key ({self.source}). Run `manage.py rotate_keys "
                f"--alg {alg}`."
            ) from None

    def verification_key(self, kid: str) -> Key | None:
        """The key with this kid among active, next and previous keys."""
        return self._by_kid.get(kid)

    def public_jwks(self) -> dict[str, Any]:
        """RFC 7517 §5 JWK Set of the public members only (a fresh copy)."""
        return {"keys": [dict(k) for k in self._public_jwks["keys"]]}

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Algorithms this store can sign with, in preference order."""
        return tuple(alg for alg in ALGORITHMS if alg in self._signing)

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        return tuple(k.record for k in self.keys)


# --- The key directory ----------------------------------------------------------------------------
def _ensure_dir(directory: Path) -> None:
    directory.mkdir(mode=_MODE_DIR, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask and ignored for an existing directory.
    if directory.stat().st_mode & 0o077:
        directory.chmod(_MODE_DIR)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one (rename(2))."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        os.fchmod(fd, _MODE_FILE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise writers (rotate_keys, workers generating development keys at the same time)."""
    _ensure_dir(directory)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, _MODE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_manifest(directory: Path) -> list[KeyRecord] | None:
    """The manifest's records, or None when there is no manifest."""
    try:
        raw = (directory / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        entries = data["keys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ImproperlyConfigured(f"Unreadable key manifest {directory / MANIFEST}") from exc
    return [KeyRecord.from_json(entry) for entry in entries]


def _write_manifest(directory: Path, records: Sequence[KeyRecord]) -> None:
    body = {"version": MANIFEST_VERSION, "keys": [r.as_json() for r in records]}
    _atomic_write(directory / MANIFEST, json.dumps(body, indent=2).encode() + b"\n")


def _adopt_pem_files(directory: Path) -> list[StoredKey]:
    """PEM files dropped in the directory without a manifest: each one an active key."""
    adopted = []
    for path in sorted(directory.glob("*.pem")):
        key = _key_from_pem(path.read_bytes(), source=str(path))
        created = dt.datetime.fromtimestamp(int(path.stat().st_mtime), dt.UTC)
        record = KeyRecord(
            kid=key.kid,  # type: ignore[arg-type]
            alg=key.alg,  # type: ignore[arg-type]
            state=State.ACTIVE,
            created_at=created,
            activated_at=created,
            file=path.name,
        )
        adopted.append(StoredKey(record, key))
    return adopted


def _load_stored(directory: Path) -> list[StoredKey]:
    records = read_manifest(directory)
    if records is None:
        return _adopt_pem_files(directory) if directory.is_dir() else []
    stored = []
    for record in records:
        path = directory / record.file
        if path.parent != directory:
            raise ImproperlyConfigured(f"Key file {record.file!r} escapes {directory}.")
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise ImproperlyConfigured(
                f"Key {record.kid} listed in the manifest: {path} missing."
            ) from None
        key = _key_from_pem(pem, source=str(path), expected_alg=record.alg)
        if key.kid != record.kid:
            raise ImproperlyConfigured(
                f"{path}: thumbprint {key.kid} differs from the manifest's kid {record.kid}."
            )
        stored.append(StoredKey(record, key))
    return stored


def _store_new_keys(directory: Path, keys: Sequence[StoredKey]) -> None:
    for stored in keys:
        _atomic_write(directory / stored.record.file, stored.key.as_pem(private=True))


def _generate_development_keys(directory: Path) -> list[StoredKey]:
    """DEBUG only (caducee.E008): one active key for each algorithm that has none."""
    with _locked(directory):
        stored = _load_stored(directory)  # another process may have done it meanwhile
        have = {s.record.alg for s in stored if s.record.state is State.ACTIVE}
        missing = [alg for alg in ALGORITHMS if alg not in have]
        if not missing:
            return stored
        now = _now()
        new = []
        for alg in missing:
            key = generate_key(alg)
            record = KeyRecord(
                kid=key.kid,  # type: ignore[arg-type]
                alg=alg,
                state=State.ACTIVE,
                created_at=now,
                activated_at=now,
                file=f"{key.kid}.pem",
            )
            new.append(StoredKey(record, key))
        logger.warning(
            "Generated development signing keys %s in %s (IDP_AUTOGENERATE_KEYS).",
            ", ".join(f"{s.record.alg}:{s.record.kid}" for s in new),
            directory,
        )
        _store_new_keys(directory, new)
        _write_manifest(directory, [s.record for s in stored] + [s.record for s in new])
        return stored + new


def load_directory(directory: Path, *, autogenerate: bool = False) -> KeyStore:
    """Read the key directory (generating development keys when allowed and needed)."""
    stored = _load_stored(directory)
    active = {s.record.alg for s in stored if s.record.state is State.ACTIVE}
    if autogenerate and not set(ALGORITHMS) <= active:
        stored = _generate_development_keys(directory)
    if not any(s.record.state is State.ACTIVE for s in stored):
        raise ImproperlyConfigured(
            f"No active signing key in {directory}. Create keys with `manage.py rotate_keys` "
            "(or set IDP_SIGNING_JWKS; IDP_AUTOGENERATE_KEYS is for development only)."
        )
    return KeyStore(stored, source=str(directory))


def load_environment(value: str) -> KeyStore:
    """Keys from ``IDP_SIGNING_JWKS``: a private JWK Set (RFC 7517 §5) in JSON."""
    try:
        data = json.loads(value)
        entries = data["keys"]
        if not isinstance(entries, list):
            raise TypeError("keys is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ImproperlyConfigured(
            'IDP_SIGNING_JWKS must be a JSON JWK Set {"keys": [...]}.'
        ) from exc
    stored = []
    epoch = dt.datetime.fromtimestamp(0, dt.UTC)
    for entry in entries:
        if not isinstance(entry, dict):
            raise ImproperlyConfigured("IDP_SIGNING_JWKS: every key must be a JSON object.")
        key, state = _key_from_jwk(entry)
        record = KeyRecord(
            kid=key.kid,  # type: ignore[arg-type]
            alg=key.alg,  # type: ignore[arg-type]
            state=state,
            created_at=epoch,
        )
        stored.append(StoredKey(record, key))
    if not any(s.record.state is State.ACTIVE for s in stored):
        raise ImproperlyConfigured("IDP_SIGNING_JWKS holds no active signing key.")
    return KeyStore(stored, source="IDP_SIGNING_JWKS")


# --- The process-wide store -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Cached:
    source: tuple[str, str]
    store: KeyStore
    signature: tuple[Any, ...]
    checked_at: float


_cache: _Cached | None = None
_cache_lock = threading.Lock()


def _signature(directory: Path) -> tuple[Any, ...]:
    """What changes when the key set on disk changes (os.replace gives a new inode)."""
    try:
        st = (directory / MANIFEST).stat()
    except FileNotFoundError:
        try:
            return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(directory.glob("*.pem")))
        except OSError:
            return ()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def get_keystore() -> KeyStore:
    """The process-wide key store: loaded once, reloaded when the manifest changes.

    The manifest is stat()ed at most every STAT_INTERVAL_SECONDS, so a rotation reaches every
    worker within that time without a restart.
    """
    global _cache
    env = getattr(settings, "IDP_SIGNING_JWKS", "")
    source = ("env", env) if env else ("dir", str(settings.IDP_KEY_DIR))
    cached = _cache
    now = time.monotonic()
    if (
        cached is not None
        and cached.source == source
        and (env or now - cached.checked_at < STAT_INTERVAL_SECONDS)
    ):
        return cached.store
    with _cache_lock:
        cached = _cache
        if env:
            if cached is None or cached.source != source:
                _cache = _Cached(source, load_environment(env), (), now)
            return _cache.store
        directory = Path(settings.IDP_KEY_DIR)
        signature = _signature(directory)
        if cached is not None and cached.source == source and cached.signature == signature:
            _cache = replace(cached, checked_at=now)
            return cached.store
        try:
            store = _load_consistent(directory, signature)
        except ImproperlyConfigured:
            if cached is None or cached.source != source:
                raise
            # A broken edit of a working key set: keep signing with the keys that worked rather
            # than failing every login; retried at the next stat interval, loudly.
            logger.exception("Key directory %s unreadable; keeping the previous keys.", directory)
            _cache = replace(cached, checked_at=now)
            return cached.store
        _cache = _Cached(source, store, _signature(directory), now)
        return store


def _load_consistent(directory: Path, signature: tuple[Any, ...]) -> KeyStore:
    """Load the directory; once more if a rotation replaced the manifest while we read it (a
    retired PEM file can disappear between reading the old manifest and opening the file)."""
    autogenerate = settings.IDP_AUTOGENERATE_KEYS
    try:
        return load_directory(directory, autogenerate=autogenerate)
    except ImproperlyConfigured:
        if _signature(directory) == signature:
            raise
        return load_directory(directory, autogenerate=autogenerate)


def forget() -> None:
    """Drop the process-wide store (after writing keys in this process; tests)."""
    global _cache
    with _cache_lock:
        _cache = None


def configuration_problems() -> list[str]:
    """Why the configured keys cannot sign, for the deploy check; empty when they can."""
    try:
        env = getattr(settings, "IDP_SIGNING_JWKS", "")
        if env:
            load_environment(env)
        else:
            load_directory(Path(settings.IDP_KEY_DIR), autogenerate=False)
    except ImproperlyConfigured as exc:
        return [str(exc)]
    return []


# --- Rotation -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One step of a rotation; ``waiting`` and ``nothing`` change no file."""

    action: str  # created_active | created_next | promoted | demoted | retired | waiting
    alg: str
    kid: str = ""
    detail: str = ""


def plan_rotation(
    records: Sequence[KeyRecord],
    alg: str,
    *,
    now: dt.datetime,
    publish_delay: int,
    retire_after: int,
    force: bool = False,
) -> tuple[list[KeyRecord], list[Change]]:
    """One rotation step for `alg`; returns the new records (without new keys) and the changes.

    Order of a rotation that never breaks a token:
      1. create a `next` key: published in the JWKS, not signing;
      2. once it has been published for `publish_delay` seconds (caches have fetched the JWKS),
         promote it to `active` and demote the active key to `previous`;
      3. retire `previous` keys deactivated more than `retire_after` seconds ago, when no token
         they signed can still be valid.
    Step 3 runs every time; steps 1 and 2 one per call.
    """
    kept: list[KeyRecord] = []
    changes: list[Change] = []
    for record in records:
        if (
            record.alg == alg
            and record.state is State.PREVIOUS
            and record.deactivated_at is not None
            and (now - record.deactivated_at).total_seconds() >= retire_after
        ):
            changes.append(Change("retired", alg, record.kid))
        else:
            kept.append(record)
    mine = [r for r in kept if r.alg == alg]
    active = [r for r in mine if r.state is State.ACTIVE]
    upcoming = [r for r in mine if r.state is State.NEXT]
    if not active and not upcoming:
        changes.append(Change("created_active", alg))
    elif not upcoming:
        changes.append(Change("created_next", alg))
    else:
        candidate = upcoming[0]
        published = (now - candidate.created_at).total_seconds()
        if published < publish_delay and not force:
            changes.append(
                Change(
                    "waiting",
                    alg,
                    candidate.kid,
                    f"next key published {int(published)} s ago; promotion allowed after "
                    f"{publish_delay} s (or --force)",
                )
            )
        else:
            promoted = []
            for record in kept:
                if record is candidate:
                    record = replace(record, state=State.ACTIVE, activated_at=now)
                    changes.append(Change("promoted", alg, record.kid))
                elif record.alg == alg and record.state is State.ACTIVE:
                    record = replace(record, state=State.PREVIOUS, deactivated_at=now)
                    changes.append(Change("demoted", alg, record.kid))
                promoted.append(record)
            kept = promoted
    return kept, changes


def rotate(
    directory: Path,
    alg: str,
    *,
    now: dt.datetime | None = None,
    publish_delay: int = PUBLISH_DELAY_SECONDS,
    retire_after: int,
    force: bool = False,
    rsa_bits: int = DEFAULT_RSA_BITS,
    audit: Callable[[Change], None] | None = None,
) -> list[Change]:
    """Apply one rotation step (:func:`plan_rotation`) to the key directory.

    `audit` is called for every change before any file is written, so that a caller holding a
    database transaction records each change or nothing (habit 10: no action without its record).
    New PEM files are written first, then the manifest (the atomic switch), then retired PEM files
    are deleted: a crash at any point leaves a consistent key set.
    """
    now = (now or _now()).replace(microsecond=0)
    with _locked(directory):
        stored = _load_stored(directory)
        records, changes = plan_rotation(
            [s.record for s in stored],
            alg,
            now=now,
            publish_delay=publish_delay,
            retire_after=retire_after,
            force=force,
        )
        new_keys = []
        for index, change in enumerate(changes):
            if change.action in ("created_active", "created_next"):
                key = generate_key(alg, rsa_bits=rsa_bits)
                state = State.ACTIVE if change.action == "created_active" else State.NEXT
                record = KeyRecord(
                    kid=key.kid,  # type: ignore[arg-type]
                    alg=alg,
                    state=state,
                    created_at=now,
                    activated_at=now if state is State.ACTIVE else None,
                    file=f"{key.kid}.pem",
                )
                new_keys.append(StoredKey(record, key))
                records.append(record)
                changes[index] = replace(change, kid=record.kid)
        effective = [c for c in changes if c.action != "waiting"]
        if audit is not None:
            for change in effective:
                audit(change)
        if effective:
            retired_files = [
                s.record.file for s in stored if s.record.kid not in {r.kid for r in records}
            ]
            _store_new_keys(directory, new_keys)
            _write_manifest(directory, records)
            for name in retired_files:
                with contextlib.suppress(FileNotFoundError):
                    (directory / name).unlink()
    forget()
    return changes
