"""A professional with everything their tokens and UserInfo document read, in one statement.

The token endpoint loads the professional behind a code when their claims are not cached (the
usual case: a clinician logs in a few times a day, the claims are cached for minutes), and the
UserInfo endpoint when their document is not. ``Professional.objects.with_userinfo()`` does it in
four queries (the professional, then ``prefetch_related`` for exercices, activities and other
ids), and the ORM spent more CPU compiling and prefetching them than everything else the token
endpoint does (docs/benchmarks.md, stop 10: 3.4 ms of a login's ~34 in process). Here the
professional, exercices and activities come in one ``LEFT JOIN`` and the other ids in a ``UNION
ALL`` of the same statement (one round trip), written once (idp/core/rows.py), and the instances
are linked as ``prefetch_related`` links them: ``professional.exercices.all()``,
``exercice.activities.all()`` and ``professional.other_ids.all()`` answer from memory in registry
order (the models' ``Meta.ordering``), and anything else on those managers (``filter()``…) still
queries, scoped to its owner, as after a prefetch.
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


def _ordering(model: type[Model], columns: rows.Columns, first: int) -> str:
    """``Meta.ordering`` of ``model`` as positions in the statement's select list (a UNION is
    ordered by output columns), ``columns`` starting at position ``first``: the order
    prefetching would give."""
    terms = []
    for name in model._meta.ordering:
        descending = name.startswith("-")
        attname = model._meta.get_field(name.lstrip("-")).attname
        terms.append(f"{first + columns.attnames.index(attname)}{' DESC' if descending else ''}")
    return ", ".join(terms)


# The select list: a row kind (0: the professional with an exercice and an activity, as a LEFT
# JOIN gives them; 1: an other id), then the columns of each model; a row of one kind has NULL
# in the other kind's columns.
_EXERCICE_START = 1 + _PROFESSIONAL.width
_ACTIVITY_START = _EXERCICE_START + _EXERCICE.width
_OTHER_ID_START = _ACTIVITY_START + _ACTIVITY.width
_EXERCICE_ID = _EXERCICE_START + _EXERCICE.attnames.index("id")
_ACTIVITY_ID = _ACTIVITY_START + _ACTIVITY.attnames.index("id")


def _statement(lookup: str) -> str:
    """One statement for the professional (``lookup`` = the bound value), their exercices and
    activities, and their other ids: a ``UNION ALL`` of the ``LEFT JOIN`` and the other ids,
    where two statements would cost two round trips."""
    column = Professional._meta.get_field(lookup).column
    table = Professional._meta.db_table
    owner = "%s" if lookup == "id" else f"(SELECT q.id FROM {table} q WHERE q.{column} = %s)"  # noqa: S608
    no_other_id = ", ".join(["NULL"] * _OTHER_ID.width)
    no_professional = ", ".join(["NULL"] * (_OTHER_ID_START - 1))
    # Table and column names come from the models' metadata; the values are bound.
    return (
        f"SELECT 0, {_PROFESSIONAL.sql}, {_EXERCICE.sql}, {_ACTIVITY.sql}, {no_other_id} "  # noqa: S608
        f"FROM {table} p "
        f"LEFT JOIN {Exercice._meta.db_table} e ON e.professional_id = p.id "
        f"LEFT JOIN {Activity._meta.db_table} a ON a.exercice_id = e.id "
        f"WHERE p.{column} = %s "
        f"UNION ALL "
        f"SELECT 1, {no_professional}, {_OTHER_ID.sql} FROM {OtherId._meta.db_table} o "
        f"WHERE o.professional_id = {owner} "
        f"ORDER BY 1, {_ordering(Exercice, _EXERCICE, _EXERCICE_START + 1)}, "
        f"{_ordering(Activity, _ACTIVITY, _ACTIVITY_START + 1)}, "
        f"{_ordering(OtherId, _OTHER_ID, _OTHER_ID_START + 1)}"
    )


_STATEMENTS = {lookup: _statement(lookup) for lookup in ("id", "sub")}


def professional_with_userinfo(
    *, pk: int | None = None, sub: str | None = None
) -> Professional | None:
    """The professional with this ``pk`` or ``sub``, exercices, activities and other ids loaded
    (what ``Professional.objects.with_userinfo()`` gives), or None."""
    if (pk is None) == (sub is None):
        raise TypeError("professional_with_userinfo() takes pk or sub, not both")
    lookup, value = ("id", pk) if pk is not None else ("sub", sub)
    with connection.cursor() as cursor:
        cursor.execute(_STATEMENTS[lookup], [value, value])
        found = cursor.fetchall()
    joined = [row for row in found if row[0] == 0]
    if not joined:
        return None
    professional = _PROFESSIONAL.instance(joined[0], 1)
    other_ids = [_OTHER_ID.instance(row, _OTHER_ID_START) for row in found if row[0] == 1]
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
