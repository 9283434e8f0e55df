"""The key store and rotation (idp/oidc/keys.py, manage.py rotate_keys): real keys on disk."""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from joserfc.jwk import ECKey, RSAKey

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.core import checks
from idp.oidc import jwt, keys
from idp.oidc.management.commands.rotate_keys import longest_token_lifetime
from tests.oidc.factories import make_client

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# RFC 7638 §3.2: the members a thumbprint covers.
_REQUIRED = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


def rfc7638(jwk: dict) -> str:
    """RFC 7638 §3.1, written out independently of joserfc."""
    members = {name: jwk[name] for name in _REQUIRED[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def test_thumbprint_helper_matches_rfc7638_example():
    # RFC 7638 §3.1 example key and thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert rfc7638({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256"}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


@pytest.fixture
def key_dir(settings, tmp_path) -> Path:
    """An empty key directory of its own, no development keys."""
    directory = tmp_path / "keys"
    settings.IDP_KEY_DIR = directory
    settings.IDP_AUTOGENERATE_KEYS = False
    keys.forget()
    yield directory
    keys.forget()


def _claims(**extra):
    from django.conf import settings

    now = int(time.time())
    return {"iss": settings.IDP_ISSUER, "sub": "s", "iat": now, "exp": now + 60, **extra}


def _manifest(directory: Path) -> dict:
    return json.loads((directory / keys.MANIFEST).read_text())


def _pem(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- Loading --------------------------------------------------------------------------------------
def test_development_keys_are_generated_once_with_private_permissions(key_dir, settings):
    settings.IDP_AUTOGENERATE_KEYS = True

    store = keys.get_keystore()

    assert store.algorithms == ("RS256", "ES256")
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    manifest = _manifest(key_dir)
    assert [(k["alg"], k["state"]) for k in manifest["keys"]] == [
        ("RS256", "active"),
        ("ES256", "active"),
    ]
    for entry in manifest["keys"]:
        pem = key_dir / entry["file"]
        assert pem.suffix == ".pem"
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
        key = store.signing_key(entry["alg"])
        assert key.kid == entry["kid"] == rfc7638(key.as_dict(private=False))
        assert entry["created_at"] and entry["activated_at"] and entry["deactivated_at"] is None
    assert stat.S_IMODE((key_dir / keys.MANIFEST).stat().st_mode) == 0o600
    # No temporary file left behind by the atomic writes.
    assert not list(key_dir.glob(".tmp-*"))

    keys.forget()
    again = keys.get_keystore()
    assert [r.kid for r in again.records] == [r.kid for r in store.records]


def test_missing_keys_outside_development_is_a_clear_configuration_error(key_dir):
    with pytest.raises(ImproperlyConfigured, match=r"No active signing key .*rotate_keys"):
        keys.get_keystore()
    assert not (key_dir / keys.MANIFEST).exists()


def test_store_is_loaded_once_then_reloaded_when_the_manifest_changes(
    key_dir, settings, monkeypatch
):
    settings.IDP_AUTOGENERATE_KEYS = True
    first = keys.get_keystore()
    assert keys.get_keystore() is first

    # Another process rotates: only the files change, this process is not told.
    records, _ = keys.plan_rotation(
        first.records, "ES256", now=dt.datetime.now(dt.UTC), publish_delay=0, retire_after=0
    )
    new = keys.generate_key("ES256")
    records.append(
        keys.KeyRecord(
            kid=new.kid,
            alg="ES256",
            state=keys.State.NEXT,
            created_at=dt.datetime.now(dt.UTC),
            file=f"{new.kid}.pem",
        )
    )
    (key_dir / f"{new.kid}.pem").write_bytes(new.as_pem(private=True))
    keys._write_manifest(key_dir, records)

    # Within the stat interval the worker keeps its store without touching the disk...
    assert keys.get_keystore() is first
    # ...and picks up the change once the interval has passed.
    monkeypatch.setattr(keys, "STAT_INTERVAL_SECONDS", 0.0)
    reloaded = keys.get_keystore()
    assert reloaded is not first
    assert reloaded.verification_key(new.kid) is not None
    assert keys.get_keystore() is reloaded  # unchanged manifest: no reload


def test_pem_files_without_manifest_are_adopted_and_pass_the_deploy_check(key_dir, settings):
    key_dir.mkdir(mode=0o700)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (key_dir / "operator-rsa.pem").write_bytes(_pem(rsa_key))
    (key_dir / "operator-ec.pem").write_bytes(_pem(ec_key))

    store = keys.get_keystore()

    assert store.algorithms == ("RS256", "ES256")
    rsa_jwk = RSAKey.import_key(rsa_key.public_key())
    assert store.signing_key("RS256").kid == rsa_jwk.thumbprint()
    settings.DEBUG = False
    assert checks.check_signing_keys() == []
    assert keys.configuration_problems() == []


def test_generated_layout_passes_the_deploy_check(key_dir, settings):
    settings.IDP_AUTOGENERATE_KEYS = True
    keys.get_keystore()
    settings.DEBUG = False
    settings.IDP_AUTOGENERATE_KEYS = False
    assert checks.check_signing_keys() == []
    assert keys.configuration_problems() == []


def test_a_key_whose_thumbprint_differs_from_the_manifest_is_refused(key_dir, settings):
    settings.IDP_AUTOGENERATE_KEYS = True
    store = keys.get_keystore()
    es = next(r for r in store.records if r.alg == "ES256")
    # Someone swaps the file under the manifest.
    (key_dir / es.file).write_bytes(keys.generate_key("ES256").as_pem(private=True))
    keys.forget()
    settings.IDP_AUTOGENERATE_KEYS = False

    with pytest.raises(ImproperlyConfigured, match="thumbprint"):
        keys.get_keystore()
    assert keys.configuration_problems()


def test_a_short_rsa_key_is_refused(key_dir):
    key_dir.mkdir(mode=0o700)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    (key_dir / "weak.pem").write_bytes(_pem(weak))

    with pytest.raises(ImproperlyConfigured, match="at least 2048"):
        keys.get_keystore()
    with pytest.raises(ValueError, match="2048"):
        keys.generate_key("RS256", rsa_bits=1024)


def test_unsupported_curve_is_refused(key_dir):
    key_dir.mkdir(mode=0o700)
    (key_dir / "p384.pem").write_bytes(_pem(ec.generate_private_key(ec.SECP384R1())))

    with pytest.raises(ImproperlyConfigured, match="P-256"):
        keys.get_keystore()


# --- Keys from the environment --------------------------------------------------------------------
def _private_jwks(*entries: tuple[object, str | None]) -> str:
    out = []
    for key, state in entries:
        data = key.as_dict(private=True)
        if state:
            data["state"] = state
        out.append(data)
    return json.dumps({"keys": out})


def test_keys_from_the_environment(key_dir, settings):
    rsa_key = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, auto_kid=True)
    ec_key = ECKey.generate_key("P-256", auto_kid=True)
    upcoming = ECKey.generate_key("P-256", auto_kid=True)
    settings.IDP_SIGNING_JWKS = _private_jwks(
        (rsa_key, None), (ec_key, "active"), (upcoming, "next")
    )

    store = keys.get_keystore()

    assert store.signing_key("RS256").kid == rsa_key.kid
    assert store.signing_key("ES256").kid == ec_key.kid
    assert store.verification_key(upcoming.kid) is not None
    public = store.public_jwks()["keys"]
    assert [k["kid"] for k in public] == [rsa_key.kid, ec_key.kid, upcoming.kid]
    assert all(not PRIVATE_MEMBERS & set(k) for k in public)
    token = jwt.sign(_claims(), alg="ES256")
    assert jwt.unverified_header(token)["kid"] == ec_key.kid
    assert not key_dir.exists()  # the directory is not used


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "JSON JWK Set"),
        ('{"keys": {}}', "JSON JWK Set"),
        ("PUBLIC", "private keys"),
        ("WRONG_KID", "thumbprint"),
        ("NEXT_ONLY", "no active"),
    ],
)
def test_bad_environment_keys_are_refused(key_dir, settings, value, message):
    key = ECKey.generate_key("P-256", auto_kid=True)
    if value == "PUBLIC":
        value = json.dumps({"keys": [key.as_dict(private=False)]})
    elif value == "WRONG_KID":
        value = json.dumps({"keys": [{**key.as_dict(private=True), "kid": "mine"}]})
    elif value == "NEXT_ONLY":
        value = _private_jwks((key, "next"))
    settings.IDP_SIGNING_JWKS = value

    with pytest.raises(ImproperlyConfigured, match=message):
        keys.get_keystore()


# --- Rotation -------------------------------------------------------------------------------------
def _events():
    return list(
        AuditEvent.objects.filter(tag=EventTag.OIDC_KEYS_ROTATED.value).order_by("sequence")
    )


@pytest.mark.django_db
def test_rotation_never_breaks_a_token(key_dir, client):
    def audit(change):
        from idp.audit import journal

        journal.record(EventTag.OIDC_KEYS_ROTATED, actor="cli:test", subject=change.kid)

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    # First setup: an active key straight away (nothing to break yet).
    [created] = keys.rotate(key_dir, "ES256", now=t0, retire_after=600, audit=audit)
    assert created.action == "created_active"
    old_kid = created.kid
    old_token = jwt.sign(_claims(), alg="ES256")
    assert jwt.unverified_header(old_token)["kid"] == old_kid

    # Step 1: a next key, published in the JWKS, not signing.
    [step1] = keys.rotate(key_dir, "ES256", now=t0 + dt.timedelta(days=1), retire_after=600)
    assert step1.action == "created_next"
    next_kid = step1.kid
    published = {k["kid"] for k in client.get("/oidc/jwks").json()["keys"]}
    assert published == {old_kid, next_kid}
    assert jwt.unverified_header(jwt.sign(_claims(), alg="ES256"))["kid"] == old_kid

    # Too early to promote: the JWKS caches may not have the next key yet. Nothing changes.
    before = _manifest(key_dir)
    [waiting] = keys.rotate(
        key_dir,
        "ES256",
        now=t0 + dt.timedelta(days=1, seconds=keys.PUBLISH_DELAY_SECONDS - 1),
        retire_after=600,
    )
    assert waiting.action == "waiting"
    assert _manifest(key_dir) == before

    # Step 2: promotion. New tokens use the new key; the old token still verifies.
    promoted_at = t0 + dt.timedelta(days=1, seconds=keys.PUBLISH_DELAY_SECONDS)
    changes = keys.rotate(key_dir, "ES256", now=promoted_at, retire_after=600)
    assert {(c.action, c.kid) for c in changes} == {("promoted", next_kid), ("demoted", old_kid)}
    new_token = jwt.sign(_claims(), alg="ES256")
    assert jwt.unverified_header(new_token)["kid"] == next_kid
    assert jwt.verify(old_token)["sub"] == "s"
    assert jwt.verify(new_token)["sub"] == "s"
    states = {k["kid"]: k["state"] for k in _manifest(key_dir)["keys"]}
    assert states == {old_kid: "previous", next_kid: "active"}
    published = {k["kid"] for k in client.get("/oidc/jwks").json()["keys"]}
    assert published == {old_kid, next_kid}

    # Not yet expired everywhere: the previous key stays.
    keys.rotate(key_dir, "ES256", now=promoted_at + dt.timedelta(seconds=599), retire_after=600)
    assert jwt.verify(old_token)["sub"] == "s"

    # Step 3: retired once every token it signed has expired; its private key is deleted.
    changes = keys.rotate(
        key_dir, "ES256", now=promoted_at + dt.timedelta(seconds=600), retire_after=600
    )
    assert ("retired", old_kid) in {(c.action, c.kid) for c in changes}
    assert not (key_dir / f"{old_kid}.pem").exists()
    published = {k["kid"] for k in client.get("/oidc/jwks").json()["keys"]}
    assert old_kid not in published
    with pytest.raises(jwt.InvalidJWT, match="unknown kid"):
        jwt.verify(old_token, verify_exp=False)
    assert jwt.verify(new_token)["sub"] == "s"
    assert [e.subject for e in _events()] == [old_kid]


@pytest.mark.django_db
def test_rotate_keys_command_audits_each_change(key_dir, settings):
    settings.IDP_AUTOGENERATE_KEYS = True
    keys.get_keystore()

    call_command("rotate_keys", "--alg", "RS256", stdout=(out := _Out()))

    assert "RS256: created_next" in out.text
    [event] = _events()
    assert event.actor == f"cli:{getpass.getuser()}"
    upcoming = next(k for k in _manifest(key_dir)["keys"] if k["state"] == "next")
    assert event.subject == upcoming["kid"]
    assert event.data["action"] == "created_next"
    assert event.data["alg"] == "RS256"

    # Second run inside the publish delay: waits, changes nothing, journals nothing.
    before = _manifest(key_dir)
    call_command("rotate_keys", "--alg", "RS256", stdout=(out := _Out()))
    assert "waiting" in out.text
    assert _manifest(key_dir) == before
    assert len(_events()) == 1

    # --force promotes at once (an emergency: compromised key).
    call_command("rotate_keys", "--alg", "RS256", "--force", stdout=_Out())
    assert sorted(e.data["action"] for e in _events()[1:]) == ["demoted", "promoted"]
    assert keys.get_keystore().signing_key("RS256").kid == upcoming["kid"]


@pytest.mark.django_db
def test_rotate_keys_status_prints_the_table_and_changes_nothing(key_dir, settings):
    settings.IDP_AUTOGENERATE_KEYS = True
    store = keys.get_keystore()
    before = _manifest(key_dir)

    call_command("rotate_keys", "--status", stdout=(out := _Out()))

    for record in store.records:
        assert record.kid in out.text
    assert "active" in out.text
    assert _manifest(key_dir) == before
    assert _events() == []


@pytest.mark.django_db
def test_retire_after_below_the_longest_token_lifetime_is_refused(key_dir, settings):
    settings.IDP_ACCESS_TOKEN_SECONDS = 120
    settings.IDP_ID_TOKEN_SECONDS = 300
    make_client(access_token_lifetime=3600)
    assert longest_token_lifetime() == 3600

    with pytest.raises(CommandError, match=str(3600 + keys.RETIRE_LEEWAY_SECONDS)):
        call_command("rotate_keys", "--retire-after", "600", stdout=_Out())
    assert not key_dir.exists()
    assert _events() == []


@pytest.mark.django_db
def test_rotate_keys_refuses_environment_keys(key_dir, settings):
    settings.IDP_SIGNING_JWKS = _private_jwks((ECKey.generate_key("P-256", auto_kid=True), None))

    with pytest.raises(CommandError, match="IDP_SIGNING_JWKS"):
        call_command("rotate_keys", stdout=_Out())
    assert not key_dir.exists()
    assert _events() == []
    call_command("rotate_keys", "--status", stdout=(out := _Out()))
    assert "IDP_SIGNING_JWKS" in out.text
    assert keys.get_keystore().signing_key("ES256").kid in out.text


@pytest.mark.django_db
def test_a_failed_journal_write_leaves_the_keys_untouched(key_dir, settings):
    settings.IDP_AUTOGENERATE_KEYS = True
    keys.get_keystore()
    before = _manifest(key_dir)
    files = sorted(p.name for p in key_dir.iterdir())

    def failing_audit(change):
        raise RuntimeError("journal unavailable")

    with pytest.raises(RuntimeError):
        keys.rotate(key_dir, "ES256", retire_after=600, audit=failing_audit)

    assert _manifest(key_dir) == before
    assert sorted(p.name for p in key_dir.iterdir()) == files


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, value: str) -> None:
        self.text += value

    def flush(self) -> None:
        pass


def test_workers_starting_together_generate_one_key_set(key_dir):
    """Development: several workers start at once on an empty directory; the lock makes one of
    them generate, the others read its keys (otherwise each would sign with its own key)."""
    script = (
        "import sys; from pathlib import Path; from idp.oidc import keys; "
        "store = keys.load_directory(Path(sys.argv[1]), autogenerate=True); "
        "print(' '.join(sorted(r.kid for r in store.records)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "idp.settings"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(key_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for _ in range(4)
    ]
    outputs = {worker.communicate(timeout=60)[0].decode().strip() for worker in workers}

    assert all(worker.returncode == 0 for worker in workers)
    [kids] = outputs
    assert sorted(k["kid"] for k in _manifest(key_dir)["keys"]) == kids.split()
    assert len(list(key_dir.glob("*.pem"))) == 2


def test_a_broken_manifest_keeps_the_working_keys_of_a_running_worker(
    key_dir, settings, monkeypatch, caplog
):
    settings.IDP_AUTOGENERATE_KEYS = True
    working = keys.get_keystore()
    settings.IDP_AUTOGENERATE_KEYS = False
    monkeypatch.setattr(keys, "STAT_INTERVAL_SECONDS", 0.0)

    (key_dir / keys.MANIFEST).write_text("{not json")

    assert keys.get_keystore() is working
    assert "keeping the previous keys" in caplog.text
    assert jwt.verify(jwt.sign(_claims(), alg="RS256"))["sub"] == "s"
    # A worker starting now refuses to run on it.
    keys.forget()
    with pytest.raises(ImproperlyConfigured, match="Unreadable key manifest"):
        keys.get_keystore()
