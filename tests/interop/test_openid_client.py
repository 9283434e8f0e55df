"""panva's openid-client (Node), an independent certified RP library, against a live Caducée."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import POST_LOGOUT_URI, REDIRECT_URI

NODE_DIR = Path(__file__).parent / "node"

pytestmark = pytest.mark.django_db(transaction=True)


def _node_or_skip() -> str:
    node = shutil.which("node")
    ready = node and (NODE_DIR / "node_modules" / "openid-client").is_dir()
    if not ready:
        if os.environ.get("CI"):
            pytest.fail("CI must install Node.js and `npm ci` in tests/interop/node")
        pytest.skip("needs Node.js and `npm ci --prefix tests/interop/node` (make test does it)")
    return node


def test_code_flow_userinfo_refresh_introspection_revocation_logout(
    live_provider, registered_rp, doctor
):
    node = _node_or_skip()
    client, secret = registered_rp
    env = {
        **os.environ,
        "ISSUER": live_provider,
        "CLIENT_ID": client.client_id,
        "CLIENT_SECRET": secret,
        "REDIRECT_URI": REDIRECT_URI,
        "POST_LOGOUT_REDIRECT_URI": POST_LOGOUT_URI,
        "ID_NAT": doctor.id_nat,
    }
    result = subprocess.run(
        [node, "rp.mjs"],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert report["issuer"] == live_provider
    assert report["callback_has_iss"] is True
    assert {"access_token", "id_token", "refresh_token", "expires_in", "token_type"} <= set(
        report["token_fields"]
    )
    claims = report["id_token_claims"]
    assert claims["iss"] == live_provider
    assert claims["aud"] == client.client_id
    assert claims["sub"] == doctor.sub
    assert claims["preferred_username"] == doctor.id_nat

    userinfo = report["userinfo"]
    assert userinfo["sub"] == doctor.sub
    assert userinfo["SubjectNameID"] == doctor.id_nat
    assert len(userinfo["SubjectRefPro"]["exercices"][0]["activities"]) == 2

    assert report["refresh_rotated"] is True
    assert report["introspection"]["active"] is True
    assert report["introspection"]["client_id"] == client.client_id
    assert report["revoked_refresh"] == {"active": False}
    assert report["refresh_after_revocation"] == "invalid_grant"
    assert report["logout_redirect"].startswith(POST_LOGOUT_URI)
    assert "state=bye" in report["logout_redirect"]
