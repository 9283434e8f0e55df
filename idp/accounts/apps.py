from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "idp.accounts"
    label = "accounts"
    verbose_name = "Professionals"
