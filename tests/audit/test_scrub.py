"""Scrubbing is a pure function: no database, no settings; the key is an argument."""

from __future__ import annotations

import re

import pytest

from idp.audit.scrub import fingerprint, is_sensitive_key, key_words, scrub, scrub_text

KEY = "test-fingerprint-key"
FP = re.compile(r"^fp:sha256:[0-9a-f]{12}$")
# A real compact JWS (header {"alg":"HS256","typ":"JWT"}), as it would appear in a log line.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiI4MTAwMDEyMzQ1NjciLCJhdWQiOiJycCJ9"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "Password",
        "PASSWORD",
        "new_password",
        "password2",
        "passwd",
        "secret",
        "client_secret",
        "clientSecret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "IDToken",
        "otp_token",
        "csrfmiddlewaretoken",
        "tokens",
        "code",
        "auth_code",
        "authorization_code",
        "otp",
        "totp",
        "totp_seed",
        "seed",
        "pin",
        "sms_pin",
        "code_pin",
        "key",
        "api_key",
        "apiKey",
        "private_key",
        "private",
        "authorization",
        "Authorization",
        "HTTP_AUTHORIZATION",
        "cookie",
        "Cookie",
        "session",
        "sessionid",
        "session_key",
        "assertion",
        "client_assertion",
        "code_verifier",
        "mot_de_passe",
        "mdp",
    ],
)
def test_credential_like_keys_are_sensitive(name):
    assert is_sensitive_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "idnat",
        "tag",
        "reason",
        "keyword",
        "keywords",
        "monkey",
        "passage",
        "bypass",
        "key_id",
        "kid",
        "code_postal",
        "code_profession",
        "pin_attempts",
        "token_type",
        "token_type_hint",
        "status_code",
        "postal_code",
        "public_key",
        "sub",
        "acr",
        "amr",
        "client_id",
        "redirect_uri",
        "possession",
        "",
    ],
)
def test_harmless_keys_are_kept(name):
    assert not is_sensitive_key(name)


def test_key_words_split_on_separators_humps_and_digits():
    assert key_words("clientSecret") == ["client", "secret"]
    assert key_words("X-CSRFToken") == ["x", "csrf", "token"]
    assert key_words("password2") == ["password", "2"]
    assert key_words("otp.token") == ["otp", "token"]
    assert key_words("keyword") == ["keyword"]


def test_fingerprint_is_keyed_stable_and_short():
    value = fingerprint("hunter2", key=KEY)
    assert FP.match(value)
    assert value == fingerprint("hunter2", key=KEY)
    assert value != fingerprint("hunter3", key=KEY)
    assert value != fingerprint("hunter2", key="another-server-key")
    assert "hunter2" not in value


def test_sensitive_values_become_fingerprints_and_harmless_ones_stay():
    data = {
        "password": "correct horse battery staple",
        "reason": "licence withdrawn",
        "idnat": "810001234567",
        "keyword": "cardiologie",
        "attempts": 3,
    }
    scrubbed = scrub(data, key=KEY)
    assert scrubbed["password"] == fingerprint("correct horse battery staple", key=KEY)
    assert scrubbed["reason"] == "licence withdrawn"
    assert scrubbed["idnat"] == "810001234567"
    assert scrubbed["keyword"] == "cardiologie"
    assert scrubbed["attempts"] == 3
    assert data["password"] == "correct horse battery staple", "the input is not modified"


def test_nested_mappings_and_lists_are_scrubbed():
    data = {
        "request": {
            "headers": {"Authorization": "Basic Y2xpZW50OnNlY3JldA==", "Accept": "text/html"},
            "form": [{"otp_token": "123456"}, {"grant_type": "authorization_code"}],
        },
        "factors": ({"pin": 1234}, {"method": "card"}),
    }
    scrubbed = scrub(data, key=KEY)
    assert FP.match(scrubbed["request"]["headers"]["Authorization"])
    assert scrubbed["request"]["headers"]["Accept"] == "text/html"
    assert FP.match(scrubbed["request"]["form"][0]["otp_token"])
    assert scrubbed["request"]["form"][1] == {"grant_type": "authorization_code"}
    assert scrubbed["factors"] == [{"pin": fingerprint(1234, key=KEY)}, {"method": "card"}]


def test_a_whole_structure_under_a_sensitive_key_is_one_fingerprint():
    scrubbed = scrub({"session": {"user": 1, "otp_device": "x"}}, key=KEY)
    assert FP.match(scrubbed["session"])


def test_none_and_booleans_under_sensitive_keys_say_whether_a_secret_was_there():
    assert scrub({"password": None, "otp_valid": False}, key=KEY) == {
        "password": None,
        "otp_valid": False,
    }


def test_jwts_are_replaced_wherever_they_appear():
    data = {
        "note": JWT,
        "url": f"https://rp.example/logout?id_token_hint={JWT}&state=abc",
        "list": ["fine", JWT],
    }
    scrubbed = scrub(data, key=KEY)
    expected = fingerprint(JWT, key=KEY)
    assert scrubbed["note"] == expected
    assert scrubbed["url"] == f"https://rp.example/logout?id_token_hint={expected}&state=abc"
    assert scrubbed["list"] == ["fine", expected]
    assert JWT not in repr(scrubbed)


def test_an_encrypted_jwt_with_five_segments_is_replaced():
    jwe = (
        "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0"
        "..48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYI.XFBoMYUZodetZdvTiFvSkQ"
    )
    assert FP.match(scrub_text(jwe, key=KEY))


def test_bearer_credentials_are_replaced_and_the_scheme_kept():
    text = "upstream said: Authorization: Bearer mF_9.B5f-4.1JqM (expired)"
    scrubbed = scrub_text(text, key=KEY)
    assert "mF_9.B5f-4.1JqM" not in scrubbed
    assert scrubbed == (
        f"upstream said: Authorization: Bearer {fingerprint('mF_9.B5f-4.1JqM', key=KEY)} (expired)"
    )
    assert "bearer fp:sha256:" in scrub_text("bearer abcdef", key=KEY)


def test_ordinary_text_is_untouched():
    text = "Dr Martin (RPPS 10001234567) changed e-mail; eyJ alone is not a token."
    assert scrub_text(text, key=KEY) == text


def test_keys_are_stringified():
    assert scrub({1: "one"}, key=KEY) == {"1": "one"}
