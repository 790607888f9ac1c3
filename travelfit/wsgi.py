"""WSGI entry point, used by `manage.py serve` and by any WSGI server: Django's application,
inside the request id's binding (lib/request_id.py), so that every line written while a
request is served carries its id, the server's own access line included."""

import os

from django.core.wsgi import get_wsgi_application

from lib.request_id import RequestIdApplication

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "travelfit.settings")

application = RequestIdApplication(get_wsgi_application())
