"""Values read through raw cursors, made what the ORM would have given (the lean SQL paths:
refresh_store, code_store, sessions).

PostgreSQL returns aware datetimes and (Django's psycopg setup) JSON as text; SQLite returns
naive UTC datetimes or text for both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime


def aware_datetime(value: Any) -> datetime | None:
    """A datetime column's value as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def json_value(value: Any) -> Any:
    """A JSON column's value decoded (text on both databases through a raw cursor)."""
    return json.loads(value) if isinstance(value, str | bytes) else value
