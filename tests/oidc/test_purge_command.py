from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from idp.oidc import revocation
from idp.oidc.models import RevokedGrant

pytestmark = pytest.mark.django_db


def test_purge_deletes_only_what_can_no_longer_matter(capsys):
    revocation.revoke_grant("still-relevant", "test")
    RevokedGrant.objects.create(
        grant_id="long-gone", reason="test", purge_after=timezone.now() - timedelta(seconds=1)
    )
    call_command("purge_expired")
    assert "revoked_grants: 1 deleted" in capsys.readouterr().out
    assert list(RevokedGrant.objects.values_list("grant_id", flat=True)) == ["still-relevant"]
