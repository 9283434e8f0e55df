from django.contrib.admin.apps import AdminConfig


class CaduceeAdminConfig(AdminConfig):
    """The Django admin, served by a site that demands a verified second factor."""

    default_site = "idp.core.admin_site.CaduceeAdminSite"
