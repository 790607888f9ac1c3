"""WSGI entry point, used by `manage.py serve` and by any WSGI server."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "travelfit.settings")

application = get_wsgi_application()
