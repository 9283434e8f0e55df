"""Approval challenges: created for a login or a CIBA request, answered from the phone.

Number matching (docs/design/card-app.md § Flows): the page shows a 2-digit ``number``, the app
shows three ``choices`` and the holder picks the one on screen, then enters the PIN. A wrong
number or a wrong PIN fails the challenge (the page must start again); three wrong PINs in a row
block the device. Every transition is a conditional UPDATE from ``pending`` so that a challenge
is answered once, and its result is consumed once (``consumed_at``) by the browser that started it
or by the CIBA client it belongs to.

Anti push-bombing: at most ``IDP_CARD_MAX_PENDING`` pending challenges per professional; rate
limits per idNat and per address are the callers' (the login page and the CIBA endpoint).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from idp.accounts.models import Professional
from idp.audit import journal
from idp.audit.tags import EventTag
from idp.authn.card import devices, push
from idp.authn.card.device_auth import JoinedRead
from idp.authn.card.errors import CardError
from idp.authn.card.models import (
    CardChallenge,
    CardDevice,
    ChallengePurpose,
    ChallengeStatus,
    new_public_id,
)
from idp.core import hashing, rows

#: Sent after a challenge is approved, denied or failed (``challenge`` keyword): CIBA ping mode.
challenge_answered = Signal()

_BROWSER_PURPOSE = "card_challenge_browser"
_QR_PURPOSE = "card_challenge_qr"
QR_SCHEME = "caducee-card"
_random = secrets.SystemRandom()

# --- the hot statements, in SQL (idp/core/rows.py; names from the models' metadata) -------
_C = CardChallenge._meta.db_table
_D = CardDevice._meta.db_table
_P = Professional._meta.db_table
_PENDING = ChallengeStatus.PENDING.value
_APPROVED = ChallengeStatus.APPROVED.value
_EXPIRED = ChallengeStatus.EXPIRED.value
CHALLENGE = rows.Columns(CardChallenge, "c")
#: What the status endpoint reads (polled every second).
_STATUS = rows.Columns(
    CardChallenge, "c", ("id", "public_id", "purpose", "status", "browser_hash", "reference",
                         "expires_at"),
)  # fmt: skip
#: What the app is shown (:func:`describe`).
_DESCRIBED = rows.Columns(
    CardChallenge, "c", ("id", "public_id", "purpose", "choices", "client_name",
                         "binding_message", "browser", "created_at", "expires_at"),
)  # fmt: skip
#: The professional as the login and the journal read them (the rest is deferred).
HOLDER = rows.Columns(
    Professional, "p", ("id", "sub", "id_nat", "status", "suspended_at", "deactivated_at")
)
_ANSWERER = rows.Columns(
    CardDevice, "d", ("id", "kid", "professional", "revoked_at", "blocked_at", "expires_at")
)
_TARGETS = rows.Columns(CardDevice, "d", ("id", "push"))
_HOLDER_SQL = (
    f"SELECT {HOLDER.sql}, {_TARGETS.sql} FROM {_P} p LEFT JOIN {_D} d"  # noqa: S608
    " ON d.professional_id = p.id AND d.revoked_at IS NULL AND d.blocked_at IS NULL"
    " AND d.expires_at > %s WHERE p.{key} = %s{lock}"
)
_INSERT_COLUMNS = [f for f in CardChallenge._meta.concrete_fields if not f.primary_key]
_INSERT_SQL = (
    f"INSERT INTO {_C} ({', '.join(f.column for f in _INSERT_COLUMNS)}) "
    f"SELECT {', '.join(['%s'] * len(_INSERT_COLUMNS))}"
)
# The pending limit, counted by the INSERT itself: it runs after the holder's row is locked, so
# its snapshot sees every challenge a concurrent request committed before releasing the lock.
_UNDER_LIMIT_SQL = (
    f" WHERE (SELECT COUNT(*) FROM {_C} WHERE professional_id = %s"  # noqa: S608
    " AND status = %s AND expires_at > %s) < %s"
)
_PENDING_FOR_SQL = (
    f"SELECT {_DESCRIBED.sql} FROM {_C} c WHERE c.professional_id = %s"  # noqa: S608
    " AND c.status = %s AND c.expires_at > %s ORDER BY c.created_at"
)
_HOLDERS_SQL = (
    f"SELECT {CHALLENGE.sql} FROM {_C} c WHERE c.public_id = %s"  # noqa: S608
    " AND c.professional_id = %s"
)
_STATUS_SQL = f"SELECT {_STATUS.sql} FROM {_C} c WHERE c.public_id = %s"  # noqa: S608
_BROWSER_SQL = (
    f"SELECT {CHALLENGE.sql}, {_ANSWERER.sql}, {HOLDER.sql} FROM {_C} c"  # noqa: S608
    f" LEFT JOIN {_D} d ON d.id = c.device_id LEFT JOIN {_P} p ON p.id = c.professional_id"
    " WHERE c.public_id = %s"
)
_EXPIRE_SQL = f"UPDATE {_C} SET status = %s WHERE id = %s AND status = %s"  # noqa: S608
_ANSWER_SQL = (
    f"UPDATE {_C} SET status = %s, failure = %s, device_id = %s, answered_at = %s"  # noqa: S608
    " WHERE id = %s AND status = %s AND expires_at > %s"
)
# An approval also requires the device still unblocked (a concurrent wrong PIN may block it).
_UNBLOCKED_SQL = f" AND EXISTS (SELECT 1 FROM {_D} WHERE id = %s AND blocked_at IS NULL)"  # noqa: S608
# The answer and its journal event, appended only if the challenge was answered.
_ANSWER_JOURNALED_SQL = (
    "WITH answered AS ({answer} RETURNING id)"  # noqa: S608 (constants only)
    f" SELECT COUNT(*), {journal.append_if_any('answered')} FROM answered"
)
# The new challenge and its journal event, appended only if it was inserted (one row: the id,
# NULL when the pending limit refused it).
_INSERT_JOURNALED_SQL = (
    "WITH inserted AS ({insert} RETURNING id)"  # noqa: S608 (constants only)
    f" SELECT (SELECT id FROM inserted), {journal.append_if_any('inserted')}"
)
_CONSUME_SQL = (
    f"UPDATE {_C} SET consumed_at = %s WHERE id = %s AND status = %s"  # noqa: S608
    " AND consumed_at IS NULL"
)


def _when(value: Any) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """The rows of a statement that returns some (SELECT, or RETURNING)."""
    # Not ``cursor.description`` to tell: psycopg builds a Column object per column each time.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _count(sql: str, params: list[Any]) -> int:
    """The number of rows a statement without result rows changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def browser_hash(secret: str) -> str:
    return hashing.keyed_hash(secret, purpose=_BROWSER_PURPOSE) if secret else ""


def _numbers(shown: str = "") -> tuple[str, list[str]]:
    """The number on screen and the three choices the app offers (shuffled, distinct).

    ``shown`` is a number the other side already displays: a CIBA client's 2-digit
    ``binding_message`` (PSC's usage); otherwise a fresh one is drawn.
    """
    # Decoys from the same range as the number, so that its form gives nothing away (a CIBA
    # binding message may be "07": then decoys may start with 0 too).
    low = 0 if shown.startswith("0") else 10
    decoys = [f"{n:02d}" for n in _random.sample(range(low, 100), 3) if f"{n:02d}" != shown]
    number = shown or decoys.pop()
    choices = [number, *decoys[:2]]
    _random.shuffle(choices)
    return number, choices


def _is_two_digits(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isdigit()


def create(
    purpose: str,
    *,
    professional: Professional | None = None,
    id_nat: str = "",
    client_id: str = "",
    client_name: str = "",
    browser: str = "",
    browser_secret: str = "",
    reference: str = "",
    binding_message: str = "",
    acr: str = "eidas2",
    request: Any = None,
    created_event: Callable[[CardChallenge], tuple[EventTag, dict[str, Any]]] | None = None,
) -> tuple[CardChallenge, str]:
    """A new challenge and, for a QR challenge, the secret the QR carries (else "").

    Login and CIBA challenges need a professional (given, or named by ``id_nat``) with a usable
    device (``no_device``) and fewer than ``IDP_CARD_MAX_PENDING`` pending ones
    (``too_many_pending``); their devices are pushed. ``created_event`` gives the caller's
    journal event for the new challenge (its tag and ``journal.record``'s fields), written in
    the transaction that creates it. Two statements on PostgreSQL: the holder locked with their
    devices, then the INSERT that counts the pending ones with the event's append (only if the
    challenge was inserted); elsewhere the event is a third.
    """
    fields = {
        "client_id": client_id,
        "client_name": client_name,
        "browser": browser,
        "browser_secret": browser_secret,
        "reference": reference,
        "binding_message": binding_message,
        "acr": acr,
    }
    if purpose == ChallengePurpose.QR:
        qr_secret = hashing.new_secret(24)
        with transaction.atomic():
            challenge = _insert(purpose, None, qr_secret=qr_secret, event=created_event, **fields)
        return challenge, qr_secret
    holder = professional
    try:
        with transaction.atomic():
            holder, targets = _lock_holder(professional, id_nat)
            if holder is None or not holder.is_active:
                raise CardError("no_device", "no active professional")
            if not targets:
                raise CardError("no_device", f"professional {holder.pk}")
            challenge = _insert(purpose, holder, event=created_event, **fields)
            if challenge is None:
                raise CardError("too_many_pending", f"professional {holder.pk}")
            push.notify(
                [push.Target(d.id, d.push) for d in targets if d.push],
                {"type": "challenge", "id": challenge.public_id, "client_name": client_name[:200]},
            )
    except CardError as error:
        # Journaled *after* the transaction that refused it rolled back.
        if error.code == "too_many_pending" and holder is not None:
            journal.record(
                EventTag.AUTHN_CARD_CHALLENGE_REFUSED,
                actor=f"client:{client_id}" if client_id else "anonymous",
                subject=f"professional:{holder.sub}",
                request=request,
                data={"reason": "too_many_pending", "purpose": purpose},
            )
        raise
    return challenge, ""


def _lock_holder(
    professional: Professional | None, id_nat: str
) -> tuple[Professional | None, list[CardDevice]]:
    """The professional (by id, else by idNat), row-locked until the transaction ends, and their
    usable devices (not revoked, blocked or expired), in one statement."""
    if professional is None and not id_nat:
        return None, []
    key, value = ("id", professional.pk) if professional is not None else ("id_nat", id_nat)
    lock = " FOR UPDATE OF p" if connection.features.has_select_for_update_of else ""
    sql = _HOLDER_SQL.format(key=key, lock=lock)
    found = _rows(sql, [_when(timezone.now()), value])
    if not found:
        return None, []
    holder = professional if professional is not None else HOLDER.instance(found[0])
    targets = [
        _TARGETS.instance(row, HOLDER.width) for row in found if row[HOLDER.width] is not None
    ]
    return holder, targets


def _insert(
    purpose: str,
    professional: Professional | None,
    *,
    qr_secret: str = "",
    client_id: str,
    client_name: str,
    browser: str,
    browser_secret: str,
    reference: str,
    binding_message: str,
    acr: str,
    event: Callable[[CardChallenge], tuple[EventTag, dict[str, Any]]] | None = None,
) -> Any:
    """INSERT the challenge (for a holder: only under the pending limit, else None) and journal
    ``event`` for it: in the INSERT's statement on PostgreSQL (appended only if inserted), else
    after it, in the caller's transaction."""
    if purpose != ChallengePurpose.CIBA:
        number, choices = _numbers()
    elif _is_two_digits(binding_message):
        number, choices = _numbers(binding_message)
    else:
        # A free-text binding message: the app shows it and the holder compares it with what
        # the service displays; there is no number to pick.
        number, choices = "", []
    now = timezone.now()
    challenge = CardChallenge(
        public_id=new_public_id(),
        purpose=purpose,
        professional=professional,
        number=number,
        choices=choices,
        qr_secret_hash=hashing.keyed_hash(qr_secret, purpose=_QR_PURPOSE) if qr_secret else "",
        client_id=client_id,
        client_name=client_name[:200],
        binding_message=binding_message[:64],
        browser=browser[:200],
        browser_hash=browser_hash(browser_secret),
        reference=reference,
        acr=acr,
        status=_PENDING,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.IDP_CARD_CHALLENGE_SECONDS),
    )
    params = [
        f.get_db_prep_save(getattr(challenge, f.attname), connection) for f in _INSERT_COLUMNS
    ]
    sql = _INSERT_SQL
    if professional is not None:
        sql += _UNDER_LIMIT_SQL
        params += [professional.pk, _PENDING, _when(now), settings.IDP_CARD_MAX_PENDING]
    tag, fields = event(challenge) if event is not None else (None, {})
    argument = journal.for_statement(tag, **fields, in_transaction=True) if tag else None
    if argument is None:
        found = _rows(sql + " RETURNING id", params)
    else:
        found = _rows(_INSERT_JOURNALED_SQL.format(insert=sql), [*params, argument])
    if not found or found[0][0] is None:
        return None
    challenge.pk = found[0][0]
    challenge._state.adding = False
    challenge._state.db = connection.alias
    if tag is not None and argument is None:
        journal.record(tag, **fields)
    return challenge


def qr_uri(challenge: CardChallenge, qr_secret: str) -> str:
    """What the login page's QR code carries (docs/design/card-app.md § The app API)."""
    query = urlencode({"iss": settings.IDP_ISSUER, "c": challenge.public_id, "s": qr_secret})
    return f"{QR_SCHEME}://login?{query}"


def qr_secret_matches(challenge: CardChallenge, qr_secret: str) -> bool:
    """Is ``qr_secret`` the one the challenge's QR code carries (to show the QR again)?"""
    return bool(qr_secret and challenge.qr_secret_hash) and hashing.matches(
        qr_secret, challenge.qr_secret_hash, purpose=_QR_PURPOSE
    )


def describe(challenge: CardChallenge) -> dict[str, Any]:
    """The challenge as the app shows it (never the number itself)."""
    return {
        "id": challenge.public_id,
        "purpose": challenge.purpose,
        "choices": list(challenge.choices),
        "client_name": challenge.client_name,
        "binding_message": challenge.binding_message,
        "browser": challenge.browser,
        "created_at": challenge.created_at.isoformat(),
        "expires_at": challenge.expires_at.isoformat(),
    }


def pending_for(
    device: CardDevice, found: list[tuple[Any, ...]] | None = None
) -> list[CardChallenge]:
    """What waits for the device's holder, oldest first (the fields :func:`describe` reads).

    ``found``: the rows of :func:`pending_read` made with the device's lookup (else read now).
    """
    if found is None:
        params = [device.professional_id, _PENDING, _when(timezone.now())]
        found = _rows(_PENDING_FOR_SQL, params)
    return [_DESCRIBED.instance(row) for row in found]


def pending_read() -> JoinedRead:
    """:func:`pending_for`'s read, for the device's lookup to make (``GET challenges``)."""
    return JoinedRead(
        join=f"LEFT JOIN {_C} c ON c.professional_id = d.professional_id"
        " AND c.status = %s AND c.expires_at > %s",
        columns=_DESCRIBED.sql,
        params=(_PENDING, _when(timezone.now())),
        order="c.created_at",
        key=_DESCRIBED.attnames.index("id"),
    )


def holders_read(challenge_id: Any) -> JoinedRead | None:
    """The holder's challenge ``challenge_id`` as :func:`approve` and :func:`deny` read it, for
    the device's lookup to make (None for an id no challenge can have: they refuse it)."""
    if not _is_public_id(challenge_id):
        return None
    return JoinedRead(
        join=f"LEFT JOIN {_C} c ON c.public_id = %s AND c.professional_id = d.professional_id",
        columns=CHALLENGE.sql,
        params=(challenge_id,),
        key=CHALLENGE.attnames.index("id"),
    )


def _is_public_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64


def _expire(challenge: CardChallenge) -> None:
    _count(_EXPIRE_SQL, [_EXPIRED, challenge.pk, _PENDING])


def _holders_challenge(
    device: CardDevice, public_id: Any, found: list[tuple[Any, ...]] | None = None
) -> CardChallenge:
    """The device's holder's challenge ``public_id``, still pending; raises :class:`CardError`.

    ``found``: the rows of :func:`holders_read` made with the device's lookup (else read now).
    """
    if not _is_public_id(public_id):
        raise CardError("challenge_not_found")
    if found is None:
        found = _rows(_HOLDERS_SQL, [public_id, device.professional_id])
    if not found:
        raise CardError("challenge_not_found", public_id[:16])
    challenge = CHALLENGE.instance(found[0])
    if challenge.status == ChallengeStatus.PENDING and challenge.expires_at <= timezone.now():
        _expire(challenge)
        raise CardError("challenge_expired", public_id[:16])
    if challenge.status == ChallengeStatus.EXPIRED:
        raise CardError("challenge_expired", public_id[:16])
    if challenge.status != ChallengeStatus.PENDING:
        raise CardError("challenge_answered", public_id[:16])
    return challenge


def _answer(
    challenge: CardChallenge,
    device: CardDevice,
    status: str,
    failure: str = "",
    *,
    unblocked: bool = False,
    journal_event: str | None = None,
) -> bool:
    """Answer a pending challenge once (and, ``unblocked``, only if the device is not blocked).

    ``journal_event`` (``journal.for_statement``, PostgreSQL outside a transaction): the answer's
    event, appended in the same statement if, and only if, the challenge was answered.
    """
    now = timezone.now()
    at = _when(now)
    sql, params = _ANSWER_SQL, [str(status), failure, device.pk, at, challenge.pk, _PENDING, at]
    if unblocked:
        sql, params = sql + _UNBLOCKED_SQL, [*params, device.pk]
    if journal_event is None:
        done = _count(sql, params) == 1
    elif connection.vendor != "postgresql":
        raise ValueError("a journal event in the answer's statement is PostgreSQL's")
    else:
        done = _rows(_ANSWER_JOURNALED_SQL.format(answer=sql), [*params, journal_event])[0][0] == 1
    if done:
        challenge.status, challenge.failure, challenge.device = status, failure, device
        challenge.answered_at = now
    return done


def _event(
    challenge: CardChallenge, device: CardDevice, request: Any, **data: Any
) -> dict[str, Any]:
    """A challenge event's fields, for ``journal.record`` or ``journal.for_statement``."""
    return {
        "actor": f"card_device:{device.kid}",
        "subject": f"professional:{device.professional.sub}",
        "request": request,
        "data": {
            "challenge": challenge.public_id[:16],
            "purpose": challenge.purpose,
            "client_id": challenge.client_id,
            **data,
        },
    }


def _journal(
    tag: EventTag, challenge: CardChallenge, device: CardDevice, request: Any, **data: Any
) -> None:
    journal.record(tag, **_event(challenge, device, request, **data))


def _fail(challenge: CardChallenge, device: CardDevice, failure: str, request: Any) -> None:
    if _answer(challenge, device, ChallengeStatus.FAILED, failure):
        _journal(EventTag.AUTHN_CARD_FAILED, challenge, device, request, failure=failure)
        challenge_answered.send(sender=CardChallenge, challenge=challenge)


def approve(
    device: CardDevice,
    public_id: Any,
    *,
    number: Any,
    pin: Any,
    request: Any = None,
    found: list[tuple[Any, ...]] | None = None,
) -> CardChallenge:
    """The holder picked ``number`` and typed ``pin`` on ``device``; raises :class:`CardError`.

    A CIBA challenge with a free-text binding message has no number (``choices`` is empty).
    ``found``: the challenge as :func:`holders_read` read it with the device (else read now).
    """
    challenge = _holders_challenge(device, public_id, found)
    if challenge.number and (not isinstance(number, str) or number != challenge.number):
        _fail(challenge, device, "wrong_number", request)
        raise CardError("wrong_number", challenge.public_id[:16])
    # The attempt is counted with the comparison, in one statement (devices.check_pin).
    if not devices.check_pin(device, pin, request=request):
        _fail(challenge, device, "wrong_pin", request)
        if device.blocked_at is not None:
            raise CardError("device_blocked", f"device {device.pk}")
        left = max(0, settings.IDP_CARD_MAX_PIN_FAILURES - device.pin_failures)
        raise CardError("wrong_pin", challenge.public_id[:16], attempts_left=left)
    # The approval and its event in one statement where the journal allows it (one round trip
    # and one commit); elsewhere the event follows the approval.
    approved = _event(challenge, device, request, acr=challenge.acr)
    event = journal.for_statement(EventTag.AUTHN_CARD_APPROVED, **approved)
    if not _answer(
        challenge, device, ChallengeStatus.APPROVED, unblocked=True, journal_event=event
    ):
        raise CardError("challenge_answered", challenge.public_id[:16])
    if event is None:
        journal.record(EventTag.AUTHN_CARD_APPROVED, **approved)
    challenge_answered.send(sender=CardChallenge, challenge=challenge)
    return challenge


def deny(
    device: CardDevice,
    public_id: Any,
    *,
    reason: Any = "",
    request: Any = None,
    found: list[tuple[Any, ...]] | None = None,
) -> CardChallenge:
    """The holder refused: journaled as a possible fraud report (someone else tried to log in).

    ``found``: as for :func:`approve`.
    """
    challenge = _holders_challenge(device, public_id, found)
    if not _answer(challenge, device, ChallengeStatus.DENIED, "denied"):
        raise CardError("challenge_answered", challenge.public_id[:16])
    _journal(
        EventTag.AUTHN_CARD_DENIED,
        challenge,
        device,
        request,
        possible_fraud=True,
        reason=str(reason or "")[:40],
        browser=challenge.browser,
        client_name=challenge.client_name,
    )
    challenge_answered.send(sender=CardChallenge, challenge=challenge)
    return challenge


def scan(device: CardDevice, qr: Any, *, request: Any = None) -> CardChallenge:
    """The app scanned a login QR: the challenge becomes its holder's (then approve as usual)."""
    if not isinstance(qr, str) or len(qr) > 1000:
        raise CardError("invalid_request", "qr must be a string")
    try:
        parts = urlsplit(qr)
    except ValueError as exc:  # "http://[::1": urlsplit refuses a malformed IPv6 host
        raise CardError("invalid_request", "not a login QR code") from exc
    query = parse_qs(parts.query)
    public_id = (query.get("c") or [""])[0]
    secret = (query.get("s") or [""])[0]
    if parts.scheme != QR_SCHEME or parts.netloc != "login" or not public_id or not secret:
        raise CardError("invalid_request", "not a login QR code")
    if "\x00" in public_id:  # no challenge id holds one (and PostgreSQL text cannot)
        raise CardError("challenge_not_found", "unknown QR challenge")
    if (query.get("iss") or [""])[0] != settings.IDP_ISSUER:
        raise CardError("invalid_request", "QR code of another provider")
    challenge = CardChallenge.objects.filter(
        public_id=public_id[:64], purpose=ChallengePurpose.QR
    ).first()
    if challenge is None or not hashing.matches(
        secret, challenge.qr_secret_hash, purpose=_QR_PURPOSE
    ):
        raise CardError("challenge_not_found", "unknown QR challenge")
    claimed = CardChallenge.objects.filter(
        pk=challenge.pk,
        professional__isnull=True,
        status=ChallengeStatus.PENDING,
        expires_at__gt=timezone.now(),
    ).update(professional=device.professional)
    if claimed != 1 and challenge.professional_id != device.professional_id:
        raise CardError("challenge_answered", "QR challenge already claimed or expired")
    challenge.refresh_from_db()
    return _holders_challenge(device, challenge.public_id)


def status_for_browser(
    public_id: str, browser_secret: str, *, full: bool = False
) -> CardChallenge | None:
    """The challenge a browser started (None if not this browser's), expired lazily.

    By default only what the status endpoint reads; ``full``: every field, with the device that
    answered (``device``) and the holder (``professional``) loaded in the same statement.
    """
    if "\x00" in public_id:  # from the URL: no challenge id holds one (PostgreSQL text cannot)
        return None
    found = _rows(_BROWSER_SQL if full else _STATUS_SQL, [public_id[:64]])
    if not found:
        return None
    row = found[0]
    challenge = (CHALLENGE if full else _STATUS).instance(row)
    if not challenge.browser_hash or not hashing.matches(
        browser_secret or "", challenge.browser_hash, purpose=_BROWSER_PURPOSE
    ):
        return None
    if full:
        at = CHALLENGE.width
        challenge.device = _ANSWERER.instance(row, at) if row[at] is not None else None
        at += _ANSWERER.width
        challenge.professional = HOLDER.instance(row, at) if row[at] is not None else None
    if challenge.status == ChallengeStatus.PENDING and challenge.expires_at <= timezone.now():
        _expire(challenge)
        challenge.status = ChallengeStatus.EXPIRED
    return challenge


def consume(challenge: CardChallenge) -> bool:
    """Use an approved challenge's result once (a login or a CIBA token); False if used."""
    now = timezone.now()
    done = _count(_CONSUME_SQL, [_when(now), challenge.pk, _APPROVED]) == 1
    if done:
        challenge.consumed_at = now
    return done
