"""The hash chain: canonical serialisation of an event, and the hash linking it to the previous one.

Each event's ``hash`` is the hex SHA-256 of a canonical JSON document holding every field of the
event *and* the previous event's hash (``prev_hash``). Editing a row changes its hash; deleting or
reordering rows breaks the ``prev_hash`` link of the next row. The first event chains from
:data:`GENESIS_HASH`.

Canonical means: the same event always gives the same bytes, on every database, before storing and
after reading back. Hence:

* JSON with sorted keys, no whitespace, UTF-8, no NaN/Infinity;
* datetimes in ISO-8601 UTC with microseconds (``2025-01-31T08:15:00.123456Z``);
* IP addresses in Python's compressed form, IPv4-mapped IPv6 unpacked to IPv4 (PostgreSQL ``inet``
  and SQLite text would otherwise print the same address differently);
* floats with an integral value written as the integers their JSON text denotes: PostgreSQL
  ``jsonb`` stores ``1e+16`` as the numeric ``10000000000000000`` and gives back an int (and
  ``1e+23`` as ``10**23``, which is not the float's exact binary value).

A plain SHA-256 chain proves internal consistency; someone able to rewrite the whole table can also
recompute every hash. That is why ``manage.py audit_verify`` prints the head hash: anchor it outside
the database (ticket, log shipper, signed mail) and pass it back with ``--anchor`` later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64

# The fields covered by the hash, in the order the model declares them (the order in the JSON is
# fixed by sort_keys anyway). Adding a field to the model means adding it here, with a format
# version so that old events still verify.
HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "tag",
    "actor",
    "subject",
    "ip",
    "user_agent",
    "request_id",
    "data",
    "prev_hash",
)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes for ``value`` (already made of JSON types)."""
    return json.dumps(
        _canonical_numbers(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def canonical_datetime(value: dt.datetime) -> str:
    """ISO-8601 in UTC with microseconds; naive datetimes are refused (their instant is unknown)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_ip(value: str | None) -> str | None:
    """One spelling per address, whatever the database gives back (``inet`` or text)."""
    if value is None or value == "":
        return None
    address = ipaddress.ip_address(str(value))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def compute_hash(**fields: Any) -> str:
    """Hex SHA-256 of the canonical form of an event's fields (exactly :data:`HASHED_FIELDS`)."""
    missing = set(HASHED_FIELDS) - fields.keys()
    extra = fields.keys() - set(HASHED_FIELDS)
    if missing or extra:
        raise TypeError(f"compute_hash: missing {sorted(missing)}, unexpected {sorted(extra)}")
    document = {
        "sequence": int(fields["sequence"]),
        "occurred_at": canonical_datetime(fields["occurred_at"]),
        "tag": str(fields["tag"]),
        "actor": fields["actor"],
        "subject": fields["subject"],
        "ip": canonical_ip(fields["ip"]),
        "user_agent": fields["user_agent"],
        "request_id": fields["request_id"],
        "data": fields["data"],
        "prev_hash": fields["prev_hash"],
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


#: What the canonical document holds between the event's time and the previous event's hash.
PREV_HASH_PIECE = '","prev_hash":"'


def canonical_pieces(
    *,
    tag: str,
    actor: str,
    subject: str,
    ip: str | None,
    user_agent: str,
    request_id: str,
    data: Any,
) -> tuple[str, str, str]:
    """The canonical document of an event around what only the chain head gives: ``(head, mid,
    tail)`` such that the document of :func:`compute_hash` is, character for character::

        head + occurred_at + PREV_HASH_PIECE + prev_hash + mid + str(sequence) + tail

    (``occurred_at`` as :func:`canonical_datetime` writes it). The keys are in sorted order as
    ``sort_keys`` puts them: actor, data, ip, occurred_at, prev_hash, request_id, sequence,
    subject, tag, user_agent. This lets PostgreSQL link and hash an event in the statement that
    appends it (idp/audit/migrations/0003_append_function.py); ``compute_hash`` stays the
    reference that ``audit_verify`` recomputes, and the tests hold the two equal.
    """

    def value(item: Any) -> str:
        return canonical_json(item).decode("utf-8")

    head = (
        f'{{"actor":{value(actor)},"data":{value(data)},"ip":{value(canonical_ip(ip))},'
        f'"occurred_at":"'
    )
    mid = f'","request_id":{value(request_id)},"sequence":'
    tail = f',"subject":{value(subject)},"tag":{value(str(tag))},"user_agent":{value(user_agent)}}}'
    return head, mid, tail


def _canonical_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        # The integer the float's JSON text denotes, as jsonb's numeric reads "1e+23" (10**23),
        # not the binary float's exact value (int(1e23) is 99999999999999991611392).
        return int(Decimal(repr(value)))
    if isinstance(value, dict):
        return {key: _canonical_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_numbers(item) for item in value]
    return value
