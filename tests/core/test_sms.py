import json

import pytest

from idp.core import sms


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("+590 690 12 34 56", "+590690123456"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, expected):
    assert sms.normalise_phone_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "hello", "+0612", "12", "+33 6 12 34 56 78 90 12 34"])
def test_garbage_is_refused(raw):
    with pytest.raises(sms.InvalidPhoneNumber):
        sms.normalise_phone_number(raw)


def test_locmem_backend_keeps_the_message(settings):
    settings.IDP_SMS_BACKEND = "locmem"
    sms.outbox.clear()
    sent = sms.send_sms("06 12 34 56 78", "Votre code : 123456")
    assert sms.outbox == [sent]
    assert sent.to == "+33612345678"
    assert sent.sender == settings.IDP_SMS_SENDER


def test_file_backend_appends_json_lines(tmp_path, settings):
    settings.IDP_SMS_FILE_PATH = tmp_path
    backend = sms.get_backend("file")
    sms.send_sms("0612345678", "one", backend=backend)
    sms.send_sms("0612345679", "two", backend=backend)
    (spool,) = tmp_path.glob("*.jsonl")
    lines = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [line["body"] for line in lines] == ["one", "two"]
    assert lines[1]["to"] == "+33612345679"


def test_console_backend_prints(capsys):
    sms.send_sms("0612345678", "hello", backend=sms.get_backend("console"))
    assert "+33612345678" in capsys.readouterr().out


def test_dotted_path_backend_is_loaded():
    backend = sms.get_backend("idp.core.sms.LocmemSmsBackend")
    assert isinstance(backend, sms.LocmemSmsBackend)
