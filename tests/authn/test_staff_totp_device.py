"""StaffTOTPDevice: RFC 6238 verification, one use per time step, throttling, seed at rest."""

from __future__ import annotations

import io
import time
from base64 import b32encode
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from idp.authn.models import StaffTOTPDevice
from tests.authn.helpers import code_for, make_device, make_staff, wrong_code

pytestmark = pytest.mark.django_db

# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890", 8 digits, X = 30.
RFC6238_SEED = b"12345678901234567890"
RFC6238_SHA1_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.fixture
def device():
    return make_device(make_staff("alice"))


def test_rfc6238_appendix_b_vectors():
    device = make_device(make_staff("rfc"))
    device.set_seed(RFC6238_SEED)
    device.digits = 8
    device.save()
    # The vectors come in increasing time order, so each one is a fresh time step.
    for unix_time, code in RFC6238_SHA1_VECTORS:
        assert device.verify_token(code, now=unix_time), (unix_time, code)
        assert device.last_t == unix_time // 30
    device.refresh_from_db()
    assert device.last_t == 20000000000 // 30
    assert device.throttling_failure_count == 0


def test_rfc6238_vector_leading_zero_is_significant():
    device = make_device(make_staff("rfc"))
    device.set_seed(RFC6238_SEED)
    device.digits = 8
    device.save()
    # "07081804" is the code; "7081804" (as int() would read it) is not a valid 8-digit code.
    assert not device.verify_token("7081804", now=1111111109)
    device.throttle_reset()
    assert device.verify_token("07081804", now=1111111109)


def test_current_code_is_accepted_once(device):
    code = code_for(device)
    assert device.verify_token(code)
    # RFC 6238 §5.2: the verifier must not accept the same OTP a second time.
    assert not device.verify_token(code)


def test_code_accepted_with_the_spaces_apps_display(device):
    code = code_for(device)
    assert device.verify_token(f"{code[:3]} {code[3:]}")


def test_tolerance_is_one_step_either_side(device):
    now = time.time()
    assert device.verify_token(code_for(device, steps=-1, now=now), now=now)
    other = make_device(make_staff("bob"))
    assert other.verify_token(code_for(other, steps=1, now=now), now=now)
    third = make_device(make_staff("carol"))
    assert not third.verify_token(code_for(third, steps=-2, now=now), now=now)
    third.throttle_reset()
    assert not third.verify_token(code_for(third, steps=2, now=now), now=now)


def test_an_older_code_is_refused_after_a_newer_one(device):
    now = time.time()
    newer = code_for(device, steps=1, now=now)
    older = code_for(device, now=now)
    assert device.verify_token(newer, now=now)
    assert not device.verify_token(older, now=now)


def test_two_copies_of_a_device_cannot_both_consume_a_code(device):
    """Two requests racing with one code: the conditional UPDATE lets only one through."""
    first = StaffTOTPDevice.objects.get(pk=device.pk)
    second = StaffTOTPDevice.objects.get(pk=device.pk)  # read before `first` consumed the code
    code = code_for(device)
    assert first.verify_token(code)
    assert second.last_t == -1  # stale copy: the in-memory check alone would accept
    assert not second.verify_token(code)


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "+12345", "12_345", "abcdef", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused_and_counted(device, bad):
    assert not device.verify_token(bad)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_wrong_codes_throttle_the_device(device, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 10  # waits long enough for any machine's speed
    right = code_for(device)
    wrong = wrong_code(device)
    assert not device.verify_token(wrong)
    assert device.throttling_failure_count == 1
    # Within the delay even the right code is refused, without being checked or counted.
    assert not device.verify_token(right)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert device.last_t == -1

    # Once the delay has passed (10 s after one failure) the right code works and resets the count.
    device.throttling_failure_timestamp = timezone.now() - timedelta(seconds=11)
    device.save()
    assert device.verify_token(right)
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    assert device.throttling_failure_timestamp is None
    assert device.last_used_at is not None


def test_delays_double_with_each_failure(device):
    for _ in range(4):
        device.throttling_failure_timestamp = timezone.now() - timedelta(hours=1)
        device.save()
        assert not device.verify_token(wrong_code(device))
    allowed, extra = device.verify_is_allowed()
    assert not allowed
    assert extra["failure_count"] == 4
    # 1, 2, 4, 8 seconds: after four failures the wait is 8 seconds.
    wait = extra["locked_until"] - device.throttling_failure_timestamp
    assert wait == timedelta(seconds=8)


def test_seed_is_encrypted_at_rest(device):
    seed = device.bin_key
    assert len(seed) == 20
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {StaffTOTPDevice._meta.db_table} WHERE id = %s",  # noqa: S608
            [device.pk],
        )
        row = " ".join(str(value) for value in cursor.fetchone())
    for encoding in (
        seed.hex(),
        seed.hex().upper(),
        b32encode(seed).decode(),
        b32encode(seed).decode().rstrip("="),
    ):
        assert encoding not in row
    assert device.encrypted_seed in row
    assert device.encrypted_seed.startswith("gAAAA")  # a Fernet token


def test_each_device_gets_its_own_random_seed():
    seeds = {make_device(make_staff(f"user{i}")).bin_key for i in range(5)}
    assert len(seeds) == 5


def test_short_seeds_are_refused(device):
    with pytest.raises(ValueError):
        device.set_seed(b"too short")


def test_config_url(device, settings):
    settings.OTP_TOTP_ISSUER = "Caducée"
    url = device.config_url
    parts = urlsplit(url)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert parts.path == "/Caduc%C3%A9e%3Aalice"
    query = parse_qs(parts.query)
    assert query["secret"] == [b32encode(device.bin_key).decode().rstrip("=")]
    assert query["issuer"] == ["Caducée"]
    assert query["algorithm"] == ["SHA1"]
    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]


def test_reencrypt_command_moves_seeds_to_the_newest_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.IDP_FIELD_ENCRYPTION_KEYS = [old]
    device = make_device(make_staff("alice"))
    seed = device.bin_key
    before = device.encrypted_seed

    settings.IDP_FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("reencrypt_totp_seeds", stdout=io.StringIO())

    settings.IDP_FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone
    device.refresh_from_db()
    assert device.encrypted_seed != before
    assert device.bin_key == seed
    assert device.verify_token(code_for(device))
