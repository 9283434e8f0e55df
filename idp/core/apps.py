from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "idp.core"
    label = "core"
    verbose_name = "Caducée core"

    def ready(self) -> None:
        # Registers the configuration checks run by `manage.py check [--deploy]`.
        from idp.core import checks  # noqa: F401
