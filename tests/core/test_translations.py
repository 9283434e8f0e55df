"""French is the default language, English on request; the compiled catalogue matches its source."""

import gettext
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from idp.accounts.identifiers import validate_rpps

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES"
_ENTRY = re.compile(r'^msgid "(.+)"\nmsgstr "(.*)"$', re.M)


def _po_entries() -> dict[str, str]:
    text = (LOCALE / "django.po").read_text(encoding="utf-8")
    return {
        msgid.replace('\\"', '"'): msgstr.replace('\\"', '"')
        for msgid, msgstr in _ENTRY.findall(text)
    }


def test_every_message_is_translated():
    untranslated = [msgid for msgid, msgstr in _po_entries().items() if not msgstr]
    assert untranslated == []
    source = (LOCALE / "django.po").read_text(encoding="utf-8")
    # msgfmt leaves fuzzy entries out: the page would silently fall back to English.
    assert "#, fuzzy" not in source
    assert 'msgstr[0] ""' not in source


def test_compiled_catalogue_matches_its_source():
    with open(LOCALE / "django.mo", "rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    entries = _po_entries()
    assert len(entries) > 50
    stale = {msgid for msgid, msgstr in entries.items() if catalogue.gettext(msgid) != msgstr}
    assert stale == set(), "run `make messages` after editing the .po file"


@pytest.mark.django_db
def test_admin_login_page_in_both_languages(client):
    french = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    english = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Code de l&#x27;application d&#x27;authentification" in french
    assert "Authenticator code" in english


def _message_in(language: str) -> str:
    with translation.override(language):
        with pytest.raises(ValidationError) as error:
            validate_rpps("1234")
        return " ".join(error.value.messages)  # lazy messages render in the active language


def test_validation_errors_are_translated():
    assert _message_in("fr") == "Le numéro RPPS doit comporter 11 chiffres (et non 4)."
    assert _message_in("en") == "RPPS number must be 11 digits long (got 4)."
