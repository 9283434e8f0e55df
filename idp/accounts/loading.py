"""A professional with everything their tokens and UserInfo document read, in two statements.

The token endpoint loads the professional behind a code when their claims are not cached (the
usual case: a clinician logs in a few times a day, the claims are cached for minutes), and the
UserInfo endpoint when their document is not. ``Professional.objects.with_userinfo()`` does it in
four queries (the professional, then ``prefetch_related`` for exercices, activities and other
ids), and the ORM spent more CPU compiling and prefetching them than everything else the token
endpoint does (docs/benchmarks.md, stop 10: 3.4 ms of a login's ~34 in process). Here the
professional, exercices and activities come in one ``LEFT JOIN`` and the other ids in a second
statement, both written once (idp/core/rows.py), and the instances are linked as
``prefetch_related`` links them: ``professional.exercices.all()``, ``exercice.activities.all()``
and ``professional.other_ids.all()`` answer from memory in registry order (the models'
``Meta.ordering``), and anything else on those managers (``filter()``…) still queries, scoped
to its owner, as after a prefetch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model

from idp.accounts.models import Activity, Exercice, OtherId, Professional
from idp.core import rows

_PROFESSIONAL = rows.Columns(Professional, "p")
_EXERCICE = rows.Columns(Exercice, "e")
_ACTIVITY = rows.Columns(Activity, "a")
_OTHER_ID = rows.Columns(OtherId, "o")


def _ordering(model: type[Model], alias: str) -> str:
    """``Meta.ordering`` of ``model`` as SQL on ``alias`` (the order prefetching would give)."""
    terms = []
    for name in model._meta.ordering:
        descending = name.startswith("-")
        column = model._meta.get_field(name.lstrip("-")).column
        terms.append(f"{alias}.{column}{' DESC' if descending else ''}")
    return ", ".join(terms)


def _joined_sql(lookup: str) -> str:
    column = Professional._meta.get_field(lookup).column
    # Table and column names come from the models' metadata; the value is bound.
    return (
        f"SELECT {_PROFESSIONAL.sql}, {_EXERCICE.sql}, {_ACTIVITY.sql} "  # noqa: S608
        f"FROM {Professional._meta.db_table} p "
        f"LEFT JOIN {Exercice._meta.db_table} e ON e.professional_id = p.id "
        f"LEFT JOIN {Activity._meta.db_table} a ON a.exercice_id = e.id "
        f"WHERE p.{column} = %s "
        f"ORDER BY {_ordering(Exercice, 'e')}, {_ordering(Activity, 'a')}"
    )


_JOINED = {lookup: _joined_sql(lookup) for lookup in ("id", "sub")}
_OTHER_IDS = (
    f"SELECT {_OTHER_ID.sql} FROM {OtherId._meta.db_table} o "  # noqa: S608
    f"WHERE o.professional_id = %s ORDER BY {_ordering(OtherId, 'o')}"
)
_EXERCICE_START = _PROFESSIONAL.width
_ACTIVITY_START = _EXERCICE_START + _EXERCICE.width
_EXERCICE_ID = _EXERCICE_START + _EXERCICE.attnames.index("id")
_ACTIVITY_ID = _ACTIVITY_START + _ACTIVITY.attnames.index("id")


def professional_with_userinfo(
    *, pk: int | None = None, sub: str | None = None
) -> Professional | None:
    """The professional with this ``pk`` or ``sub``, exercices, activities and other ids loaded
    (what ``Professional.objects.with_userinfo()`` gives), or None."""
    if (pk is None) == (sub is None):
        raise TypeError("professional_with_userinfo() takes pk or sub, not both")
    lookup, value = ("id", pk) if pk is not None else ("sub", sub)
    with connection.cursor() as cursor:
        cursor.execute(_JOINED[lookup], [value])
        joined = cursor.fetchall()
        if not joined:
            return None
        professional = _PROFESSIONAL.instance(joined[0])
        cursor.execute(_OTHER_IDS, [professional.pk])
        other_ids = [_OTHER_ID.instance(row) for row in cursor.fetchall()]
    exercices: list[Exercice] = []
    activities: dict[int, list[Activity]] = {}
    for row in joined:
        if row[_EXERCICE_ID] is None:
            continue  # no exercice: the one row LEFT JOIN gives
        if not exercices or exercices[-1].pk != row[_EXERCICE_ID]:
            exercices.append(_EXERCICE.instance(row, _EXERCICE_START))
            activities[row[_EXERCICE_ID]] = []
        if row[_ACTIVITY_ID] is not None:
            activities[row[_EXERCICE_ID]].append(_ACTIVITY.instance(row, _ACTIVITY_START))
    for exercice in exercices:
        _prefetched(exercice, "activities", activities[exercice.pk])
    _prefetched(professional, "exercices", exercices)
    _prefetched(professional, "other_ids", other_ids)
    return professional


def _prefetched(owner: Model, name: str, related: Sequence[Model]) -> None:
    """What ``prefetch_related(name)`` leaves on ``owner``: the manager's own queryset (scoped to
    ``owner``) holding ``related``, and each related object's foreign key pointing back."""
    manager: Any = getattr(owner, name)
    queryset = manager.get_queryset()
    queryset._result_cache = list(related)
    queryset._prefetch_done = True
    cache = owner.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[manager.field.remote_field.cache_name] = queryset
    for obj in related:
        manager.field.set_cached_value(obj, owner)
