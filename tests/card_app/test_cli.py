"""caducee-card: argument parsing, usage errors, and the commands against a fake server."""

from __future__ import annotations

import json
import os
import stat

import pytest

from card_app import cli, keystore, signing, totp
from card_app.client import CardApp
from card_app.keystore import DeviceState
from tests.card_app.fakes import BASE_URL, ISSUER, FakeServer, answer_activation, body_bytes

PREFIX = "/api/card/v1/"


@pytest.fixture(autouse=True)
def _no_ambient_configuration(monkeypatch, tmp_path):
    monkeypatch.delenv(cli.BASE_URL_ENV, raising=False)
    monkeypatch.setenv(keystore.STATE_ENV, str(tmp_path / "state" / "device.json"))


@pytest.fixture
def server(monkeypatch) -> FakeServer:
    fake = FakeServer()

    class FakeCardApp(CardApp):
        def __init__(self, *args, **kwargs):
            kwargs["session"] = fake.session()
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cli, "CardApp", FakeCardApp)
    return fake


@pytest.fixture
def answers(monkeypatch):
    """Queue what the holder types: ``answers.extend([...])``."""
    queue: list[str] = []

    def answer(text: str) -> str:
        if not queue:
            raise EOFError
        return queue.pop(0)

    monkeypatch.setattr(cli, "prompt", answer)
    monkeypatch.setattr(cli, "prompt_secret", answer)
    return queue


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "state" / "device.json"


@pytest.fixture
def activated(state_path) -> DeviceState:
    key = signing.generate_device_key()
    state = DeviceState(
        base_url=BASE_URL,
        kid=signing.device_kid(key),
        private_key_pem=signing.key_to_pem(key),
        totp_secret="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        id_nat="810000000001",
        device_name="Test phone",
    )
    keystore.save_state(state, state_path)
    return state


# --- usage errors (exit 2) --------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["activate"],
        ["activate", "--id-nat", "1", "--code", "x", "--base-url", BASE_URL],
        ["activate", "--code", "x"],
        ["activate", "--id-nat", "1"],
        ["activate", "--activation-id", "a", "--email-code", "1", "--sms-code", "2"],
        ["activate", "--qr", "https://not-a-card-qr", "--pin", "2580"],
        ["activate", "--qr", "caducee-card://login?iss=https://idp.test&c=a&s=b"],
        ["activate", "--code", "x", "--base-url", BASE_URL, "--start-only"],
        ["activate", "--code", "x", "--base-url", BASE_URL, "--email-code", "1"],
        ["approve", "ch1", "--qr", f"caducee-card://login?iss={ISSUER}&c=a&s=b"],
        ["approve", "--qr", f"caducee-card://activate?iss={ISSUER}&code=x"],
        ["code", "--timeout", "soon"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "activate" in capsys.readouterr().out


def test_common_options_before_or_after_the_command(tmp_path):
    parser = cli.build_parser()
    before = parser.parse_args(["--json", "--state", "s.json", "pending"])
    after = parser.parse_args(["pending", "--json", "--state", "s.json", "--insecure"])
    default = parser.parse_args(["pending"])
    assert (before.json, before.state) == (True, "s.json")
    assert (after.json, after.state, after.insecure) == (True, "s.json", True)
    assert (default.json, default.state, default.insecure, default.timeout) == (
        False,
        None,
        False,
        15.0,
    )


def test_base_url_from_the_environment(monkeypatch):
    monkeypatch.setenv(cli.BASE_URL_ENV, BASE_URL)
    args = cli.build_parser().parse_args(["activate", "--code", "x"])
    assert args.base_url == BASE_URL


# --- activation -------------------------------------------------------------------------------
def test_activate_with_an_admin_code_writes_a_private_state(server, state_path, capsys):
    server.add("POST", PREFIX + "activation/complete", 201, answer_activation)
    argv = ["activate", "--code", "ADM-1", "--base-url", BASE_URL, "--pin", "2580", "--name", "P"]
    assert cli.main(argv) == 0
    assert "Activated / Activée" in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(state_path).st_mode) == 0o600
    state = keystore.load_state(state_path)
    assert state.base_url == BASE_URL
    body = json.loads(body_bytes(server.last))
    assert body == {"activation_code": "ADM-1", "device_name": "P", "pin": "2580"}


def test_activate_from_a_qr_derives_the_base_url(server, state_path, answers, capsys):
    server.add("POST", PREFIX + "activation/complete", 201, answer_activation)
    answers.extend(["2580", "2580"])
    qr = f"caducee-card://activate?iss={ISSUER}&code=QR1"
    assert cli.main(["activate", "--qr", qr, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["id_nat"] == "810000000001"
    assert server.last.url == f"{BASE_URL}{PREFIX}activation/complete"
    state = keystore.load_state(state_path)
    assert state.issuer == ISSUER
    assert summary["kid"] == state.kid


def test_activate_self_service_prompts_for_the_codes(server, state_path, answers):
    server.add(
        "POST",
        PREFIX + "activation/start",
        202,
        {"activation_id": "act1", "expires_in": 900, "channels": ["email", "sms"]},
    )
    server.add("POST", PREFIX + "activation/complete", 201, answer_activation)
    answers.extend(["111111", "222222", "2580", "2580"])
    assert cli.main(["activate", "--id-nat", "810000000001", "--base-url", BASE_URL]) == 0
    body = json.loads(body_bytes(server.last))
    assert (body["activation_id"], body["email_code"], body["sms_code"]) == (
        "act1",
        "111111",
        "222222",
    )
    assert keystore.load_state(state_path).id_nat == "810000000001"


def test_activate_in_two_steps_for_scripts(server, state_path, capsys):
    server.add(
        "POST",
        PREFIX + "activation/start",
        202,
        {"activation_id": "act1", "expires_in": 900, "channels": ["email", "sms"]},
    )
    argv = ["activate", "--id-nat", "810000000001", "--base-url", BASE_URL, "--start-only"]
    assert cli.main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["activation_id"] == "act1"
    assert not state_path.exists()
    server.add("POST", PREFIX + "activation/complete", 201, answer_activation)
    argv = ["activate", "--activation-id", "act1", "--email-code", "1", "--sms-code", "2"]
    assert cli.main([*argv, "--base-url", BASE_URL, "--pin", "2580"]) == 0
    assert state_path.exists()


def test_activate_refuses_mismatched_pins(server, answers, state_path, capsys):
    answers.extend(["2580", "2581"])
    argv = ["activate", "--code", "x", "--base-url", BASE_URL]
    assert cli.main(argv) == 1
    assert "differ" in capsys.readouterr().err
    assert server.requests == []
    assert not state_path.exists()


def test_activate_refuses_a_weak_pin_before_spending_the_code(server, capsys):
    assert cli.main(["activate", "--code", "x", "--base-url", BASE_URL, "--pin", "1234"]) == 1
    assert "easy" in capsys.readouterr().err
    assert server.requests == []


def test_activate_does_not_replace_a_device_without_force(server, activated, capsys):
    argv = ["activate", "--code", "x", "--base-url", BASE_URL, "--pin", "2580"]
    assert cli.main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert server.requests == []
    server.add("POST", PREFIX + "activation/complete", 201, answer_activation)
    assert cli.main([*argv, "--force"]) == 0


def test_activation_error_is_reported_with_its_code(server, capsys):
    server.add(
        "POST",
        PREFIX + "activation/complete",
        410,
        {
            "error": "activation_expired",
            "message": "The code expired.",
            "message_fr": "Le code a expiré.",
        },
    )
    assert cli.main(["activate", "--code", "x", "--base-url", BASE_URL, "--pin", "2580"]) == 1
    err = capsys.readouterr().err
    assert "activation_expired" in err
    assert "The code expired." in err
    assert "Le code a expiré." in err


# --- approvals --------------------------------------------------------------------------------
CHALLENGE = {
    "id": "ch1",
    "purpose": "login",
    "choices": ["12", "07", "83"],
    "client_name": "Hôpital Test",
    "binding_message": None,
    "browser": "Firefox on Linux, 192.0.2.x",
    "created_at": "2026-01-01T00:00:00Z",
    "expires_at": "2026-01-01T00:02:00Z",
}


def test_approve_the_only_pending_challenge(server, activated, answers, capsys):
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [CHALLENGE]})
    server.add("POST", PREFIX + "challenges/ch1/approve", 200, {"status": "approved"})
    answers.extend(["99", "7", "2580"])  # 99 is not a choice: asked again
    assert cli.main(["approve"]) == 0
    out = capsys.readouterr().out
    assert "Hôpital Test" in out
    assert "Firefox on Linux" in out
    assert "12   07   83" in out
    assert "Approved / Approuvé" in out
    assert json.loads(body_bytes(server.last)) == {"number": "07", "pin": "2580"}


def test_approve_with_options(server, activated, capsys):
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [CHALLENGE]})
    server.add("POST", PREFIX + "challenges/ch1/approve", 200, {"status": "approved"})
    assert cli.main(["approve", "ch1", "--number", "07", "--pin", "2580", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"status": "approved"}
    assert json.loads(body_bytes(server.last))["number"] == "07"


def test_approve_with_a_number_not_offered_still_answers(server, activated):
    """A number not among the choices is sent: the server fails the challenge (fraud signal)."""
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [CHALLENGE]})
    server.add(
        "POST",
        PREFIX + "challenges/ch1/approve",
        403,
        {"error": "wrong_number", "message": "Wrong number."},
    )
    assert cli.main(["approve", "--number", "55", "--pin", "2580"]) == 1
    assert json.loads(body_bytes(server.last))["number"] == "55"


def test_approve_a_scanned_qr(server, activated, capsys):
    uri = f"caducee-card://login?iss={ISSUER}&c=ch2&s=sec"
    server.add("POST", PREFIX + "challenges/scan", 200, {**CHALLENGE, "id": "ch2"})
    server.add("POST", PREFIX + "challenges/ch2/approve", 200, {"status": "approved"})
    assert cli.main(["approve", "--qr", uri, "--number", "83", "--pin", "2580"]) == 0
    assert json.loads(body_bytes(server.requests[0])) == {"qr": uri}


def test_approve_with_nothing_pending(server, activated, capsys):
    server.add("GET", PREFIX + "challenges", 200, {"challenges": []})
    assert cli.main(["approve"]) == 1
    assert "Aucune demande" in capsys.readouterr().out


def test_approve_with_several_pending_needs_an_id(server, activated, capsys):
    second = {**CHALLENGE, "id": "ch2"}
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [CHALLENGE, second]})
    assert cli.main(["approve", "--pin", "2580", "--number", "12"]) == 2
    assert "ch1, ch2" in capsys.readouterr().err


def test_wrong_pin_is_exit_1(server, activated, capsys):
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [CHALLENGE]})
    server.add(
        "POST",
        PREFIX + "challenges/ch1/approve",
        403,
        {
            "error": "wrong_pin",
            "message": "Wrong PIN.",
            "message_fr": "Code PIN erroné.",
            "attempts_left": 1,
        },
    )
    assert cli.main(["approve", "--number", "12", "--pin", "2580"]) == 1
    err = capsys.readouterr().err
    assert "wrong_pin" in err
    assert "Attempts left / Essais restants : 1" in err


def test_deny(server, activated, capsys):
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [CHALLENGE]})
    server.add("POST", PREFIX + "challenges/ch1/deny", 200, {"status": "denied"})
    assert cli.main(["deny", "--reason", "not me"]) == 0
    assert "Denied / Refusé" in capsys.readouterr().out
    assert json.loads(body_bytes(server.last)) == {"reason": "not me"}


def test_pending_lists(server, activated, capsys):
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [CHALLENGE]})
    assert cli.main(["pending", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [CHALLENGE]


# --- offline code, devices, sessions ----------------------------------------------------------
def test_code_prints_the_totp(activated, answers, capsys, monkeypatch):
    monkeypatch.setattr(cli.time, "time", lambda: 1764130000.0)
    answers.append("2580")
    assert cli.main(["code"]) == 0
    out = capsys.readouterr().out.split()
    expected = totp.totp(totp.decode_secret(activated.totp_secret), 1764130000)
    assert out[0] == expected


def test_code_needs_a_well_formed_pin(activated, capsys):
    assert cli.main(["code", "--pin", "12"]) == 1
    assert "4" in capsys.readouterr().err


def test_commands_without_a_device(capsys):
    assert cli.main(["code", "--pin", "2580"]) == 1
    assert "activate" in capsys.readouterr().err


def test_commands_refuse_a_world_readable_state(activated, state_path, capsys):
    state_path.chmod(0o644)
    assert cli.main(["code", "--pin", "2580"]) == 1
    assert "chmod 600" in capsys.readouterr().err


def test_revoking_this_device_deletes_its_state(server, activated, state_path, capsys):
    server.add("DELETE", f"{PREFIX}devices/{activated.kid}", 204)
    assert cli.main(["devices", "--revoke", activated.kid]) == 0
    assert "Revoked / Révoqué" in capsys.readouterr().out
    assert not state_path.exists()


def test_devices_list(server, activated, capsys):
    server.add(
        "GET",
        PREFIX + "devices",
        200,
        {"devices": [{"kid": activated.kid, "name": "Test phone", "current": True}]},
    )
    assert cli.main(["devices"]) == 0
    assert f"* {activated.kid}" in capsys.readouterr().out


def test_sessions_and_logout_all(server, activated, capsys):
    server.add(
        "GET",
        PREFIX + "sessions",
        200,
        {
            "sessions": [
                {
                    "sid": "s1",
                    "acr": "eidas2",
                    "clients": [{"client_id": "c1", "client_name": "Hôpital Test"}],
                }
            ]
        },
    )
    assert cli.main(["sessions"]) == 0
    assert "Hôpital Test" in capsys.readouterr().out
    server.add("DELETE", PREFIX + "sessions/s1", 204)
    assert cli.main(["sessions", "--end", "s1"]) == 0
    assert "Session ended" in capsys.readouterr().out
    server.add("POST", PREFIX + "sessions/logout-all", 200, {"ended": 2})
    assert cli.main(["logout-all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ended": 2}


@pytest.mark.parametrize("position", ["before", "after"])
def test_ids_beginning_with_a_dash_are_not_taken_for_options(server, activated, capsys, position):
    """base64url ids begin with "-" one time in 64 (found by tests/interop/test_card_app_e2e.py)."""
    dashed = "-StpFA5I_8ZLyddxQrSwaJPgntkYyj3k8ElBfD5UulM"
    server.add("GET", PREFIX + "challenges", 200, {"challenges": [{**CHALLENGE, "id": dashed}]})
    server.add("POST", f"{PREFIX}challenges/{dashed}/approve", 200, {"status": "approved"})
    options = ["--number", "07", "--pin", "2580", "--json"]
    argv = [dashed, *options] if position == "before" else [*options, dashed]
    assert cli.main(["approve", *argv]) == 0
    assert json.loads(capsys.readouterr().out) == {"status": "approved"}
    server.add("DELETE", f"{PREFIX}sessions/-s1AAAAAAAAAAAAAAAAAAAA", 204)
    assert cli.main(["sessions", "--end", "-s1AAAAAAAAAAAAAAAAAAAA"]) == 0
    server.add("DELETE", f"{PREFIX}devices/{dashed}", 204)
    assert cli.main(["devices", "--json", "--revoke", dashed]) == 0
    assert cli.shield_dashed_ids(["approve", "--", dashed]) == ["approve", "--", dashed]
    assert cli.shield_dashed_ids(["--state", "f", "pending"]) == ["--state", "f", "pending"]
