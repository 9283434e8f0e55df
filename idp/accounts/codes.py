"""Labels of the registry's code tables (ANS "nomenclatures des objets de santé", NOS), for display.

The registry extract carries both codes and labels, but its labels differ from the official tables
(rpps-format.md § Public extract: "join on codes, never on labels"), so screens look labels up here.
The tables are shipped as JSON under ``idp/accounts/data/``, one file per table, each naming its
source (the NOS value set it was copied from). Protocol output (UserInfo) carries codes only.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"

# Table name -> ANS table it reproduces (the JSON file says which value set it was copied from).
TABLES: dict[str, str] = {
    "profession": "TRE_G15",
    "categorie_professionnelle": "TRE_R09",
    "mode_exercice": "TRE_R23",
    "type_savoir_faire": "TRE_R04",
    "savoir_faire": "TRE_R38 and related",
    "secteur_activite": "TRE_R02",
    "civilite_exercice": "TRE_R11",
    "civilite": "TRE_R81",
    "genre_activite": "TRE_R22",
    "role": "TRE_R21",
    "section_pharmacien": "TRE_R06/TRE_G05",
}


class UnknownCodeTable(LookupError):
    """The table name is not one of ``TABLES`` (a programming error, not a data problem)."""


@cache
def _load(table: str) -> MappingProxyType[str, str]:
    if table not in TABLES:
        raise UnknownCodeTable(f"no code table named {table!r}; known: {', '.join(TABLES)}")
    document: dict[str, Any] = json.loads((DATA_DIR / f"{table}.json").read_text("utf-8"))
    return MappingProxyType(dict(document["codes"]))


def table(name: str) -> MappingProxyType[str, str]:
    """The whole table ``name`` as a read-only mapping code -> label."""
    return _load(name)


def label(table: str, code: str) -> str:
    """The label of ``code`` in ``table``, or ``""`` when the code is unknown or empty.

    Unknown codes are expected (tables evolve faster than this copy) and must never break a
    screen; an unknown *table* name is a bug and raises ``UnknownCodeTable``.
    """
    if not code:
        _load(table)  # still refuse a misspelt table name
        return ""
    return _load(table).get(code.strip(), "")


def labelled(table: str, code: str) -> str:
    """``"<label> (<code>)"`` when the label is known, else the bare code (for admin lists)."""
    text = label(table, code)
    return f"{text} ({code})" if text else code
