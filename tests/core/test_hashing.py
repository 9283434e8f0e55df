from idp.core import hashing


def test_keyed_hash_depends_on_purpose_and_key(settings):
    settings.IDP_TOKEN_HMAC_KEY = "k" * 16 + "ey-for-tests-0123456789"
    token = hashing.new_secret()
    as_code = hashing.keyed_hash(token, purpose="code")
    assert as_code != hashing.keyed_hash(token, purpose="refresh_token")
    assert hashing.matches(token, as_code, purpose="code")
    assert not hashing.matches(token + "x", as_code, purpose="code")
    settings.IDP_TOKEN_HMAC_KEY = "another-key-for-tests-0123456789"
    assert not hashing.matches(token, as_code, purpose="code")


def test_development_key_is_derived_from_the_secret_key(settings):
    settings.IDP_TOKEN_HMAC_KEY = ""
    first = hashing.keyed_hash("value", purpose="p")
    settings.SECRET_KEY = settings.SECRET_KEY + "-changed"
    assert hashing.keyed_hash("value", purpose="p") != first


def test_new_secrets_are_url_safe_and_long():
    secret = hashing.new_secret()
    assert len(secret) >= 43
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_s256_matches_rfc7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert hashing.s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
