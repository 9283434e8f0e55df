from django.apps import AppConfig


class AuthnConfig(AppConfig):
    name = "idp.authn"
    label = "authn"
    verbose_name = "Authentication methods"
