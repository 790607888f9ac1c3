"""gunicorn's configuration for TravelFit in production:

    gunicorn -c travelfit/gunicorn.conf.py

Its values come from the site's own settings (environment and .env, checked as the site checks
them): HOST and PORT to listen on, WEB_WORKERS processes of WEB_THREADS threads each, and
WEB_TIMEOUT, the longest a request may take. Static files are served by whitenoise inside the
app, with hashed names and a long cache.
"""

import copy
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "travelfit.settings")

from django.conf import settings  # noqa: E402  (after the settings module is named)

wsgi_app = "travelfit.wsgi:application"
bind = [f"{settings.HOST}:{settings.PORT}"]
workers = settings.WEB_WORKERS
threads = settings.WEB_THREADS
worker_class = "gthread"
# A request taking longer than this is stopped; on a stop or reload, running requests get
# longer than the slowest one may take before their worker is killed.
timeout = settings.WEB_TIMEOUT
graceful_timeout = settings.WEB_TIMEOUT + 30
keepalive = 5
# One line per request on stdout (and errors on stderr), for journald or docker logs.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# gunicorn's own lines, its start-up and errors and the access lines, go through the site's
# formatter (LOG_FORMAT: with json, every line the web process writes is one JSON object) and
# carry the request's id (lib/request_id.py), as the application's lines do.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    # Copies: logging's dictConfig consumes the dicts it is given, and the workers, forked
    # from this process, configure Django's logging from the same settings.
    "formatters": copy.deepcopy(settings.LOGGING["formatters"]),
    "filters": copy.deepcopy(settings.LOGGING["filters"]),
    "handlers": {
        "access": {
            "class": "logging.StreamHandler",
            "formatter": settings.LOG_FORMAT,
            "filters": ["request_id"],
            "stream": "ext://sys.stdout",
        },
        "errors": {
            "class": "logging.StreamHandler",
            "formatter": settings.LOG_FORMAT,
            "filters": ["request_id"],
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": "WARNING", "handlers": ["errors"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["errors"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}
# Replace a worker after this many requests (with jitter), so slow leaks cannot grow forever.
max_requests = 2000
max_requests_jitter = 200
# gunicorn's control socket (for gunicornc) defaults to one path per user, $HOME/.gunicorn/
# gunicorn.ctl, so a second instance under the same user would unlink the first one's. It is
# off unless WEB_CONTROL_SOCKET names this instance's own path.
if settings.WEB_CONTROL_SOCKET:
    control_socket = settings.WEB_CONTROL_SOCKET
else:
    control_socket_disable = True


def child_exit(server, worker):
    """prometheus_client's multiprocess mode: a worker that is gone stops counting in live
    gauges (its counters stay, as counts must)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
