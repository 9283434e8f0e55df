from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "idp.audit"
    label = "audit"
    verbose_name = "Audit journal"
