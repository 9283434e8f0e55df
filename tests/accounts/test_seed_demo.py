"""manage.py seed_demo: idempotent, valid identifiers, one audit event only when it created."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from idp.accounts.identifiers import parse_id_nat, validate_rpps
from idp.accounts.models import Activity, Exercice, OtherId, Professional
from idp.accounts.userinfo import render_userinfo
from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Professional.objects.count(),
        Exercice.objects.count(),
        Activity.objects.count(),
        OtherId.objects.count(),
        AuditEvent.objects.count(),
    )


def _snapshot():
    return list(Professional.objects.order_by("id_nat").values())


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_running_twice_changes_nothing(settings):
    settings.DEBUG = True
    first_output = _run()
    counts, snapshot = _counts(), _snapshot()
    assert counts[0] >= 5
    assert "5 created, 0 already present" in first_output

    second_output = _run()
    assert _counts() == counts
    assert _snapshot() == snapshot
    assert "0 created, 5 already present" in second_output
    assert AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_DEMO_SEEDED).count() == 1


def test_summary_table(settings):
    settings.DEBUG = True
    output = _run()
    assert output.splitlines()[0].split() == ["idNat", "name", "profession"]
    assert "899700010012" in output
    assert "HELENE DUVAL" in output
    assert "Médecin" in output
    assert "Psychologue" in output


def test_audit_event_lists_what_was_created(settings):
    settings.DEBUG = True
    _run()
    (event,) = AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_DEMO_SEEDED)
    assert event.actor == "system:seed_demo"
    assert sorted(event.data["created"]) == sorted(
        Professional.objects.values_list("id_nat", flat=True)
    )


def test_only_missing_professionals_are_created(settings):
    settings.DEBUG = True
    _run()
    Professional.objects.filter(id_nat="899700010020").delete()
    output = _run()
    assert "1 created, 4 already present" in output
    latest = AuditEvent.objects.filter(tag=EventTag.ACCOUNTS_DEMO_SEEDED).order_by("-sequence")
    assert latest.first().data["created"] == ["899700010020"]


def test_identifiers_are_valid_and_in_the_test_range(settings):
    settings.DEBUG = True
    _run()
    kinds = set()
    for professional in Professional.objects.all():
        parsed = parse_id_nat(professional.id_nat)
        kinds.add(parsed.type)
        if parsed.type == "8":
            validate_rpps(professional.identifier)
            assert professional.identifier.startswith("997")
        professional.full_clean()
        assert professional.registry_source == Professional.RegistrySource.DEMO
        assert professional.email.endswith("@example.org")
        assert professional.mobile.startswith("+3363998")
    assert kinds == {"8", "0"}


def test_doctor_has_two_activities_and_renders(settings):
    settings.DEBUG = True
    _run()
    doctor = Professional.objects.with_userinfo().get(id_nat="899700010012")
    userinfo = render_userinfo(doctor, auth_mode="CARD")
    (exercice,) = userinfo["SubjectRefPro"]["exercices"]
    modes = [a["codeModeExercice"] for a in exercice["activities"]]
    assert modes == ["L", "S"]
    assert userinfo["SubjectOrganization"] == "CABINET MEDICAL DE LA REPUBLIQUE"


def test_nurse_keeps_her_former_adeli_id(settings):
    settings.DEBUG = True
    _run()
    nurse = Professional.objects.get(id_nat="899700010038")
    assert set(nurse.other_ids.values_list("origine", "identifiant")) == {
        ("RPPS", "899700010038"),
        ("ADELI", "0136012341"),
    }
    parse_id_nat("0136012341")


def test_refuses_outside_debug_without_force(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        _run()
    assert not Professional.objects.exists()
    assert "5 created" in _run("--force")
