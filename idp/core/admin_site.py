"""The administrators' site: Django admin behind a password and a TOTP second factor."""

from django_otp.admin import OTPAdminSite


class CaduceeAdminSite(OTPAdminSite):
    site_header = "Caducée administration"
    site_title = "Caducée"
    index_title = "Administration"
