from django.apps import AppConfig


class RelyingPartiesConfig(AppConfig):
    name = "relying_parties"
    verbose_name = "Relying parties"
