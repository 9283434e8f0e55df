from django.apps import AppConfig


class RppsSyncConfig(AppConfig):
    name = "rpps_sync"
    verbose_name = "Registry synchronisation (RPPS/ADELI)"
