from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "idp.oidc"
    label = "oidc"
    verbose_name = "OpenID Connect provider"

    def ready(self) -> None:
        # Receivers must be connected in every process, including management commands that never
        # load the URLs (a registry sync): `sessions` ends a professional's sessions when they are
        # suspended or deactivated; `userinfo` drops cached UserInfo documents when they change;
        # `ciba_delivery` pings CIBA clients when the card app answers (the app API's process).
        from idp.oidc import ciba_delivery, sessions  # noqa: F401
        from idp.oidc.protocol import userinfo  # noqa: F401
