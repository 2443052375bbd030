from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """Django's admin, with ``admin.site`` (what ``@admin.register`` uses) being authsvc's site."""

    default_site = "accounts.admin_site.AdminSite"
