"""The project's app configurations."""

from django.contrib.admin.apps import AdminConfig


class TravelFitAdminConfig(AdminConfig):
    """django.contrib.admin with TravelFit's site (imagegen/admin_site.py) as `admin.site`."""

    default_site = "imagegen.admin_site.TravelFitAdminSite"
