"""The device state file: written 0600 atomically, refused when others can read it."""

from __future__ import annotations

import json
import os
import stat

import pytest

from card_app import keystore
from card_app.keystore import DeviceState, KeystoreError, load_state, save_state

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def make_state(**overrides) -> DeviceState:
    values = {
        "base_url": "https://idp.test",
        "kid": "kid-1",
        "private_key_pem": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
        "totp_secret": "GEZDGNBVGY3TQOJQ",
        "id_nat": "810000000001",
        "device_name": "Test phone",
    }
    values.update(overrides)
    return DeviceState(**values)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_saved_with_mode_0600_in_a_0700_directory(tmp_path):
    path = tmp_path / "new" / "device.json"
    save_state(make_state(), path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert load_state(path) == make_state()


def test_mode_0600_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        path = save_state(make_state(), tmp_path / "device.json")
    finally:
        os.umask(previous)
    assert mode(path) == 0o600


def test_no_temporary_file_left_behind(tmp_path):
    save_state(make_state(), tmp_path / "device.json")
    assert [p.name for p in tmp_path.iterdir()] == ["device.json"]


def test_refuses_a_file_readable_by_others(tmp_path):
    path = save_state(make_state(), tmp_path / "device.json")
    path.chmod(0o644)
    with pytest.raises(KeystoreError, match="accessible by other users"):
        load_state(path)


def test_refuses_a_file_readable_by_the_group(tmp_path):
    path = save_state(make_state(), tmp_path / "device.json")
    path.chmod(0o640)
    with pytest.raises(KeystoreError, match="chmod 600"):
        load_state(path)


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = save_state(make_state(), tmp_path / "device.json")
    with pytest.raises(KeystoreError, match="already exists"):
        save_state(make_state(kid="kid-2"), path)
    assert load_state(path).kid == "kid-1"
    save_state(make_state(kid="kid-2"), path, overwrite=True)
    assert load_state(path).kid == "kid-2"
    assert mode(path) == 0o600


def test_missing_file_says_to_activate(tmp_path):
    with pytest.raises(KeystoreError, match="activate"):
        load_state(tmp_path / "absent.json")


def test_malformed_files_are_refused(tmp_path):
    path = tmp_path / "device.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{not json")
    os.close(fd)
    with pytest.raises(KeystoreError, match="not valid JSON"):
        load_state(path)
    path.write_text(json.dumps({"version": 1, "base_url": "https://idp.test"}))
    with pytest.raises(KeystoreError, match="incomplete"):
        load_state(path)
    path.write_text(json.dumps({**make_state().to_json(), "version": 99}))
    with pytest.raises(KeystoreError, match="version"):
        load_state(path)


def test_file_content_is_json_with_a_version(tmp_path):
    path = save_state(make_state(issuer="https://idp.test/auth/realms/r"), tmp_path / "d.json")
    data = json.loads(path.read_text())
    assert data["version"] == keystore.FORMAT_VERSION
    assert data["issuer"] == "https://idp.test/auth/realms/r"
    assert data["totp_digits"] == 6
    assert data["totp_period"] == 30


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.delenv(keystore.STATE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert keystore.default_state_path() == tmp_path / "caducee-card" / "device.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keystore.default_state_path() == tmp_path / ".config" / "caducee-card" / "device.json"
    monkeypatch.setenv(keystore.STATE_ENV, str(tmp_path / "elsewhere.json"))
    assert keystore.default_state_path() == tmp_path / "elsewhere.json"


def test_delete_state(tmp_path):
    path = save_state(make_state(), tmp_path / "device.json")
    assert keystore.delete_state(path) is True
    assert keystore.delete_state(path) is False
