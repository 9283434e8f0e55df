from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "idp.oidc"
    label = "oidc"
    verbose_name = "OpenID Connect provider"

    def ready(self) -> None:
        # Connects the receivers that drop cached UserInfo documents when a professional changes,
        # in every process (a registry sync command never loads the URLs).
        from idp.oidc.protocol import userinfo  # noqa: F401
