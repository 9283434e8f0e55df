"""The journal in the admin: readable by administrators, writable by nobody.

Registered on the default site, which is the project's OTP site (``idp.core.admin_site``). The
list avoids what does not scale to millions of rows: no full ``COUNT(*)``
(``show_full_result_count``) and no ``SELECT DISTINCT tag`` (the tag filter lists the closed
vocabulary instead). Search is a prefix search on actor and subject (``professional:8100…``),
which is what an investigation needs.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from idp.audit.models import AuditEvent
from idp.audit.tags import EventTag
from idp.core.admin_mixins import ReadOnlyAdminMixin


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(tag.value, tag.value) for tag in EventTag]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(tag=self.value())
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("sequence", "occurred_at", "tag", "actor", "subject", "ip")
    list_display_links = ("sequence",)
    list_filter = (TagFilter, ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("^actor", "^subject")
    ordering = ("-sequence",)
    list_per_page = 100
    show_full_result_count = False
    fields = (
        "sequence",
        "occurred_at",
        "tag",
        "actor",
        "subject",
        "ip",
        "user_agent",
        "request_id",
        "pretty_data",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    @admin.display(description="data")
    def pretty_data(self, event: AuditEvent) -> str:
        text = json.dumps(event.data, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)
