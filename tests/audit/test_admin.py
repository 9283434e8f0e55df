"""The journal in the admin is behind the second factor and read-only for everyone."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django_otp.admin import OTPAdminSite

from idp.audit.admin import AuditEventAdmin
from idp.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.org", "x" * 20)


@pytest.fixture
def verified_request(superuser):
    """A request from a superuser who passed the second factor (what OTPMiddleware would set)."""

    def make(method: str = "get", path: str = "/admin/audit/auditevent/", **kwargs):
        request = getattr(RequestFactory(), method)(path, **kwargs)
        request.user = superuser
        request.user.is_verified = lambda: True
        request._dont_enforce_csrf_checks = True  # what the test client does; CSRF is not the point
        return request

    return make


@pytest.fixture
def model_admin():
    return admin.site._registry[AuditEvent]


def test_registered_on_the_otp_admin_site(model_admin):
    assert isinstance(admin.site, OTPAdminSite)
    assert isinstance(model_admin, AuditEventAdmin)


def test_nobody_may_add_change_or_delete(model_admin, verified_request, three_events):
    request = verified_request()
    event = three_events[0]
    assert model_admin.has_view_permission(request, event)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_only_the_view_permission_exists():
    codenames = set(
        Permission.objects.filter(content_type__app_label="audit").values_list(
            "codename", flat=True
        )
    )
    assert codenames == {"view_auditevent"}


def test_the_list_shows_the_events(model_admin, verified_request, three_events):
    response = model_admin.changelist_view(verified_request())
    response.render()
    content = response.content.decode()
    assert response.status_code == 200
    assert "accounts:professional:suspended" in content
    assert "professional:f3c9" in content
    assert model_admin.list_display[:5] == ("sequence", "occurred_at", "tag", "actor", "subject")


def test_the_list_filters_by_tag_and_searches_by_actor(model_admin, verified_request, three_events):
    request = verified_request(data={"tag": "admin:logout:done"})
    response = model_admin.changelist_view(request)
    assert [e.sequence for e in response.context_data["cl"].result_list] == [3]
    request = verified_request(data={"q": "professional:f3"})
    response = model_admin.changelist_view(request)
    assert [e.sequence for e in response.context_data["cl"].result_list] == [2]


def test_the_detail_page_is_read_only(model_admin, verified_request, three_events):
    response = model_admin.change_view(verified_request(path="/"), "2")
    response.render()
    content = response.content.decode()
    assert response.status_code == 200
    assert three_events[1].hash in content
    assert 'name="_save"' not in content
    assert "licence withdrawn" in content


def test_posting_a_change_or_a_delete_is_refused(model_admin, verified_request, three_events):
    with pytest.raises(PermissionDenied):
        model_admin.change_view(verified_request("post", "/", data={"actor": "x"}), "2")
    with pytest.raises(PermissionDenied):
        model_admin.delete_view(verified_request("post", "/", data={"post": "yes"}), "2")
    with pytest.raises(PermissionDenied):
        model_admin.add_view(verified_request("post", "/", data={}))
    assert AuditEvent.objects.get(sequence=2).actor == "admin:alice"


def test_a_superuser_without_second_factor_is_sent_to_login(client, superuser, three_events):
    client.force_login(superuser)
    response = client.get("/admin/audit/auditevent/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
