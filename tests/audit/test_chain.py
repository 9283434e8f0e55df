"""The canonical form: one event, one byte string, on every database."""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo

import pytest

from idp.audit import chain

FIELDS = {
    "sequence": 7,
    "occurred_at": dt.datetime(2025, 1, 31, 8, 15, 0, 123456, tzinfo=dt.UTC),
    "tag": "admin:logout:done",
    "actor": "admin:alice",
    "subject": "",
    "ip": "203.0.113.7",
    "user_agent": "UA",
    "request_id": "",
    "data": {"b": 1, "a": [1.0, "é"]},
    "prev_hash": chain.GENESIS_HASH,
}


def test_the_hash_is_sha256_of_sorted_compact_json_including_prev_hash():
    expected_document = (
        '{"actor":"admin:alice","data":{"a":[1,"é"],"b":1},"ip":"203.0.113.7",'
        '"occurred_at":"2025-01-31T08:15:00.123456Z","prev_hash":"' + "0" * 64 + '",'
        '"request_id":"","sequence":7,"subject":"","tag":"admin:logout:done","user_agent":"UA"}'
    )
    assert chain.compute_hash(**FIELDS) == hashlib.sha256(expected_document.encode()).hexdigest()


def test_every_field_is_covered():
    reference = chain.compute_hash(**FIELDS)
    changes = {
        "sequence": 8,
        "occurred_at": FIELDS["occurred_at"] + dt.timedelta(microseconds=1),
        "tag": "admin:login:failed",
        "actor": "admin:bob",
        "subject": "x",
        "ip": "203.0.113.8",
        "user_agent": "UB",
        "request_id": "r",
        "data": {"b": 2, "a": [1.0, "é"]},
        "prev_hash": "1" * 64,
    }
    assert set(changes) == set(chain.HASHED_FIELDS)
    for name, value in changes.items():
        assert chain.compute_hash(**{**FIELDS, name: value}) != reference, name


def test_the_same_instant_in_another_zone_hashes_the_same():
    paris = FIELDS["occurred_at"].astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    assert chain.compute_hash(**{**FIELDS, "occurred_at": paris}) == chain.compute_hash(**FIELDS)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        chain.compute_hash(**{**FIELDS, "occurred_at": dt.datetime(2025, 1, 1)})


def test_ip_spellings_are_canonical():
    assert chain.canonical_ip("2001:DB8:0:0::1") == "2001:db8::1"
    assert chain.canonical_ip("::ffff:192.0.2.1") == "192.0.2.1"
    assert chain.canonical_ip("") is None
    assert chain.canonical_ip(None) is None


def test_integral_floats_hash_like_the_integers_jsonb_gives_back():
    assert chain.canonical_json({"n": 1e16}) == chain.canonical_json({"n": 10**16})
    assert chain.canonical_json([0.1]) == b"[0.1]"
    # Beyond 2**53 the float's exact value differs from the number its text denotes, which is
    # what jsonb keeps: 1e23 is 10**23 there, not 99999999999999991611392.
    assert chain.canonical_json([1e23, 2.0**70, -0.0]) == b"[%d,%d,0]" % (
        10**23,
        1180591620717411300000,
    )


def test_missing_or_extra_fields_are_a_programming_error():
    with pytest.raises(TypeError):
        chain.compute_hash(**{**FIELDS, "extra": 1})
