"""TravelFit settings, read from the environment and an optional `.env` file.

Every variable is documented, with its default, in `.env.example`. Nothing here needs editing to
switch database, broker or image provider: set the variable instead.
"""

import datetime
import logging
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file. TRAVELFIT_ENV_FILE names another
# file (the test suite points it at nothing, so a developer's .env cannot change the tests).
environ.Env.read_env(env.str("TRAVELFIT_ENV_FILE", default=str(BASE_DIR / ".env")))

# A self-hosted app does not report home: the client libraries' telemetry is off unless the
# operator turns it on (read by huggingface_hub and gradio when they are imported, after this).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _setting(name, parse, default, describe):
    """Read one variable with `parse`, turning a bad value into a message that names it."""
    raw = env.str(name, default=None)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise ImproperlyConfigured(f"{name} must be {describe}; got {raw!r}.") from exc


def _whole_number(minimum, maximum=None):
    def parse(raw):
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(raw)
        return value

    return parse


def _number(minimum):
    def parse(raw):
        value = float(raw)
        if not value >= minimum:
            raise ValueError(raw)
        return value

    return parse


def _boolean(raw):
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def _one_of(*options):
    def parse(raw):
        if raw.lower() not in options:
            raise ValueError(raw)
        return raw.lower()

    return parse


def _name_list(raw):
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = _setting("DEBUG", _boolean, False, "true or false")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Put a long random value in .env "
            "(`make run` writes one for you the first time), or set DEBUG=true for development."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = _setting("ALLOWED_HOSTS", _name_list, ["127.0.0.1", "localhost"], "host names")
# Front ends on other origins that may call the JSON API (the original backend served one on
# localhost:3000/3001). They are trusted for CORS and, for session use, for CSRF.
ALLOWED_ORIGINS = _setting("ALLOWED_ORIGINS", _name_list, [], "origins like http://localhost:3000")
CSRF_TRUSTED_ORIGINS = (
    _setting("CSRF_TRUSTED_ORIGINS", _name_list, [], "origins (https://…)") + ALLOWED_ORIGINS
)
# An expired form gets a page in the site's look that says to reload, not Django's own.
CSRF_FAILURE_VIEW = "lib.error_pages.csrf_failure"
CORS_ALLOWED_ORIGINS = ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = True
# The API's documented answer headers, readable by a front end on an allowed origin.
CORS_EXPOSE_HEADERS = [
    "Location",
    "Retry-After",
    "X-Request-ID",
    "Idempotent-Replayed",
    "RateLimit",
    "RateLimit-Policy",
    "Content-Language",
]
HOST = env.str("HOST", default="127.0.0.1")
# gunicorn (travelfit/gunicorn.conf.py): processes, threads per process, longest request.
WEB_WORKERS = _setting("WEB_WORKERS", _whole_number(1, 64), 2, "a whole number (1–64)")
WEB_THREADS = _setting("WEB_THREADS", _whole_number(1, 64), 8, "a whole number (1–64)")
WEB_TIMEOUT = _setting("WEB_TIMEOUT", _whole_number(5), 60, "a number of seconds (5 or more)")
PORT = _setting("PORT", _whole_number(1, 65535), 8000, "a port number (1–65535)")
# gunicorn's control socket (gunicornc): a path of this instance's own; empty turns it off.
WEB_CONTROL_SOCKET = env.str("WEB_CONTROL_SOCKET", default="").strip()

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    # django.contrib.admin, with TravelFit's AdminSite (imagegen/admin_site.py) as admin.site.
    "travelfit.apps.TravelFitAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "csp",
    # django-ninja: the JSON API, its OpenAPI schema and the docs page's Swagger UI files.
    "ninja",
    # Before django_q: imagegen's `qcluster` (django-q2's, plus the recovery watchdog) wins.
    "accounts",
    "imagegen",
    "django_q",
    "axes",
]

MIDDLEWARE = [
    # First: every later log line of a request carries its id; then count and time it.
    "lib.request_id.RequestIdMiddleware",
    "imagegen.metrics.HttpMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After LocaleMiddleware and the user: their language beats the cookie; their time zone.
    "accounts.middleware.UserPreferencesMiddleware",
    # The JSON API speaks English unless Accept-Language asks for Korean.
    "lib.middleware.ApiLanguageMiddleware",
    # Signed-in pages: Cache-Control: private, no-store.
    "lib.middleware.SignedInNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # After CSPMiddleware, so that it runs first on the way out: lets pages show bucket images.
    "imagegen.media.MediaOriginCSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "travelfit.urls"
WSGI_APPLICATION = "travelfit.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_HELP = (
    "DATABASE_URL must look like sqlite:////absolute/path.sqlite3 or "
    "postgres://user:password@host:5432/name"
)
try:
    DATABASES = {
        "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
    }
except (ImproperlyConfigured, KeyError, ValueError) as exc:
    raise ImproperlyConfigured(f"{DATABASE_HELP} ({exc}).") from exc
if DATABASES["default"]["ENGINE"] not in (
    "django.db.backends.sqlite3",
    "django.db.backends.postgresql",
):
    raise ImproperlyConfigured(f"{DATABASE_HELP}; got {env.str('DATABASE_URL')!r}.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions queue writers behind the busy timeout instead of failing with
    # "database is locked"; WAL lets readers go on while one writer works (QUEUE-AND-QUOTA.md).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "imagegen:create"
LOGOUT_REDIRECT_URL = "login"

# Korean and English. A page's language is the user's preference (their profile), then the
# language cookie (the switcher in the header), then the browser's Accept-Language, and only
# then LANGUAGE_CODE: Korean by default, as the first users are Korean travellers.
LANGUAGES = [("ko", "한국어"), ("en", "English")]
LANGUAGE_CODE = _setting("LANGUAGE_CODE", _one_of("ko", "en"), "ko", "ko or en")
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our corrections to Django's locale formats (Korean: 오전/오후 before the time).
FORMAT_MODULE_PATH = ["travelfit.formats"]
# The site's day and month (quotas, reports) and the zone of times shown to a user who chose
# none: a Korean-first site's day ends at midnight in Korea, not at 09:00 (midnight UTC).
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul" if LANGUAGE_CODE == "ko" else "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Generated images are private: they live under MEDIA_ROOT but no URL maps onto that folder;
# a view checks the owner (or a share token) before sending a file.
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Where generated images live: on this machine's disk (local), or in an S3-compatible bucket
# (s3: AWS, MinIO, Cloudflare R2, Backblaze B2, Ceph), which every web and worker machine shares.
MEDIA_STORAGE = _setting("MEDIA_STORAGE", _one_of("local", "s3"), "local", "local or s3")
# Image URLs handed out for the bucket are signed and expire after this many seconds.
IMAGEGEN_SIGNED_URL_TTL = _setting(
    "IMAGEGEN_SIGNED_URL_TTL", _whole_number(10, 604800), 300, "a number of seconds (10–604800)"
)


def s3_storage(*, bucket, endpoint_url, region, access_key, secret_key, addressing_style, location):
    """STORAGES["default"] for a private bucket through django-storages (options: its names)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "region_name": region,
            # None: boto3's usual chain (an instance role, ~/.aws) supplies them.
            "access_key": access_key,
            "secret_key": secret_key,
            "addressing_style": addressing_style,
            "location": location,
            "signature_version": "s3v4",
            # Private: no ACL of ours (the bucket's own, never public-read), signed URLs only.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": IMAGEGEN_SIGNED_URL_TTL,
            # Never overwrite: a second worker's copy of an image gets its own name and is
            # deleted when its result is not the one recorded.
            "file_overwrite": False,
            "object_parameters": {"CacheControl": "private, no-store"},
        },
    }


AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")  # redacted like the token
if MEDIA_STORAGE == "s3":
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    STORAGES["default"] = s3_storage(
        bucket=AWS_STORAGE_BUCKET_NAME,
        endpoint_url=AWS_S3_ENDPOINT_URL,
        region=env.str("AWS_S3_REGION_NAME", default="") or None,
        access_key=AWS_ACCESS_KEY_ID or None,
        secret_key=AWS_SECRET_ACCESS_KEY or None,
        # MinIO and Ceph want path-style addresses; AWS and R2 take either.
        addressing_style=_setting(
            "AWS_S3_ADDRESSING_STYLE",
            _one_of("auto", "path", "virtual"),
            "path" if AWS_S3_ENDPOINT_URL else "auto",
            "auto, path or virtual",
        ),
        location=env.str("AWS_LOCATION", default=""),
    )

# Scripts and styles come only from our static files, never inline. The admin is Django's
# own and keeps its inline bits, so it is left out.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # blob: the create page previews the photos chosen, before they are sent.
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- HTTPS, cookies and proxies ----------------------------------------------------------------
# Secure by default when DEBUG is off: HTTPS only, HSTS, cookies over HTTPS only. An operator
# trying the site over plain http turns these off on purpose (`make run`'s .env does).
SECURE_SSL_REDIRECT = _setting("SECURE_SSL_REDIRECT", _boolean, not DEBUG, "true or false")
# A load balancer probes /health over plain http inside the network: answer it, don't redirect.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
SECURE_HSTS_SECONDS = _setting(
    "SECURE_HSTS_SECONDS",
    _whole_number(0),
    0 if DEBUG else 31536000,
    "a whole number of seconds (0 turns HSTS off)",
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _setting(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", _boolean, True, "true or false"
)
SECURE_HSTS_PRELOAD = _setting("SECURE_HSTS_PRELOAD", _boolean, False, "true or false")
SESSION_COOKIE_SECURE = _setting("SECURE_COOKIES", _boolean, not DEBUG, "true or false")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Asking for the HSTS preload list is the operator's decision (SECURE_HSTS_PRELOAD), not a
# default; the deploy check would otherwise warn about it on every site.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]


def _proxy_header(raw):
    """X-Forwarded-Proto → ("HTTP_X_FORWARDED_PROTO", "https"), as SECURE_PROXY_SSL_HEADER wants."""
    if not raw.replace("-", "").replace("_", "").isalnum():
        raise ValueError(raw)
    return ("HTTP_" + raw.upper().replace("-", "_"), "https")


# Behind a TLS proxy (nginx, a load balancer): the header it sets to say the request came over
# HTTPS, with the value https. Only set it when the proxy always sets (or strips) that header.
SECURE_PROXY_SSL_HEADER = _setting(
    "TRUSTED_PROXY_HEADER", _proxy_header, None, "a header name such as X-Forwarded-Proto"
)
# How many proxies in front of the site append to X-Forwarded-For; 0 (no proxy) uses the
# connection's address. Throttles count failed log-ins and sign-ups per client address.
TRUSTED_PROXY_COUNT = _setting(
    "TRUSTED_PROXY_COUNT", _whole_number(0, 10), 0, "a whole number of proxies (0–10)"
)

# --- Sign-in protection ------------------------------------------------------------------------
# Failed log-ins (site and admin) are counted in the database by django-axes, per user name and
# client address; at the limit that pair is locked out for LOGIN_COOLOFF_MINUTES (admins can
# unlock it sooner in the admin, "Access attempts").
LOGIN_FAILURE_LIMIT = _setting(
    "LOGIN_FAILURE_LIMIT", _whole_number(1, 1000), 5, "a whole number of attempts (1–1000)"
)
LOGIN_COOLOFF_MINUTES = _setting(
    "LOGIN_COOLOFF_MINUTES", _whole_number(1), 15, "a whole number of minutes (1 or more)"
)
# Failed log-ins from one address across every user name (password spraying) per
# LOGIN_COOLOFF_MINUTES window; past it, log-ins from that address wait for the next window.
LOGIN_ADDRESS_FAILURE_LIMIT = _setting(
    "LOGIN_ADDRESS_FAILURE_LIMIT", _whole_number(1), 30, "a whole number of attempts (1 or more)"
)
# New accounts and password-reset e-mails per client address and window.
SIGNUP_LIMIT = _setting("SIGNUP_LIMIT", _whole_number(0), 5, "a whole number (0 stops sign-up)")
SIGNUP_WINDOW_MINUTES = _setting(
    "SIGNUP_WINDOW_MINUTES", _whole_number(1), 60, "a whole number of minutes (1 or more)"
)
PASSWORD_RESET_LIMIT = _setting(
    "PASSWORD_RESET_LIMIT", _whole_number(0), 5, "a whole number (per SIGNUP_WINDOW_MINUTES)"
)
# Reset e-mails to one e-mail address per window, from any number of client addresses.
PASSWORD_RESET_ACCOUNT_LIMIT = _setting(
    "PASSWORD_RESET_ACCOUNT_LIMIT",
    _whole_number(0),
    3,
    "a whole number (per SIGNUP_WINDOW_MINUTES)",
)
# Where lib.rate's named limits (sign-up, resets, log-in failures, uploads, reports) keep
# their counts, one row per action and client (like AUTH_USER_MODEL, not read from the env).
RATE_COUNTER_MODEL = "accounts.AddressThrottle"
AUTHENTICATION_BACKENDS = [
    # Log-ins from an address past LOGIN_ADDRESS_FAILURE_LIMIT stop here, then django-axes'.
    "accounts.throttles.AddressLockoutBackend",
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = datetime.timedelta(minutes=LOGIN_COOLOFF_MINUTES)
# Per user name and address: a traveller on shared hotel Wi-Fi is not locked out by someone
# else's typos, and nobody can lock another user out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# IPv6 counts by its /64, as sign-up and reset do: new addresses from one block are one client.
AXES_CLIENT_IP_CALLABLE = "lib.rate.lockout_ip"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_VERBOSE = False

# --- E-mail ------------------------------------------------------------------------------------
# django-environ's e-mail URL: smtp://user:password@host:25, smtp+tls://…:587 (STARTTLS),
# smtp+ssl://…:465, or consolemail:// (the default: mail is printed in the server's output).
try:
    vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
except (ImproperlyConfigured, ValueError) as exc:
    raise ImproperlyConfigured(
        f"EMAIL_URL must look like smtp+tls://user:password@mail.example.com:587 or "
        f"consolemail:// ({exc})."
    ) from exc
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="TravelFit <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = 20
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3

# --- Health and error tracking -------------------------------------------------------------------
# /health shows the original backend's four fields to anyone; the rest (queue, workers,
# providers, spending) to staff or to a monitor sending `Authorization: Bearer <HEALTH_TOKEN>`.
HEALTH_TOKEN = env.str("HEALTH_TOKEN", default="")
# Sentry (or a compatible server such as GlitchTip): off unless set. Events carry no token,
# no secret and no prompt (lib.redaction.scrub_event).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")

# --- Background work (django-q2) -----------------------------------------------------------
Q_BROKER = _setting(
    "Q_BROKER",
    _one_of("orm", "redis"),
    "orm",
    "orm or redis",
)
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
Q_WORKERS = _setting("Q_WORKERS", _whole_number(1, 64), 2, "a whole number of workers (1–64)")
# The longest one generation may take, fallbacks and retries included.
IMAGEGEN_TASK_TIMEOUT = _setting(
    "IMAGEGEN_TASK_TIMEOUT", _whole_number(10), 600, "a number of seconds (10 or more)"
)
# ORM broker only: how often an idle cluster asks the database for new tasks (seconds). A new
# generation waits half of this on average before a worker starts it; Redis hands tasks over
# at once and ignores it.
Q_POLL = _setting("Q_POLL", _number(0.005), 0.02, "a number of seconds (0.005 or more)")
# Generations of one user handed to the workers at a time (queued in the broker or running);
# the rest wait their turn in the database, so one user's batch cannot hold up everyone else.
# 0: no limit (first come, first served).
IMAGEGEN_IN_FLIGHT_PER_USER = _setting(
    "IMAGEGEN_IN_FLIGHT_PER_USER", _whole_number(0, 1000), 2, "a whole number (0: no limit)"
)
# A running generation's worker says it is alive this often (seconds); one silent for six of
# these is taken for dead and its generation goes back in the queue.
IMAGEGEN_HEARTBEAT_SECONDS = _setting(
    "IMAGEGEN_HEARTBEAT_SECONDS", _number(0.1), 5.0, "a number of seconds (0.1 or more)"
)
# Every qcluster looks for generations of dead workers and lost tasks this often (seconds).
IMAGEGEN_RECOVERY_INTERVAL = _setting(
    "IMAGEGEN_RECOVERY_INTERVAL", _number(1), 15.0, "a number of seconds (1 or more)"
)
Q_CLUSTER = {
    "name": "travelfit",
    "workers": Q_WORKERS,
    # Prefetch no more than there are workers, so a task never waits in the cluster's own
    # queue long enough for the broker to hand it out a second time.
    "queue_limit": Q_WORKERS,
    "timeout": IMAGEGEN_TASK_TIMEOUT,
    "retry": IMAGEGEN_TASK_TIMEOUT * 2 + 60,
    # Retries are ours, inside the task, with our error classes; a failed task is not re-run.
    "ack_failures": True,
    "max_attempts": 1,
    "catch_up": False,
    "poll": Q_POLL,
    # Successful tasks are not kept: the generation row records everything about them, and
    # with a limit django-q2's monitor loads every kept success row (under a write lock) to
    # prune one, for each finished task; at 16 images/s that serialised the whole cluster.
    # Failed tasks (a bug, a task stopped by the time limit) are still kept for the admin.
    "save_limit": -1,
    "label": "Task queue",
}
if Q_BROKER == "orm":
    Q_CLUSTER["orm"] = "default"
else:
    Q_CLUSTER["redis"] = REDIS_URL

# Shared by every process: django-q2 keeps its clusters' heartbeats here (for /health's
# "workers seen recently"). A database table on one machine (`manage.py createcachetable`,
# which `make run` does), Redis when the broker is Redis.
if Q_BROKER == "redis":
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "travelfit_cache",
        }
    }

# --- Image generation ------------------------------------------------------------------------
HUGGINGFACE_API_TOKEN = env.str("HUGGINGFACE_API_TOKEN", default="") or env.str(
    "HF_TOKEN", default=""
)
# With a token and no list, the original backend's choice; without a token, the offline demo.
IMAGEGEN_PROVIDERS = _setting(
    "IMAGEGEN_PROVIDERS",
    _name_list,
    ["hf_inference"] if HUGGINGFACE_API_TOKEN else ["demo"],
    "a comma-separated list of provider names",
)


TIERS_EXAMPLE = "fast=hf_inference:1;best=gradio_space,hf_inference:3"
TIER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _tier_list(raw):
    """IMAGEGEN_TIERS: `name=provider,provider:units;…` as [(name, [providers], units)]; a
    missing `:units` is 1. Every problem is named, with the tier it is in."""

    def refuse(problem):
        raise ImproperlyConfigured(
            f"IMAGEGEN_TIERS must be like {TIERS_EXAMPLE} (name=providers in fallback "
            f"order:units); {problem} Got {raw!r}."
        )

    tiers = []
    for part in (part.strip() for part in raw.split(";")):
        if not part:
            continue
        name, equals, rest = (item.strip() for item in part.partition("="))
        if not equals:
            refuse(f"{part!r} has no '=' between the name and the providers.")
        if not TIER_NAME.fullmatch(name):
            refuse(
                f"the name {name!r} must be 1–32 lowercase letters, digits, '-' or '_', "
                "starting with a letter."
            )
        chain, colon, units = rest.rpartition(":") if ":" in rest else (rest, "", "1")
        providers = _name_list(chain)
        if not providers:
            refuse(f"the tier {name!r} names no provider.")
        if len(set(providers)) != len(providers):
            refuse(f"the tier {name!r} names a provider twice.")
        if not units.strip().isdigit() or not 1 <= int(units) <= 1000:
            refuse(f"the tier {name!r} must cost a whole number of units from 1 to 1000.")
        if any(name == other for other, _, _ in tiers):
            refuse(f"the name {name!r} is used twice.")
        tiers.append((name, providers, int(units)))
    if not tiers:
        refuse("it names no tier.")
    return tiers


# /metrics (Prometheus' text format): scraped with `Authorization: Bearer <METRICS_TOKEN>`;
# empty, only signed-in staff may read it. PROMETHEUS_MULTIPROC_DIR (read by prometheus_client
# itself, from the environment or .env) is where every process of this machine writes its
# counts, so that any web process's /metrics adds them all up; METRICS_PORT, on a worker-only
# machine, serves that machine's counts on METRICS_ADDR:METRICS_PORT from `qcluster`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_PORT = _setting("METRICS_PORT", _whole_number(0, 65535), 0, "a port number (0: none)")
METRICS_ADDR = env.str("METRICS_ADDR", default="127.0.0.1")
# travelfit_build_info's commit; empty: `git rev-parse HEAD` in a checkout, else "unknown".
TRAVELFIT_COMMIT = env.str("TRAVELFIT_COMMIT", default="")

# Quality tiers a user chooses per picture, each priced in quota units. Unset (empty): one
# tier, "standard", which is IMAGEGEN_PROVIDERS at 1 unit (imagegen.tiers). Set, the configured
# providers (checked, shown in /health) are those the tiers name, in order of first mention.
IMAGEGEN_TIERS = _setting("IMAGEGEN_TIERS", _tier_list, [], "a list of tiers")
if IMAGEGEN_TIERS:
    IMAGEGEN_PROVIDERS = list(
        dict.fromkeys(name for _, chain, _ in IMAGEGEN_TIERS for name in chain)
    )
_TIER_NAMES = [name for name, _, _ in IMAGEGEN_TIERS] or ["standard"]
IMAGEGEN_DEFAULT_TIER = env.str("IMAGEGEN_DEFAULT_TIER", default="").strip() or _TIER_NAMES[0]
if IMAGEGEN_DEFAULT_TIER not in _TIER_NAMES:
    raise ImproperlyConfigured(
        f"IMAGEGEN_DEFAULT_TIER names no tier: {IMAGEGEN_DEFAULT_TIER!r}; the tiers are "
        f"{', '.join(_TIER_NAMES)} (IMAGEGEN_TIERS)."
    )
IMAGEGEN_DAILY_QUOTA = _setting(
    "IMAGEGEN_DAILY_QUOTA", _whole_number(0), 20, "a whole number (0 or more)"
)
IMAGEGEN_MONTHLY_QUOTA = _setting(
    "IMAGEGEN_MONTHLY_QUOTA", _whole_number(0), 300, "a whole number (0 or more)"
)
IMAGEGEN_MAX_PROMPT_LENGTH = _setting(
    "IMAGEGEN_MAX_PROMPT_LENGTH", _whole_number(10, 10000), 1000, "a whole number (10–10000)"
)
# Decoded images above this many pixels are refused before they are stored.
IMAGEGEN_MAX_PIXELS = _setting(
    "IMAGEGEN_MAX_PIXELS", _whole_number(64 * 64), 4096 * 4096, "a whole number of pixels"
)
# How image files are sent: by Django (empty), or handed to the web server in front with
# x-accel-redirect (nginx: an internal location at IMAGEGEN_SENDFILE_PREFIX aliased to
# MEDIA_ROOT) or x-sendfile (Apache mod_xsendfile, lighttpd). Access is checked either way.
IMAGEGEN_SENDFILE = _setting(
    "IMAGEGEN_SENDFILE",
    _one_of("x-accel-redirect", "x-sendfile"),
    "",
    "empty, x-accel-redirect or x-sendfile",
)
IMAGEGEN_SENDFILE_PREFIX = env.str("IMAGEGEN_SENDFILE_PREFIX", default="/protected-media/")
if IMAGEGEN_SENDFILE and MEDIA_STORAGE == "s3":
    raise ImproperlyConfigured(
        "IMAGEGEN_SENDFILE only works with MEDIA_STORAGE=local (files on this machine's disk); "
        "with s3, image views redirect to signed URLs. Leave IMAGEGEN_SENDFILE empty."
    )
IMAGEGEN_THUMBNAIL_SIZE = _setting(
    "IMAGEGEN_THUMBNAIL_SIZE", _whole_number(64, 2048), 384, "a size in pixels (64–2048)"
)
# Retries of one provider while its failure is transient (503, loading, timeout, empty result).
IMAGEGEN_RETRIES = _setting("IMAGEGEN_RETRIES", _whole_number(0, 10), 2, "a whole number (0–10)")
# First pause between retries (doubling each time), and the longest pause, in seconds.
IMAGEGEN_RETRY_BACKOFF = _setting(
    "IMAGEGEN_RETRY_BACKOFF", _number(0), 2.0, "a number of seconds (0 or more)"
)
IMAGEGEN_RETRY_MAX_WAIT = _setting(
    "IMAGEGEN_RETRY_MAX_WAIT", _number(0), 60.0, "a number of seconds (0 or more)"
)
# How long a provider out of quota or credits is skipped when it does not say, in seconds.
IMAGEGEN_COOLDOWN = _setting(
    "IMAGEGEN_COOLDOWN", _whole_number(0), 900, "a whole number of seconds (0 or more)"
)
IMAGEGEN_DEMO_DELAY = _setting(
    "IMAGEGEN_DEMO_DELAY", _number(0), 1.5, "a number of seconds (0 or more)"
)

# hf_inference: Hugging Face Inference Providers through huggingface_hub.InferenceClient.
HF_INFERENCE_PROVIDER = env.str("HF_INFERENCE_PROVIDER", default="fal-ai")
HF_MODEL = env.str("HF_MODEL", default="stabilityai/stable-diffusion-3-medium")
HF_ROUTER_URL = env.str("HF_ROUTER_URL", default="https://router.huggingface.co").rstrip("/")
HF_TIMEOUT = _setting("HF_TIMEOUT", _number(1), 120.0, "a number of seconds (1 or more)")
# hf_endpoint: a dedicated Inference Endpoint or a server of your own speaking its protocol.
HF_ENDPOINT_URL = env.str("HF_ENDPOINT_URL", default="")
HF_ENDPOINT_SCALE_UP_TIMEOUT = _setting(
    "HF_ENDPOINT_SCALE_UP_TIMEOUT", _whole_number(0), 300, "a whole number of seconds"
)
# hf_inference, the `edit` task: an image-to-image model and the Inference Provider serving it
# (on fal-ai, through fal's queue: submit, poll, fetch).
HF_EDIT_MODEL = (
    env.str("HF_EDIT_MODEL", default="").strip() or "black-forest-labs/FLUX.1-Kontext-dev"
)
HF_EDIT_PROVIDER = env.str("HF_EDIT_PROVIDER", default="").strip() or "fal-ai"
# gradio_space: a duplicated Space (owner/space or its URL) called with gradio_client.
GRADIO_SPACE = env.str("GRADIO_SPACE", default="")
GRADIO_API_NAME = env.str("GRADIO_API_NAME", default="/infer")
GRADIO_TIMEOUT = _setting("GRADIO_TIMEOUT", _number(1), 300.0, "a number of seconds (1 or more)")
# gradio_space, the `try_on` task: a duplicated virtual try-on Space (IDM-VTON's /tryon);
# off: gradio_space does no try-ons.
GRADIO_TRYON_SPACE = env.str("GRADIO_TRYON_SPACE", default="").strip() or "yisol/IDM-VTON"
if GRADIO_TRYON_SPACE.lower() in ("off", "none"):
    GRADIO_TRYON_SPACE = ""
GRADIO_TRYON_API_NAME = env.str("GRADIO_TRYON_API_NAME", default="").strip() or "/tryon"
# local_diffusers: a diffusers pipeline in the worker (pip install -r requirements-local.txt).
LOCAL_MODEL = env.str("LOCAL_MODEL", default="stabilityai/stable-diffusion-3.5-large")
LOCAL_DEVICE = _setting("LOCAL_DEVICE", _one_of("cpu", "cuda", "mps"), "cpu", "cpu, cuda or mps")
LOCAL_DTYPE = _setting(
    "LOCAL_DTYPE",
    _one_of("auto", "float32", "float16", "bfloat16"),
    "auto",
    "auto, float32, float16 or bfloat16",
)


def _fraction(raw):
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError(raw)
    return value


# local_diffusers, the `edit` task: how far the image-to-image pipeline may move from the photo
# (0: not at all, 1: only the prompt counts).
LOCAL_EDIT_STRENGTH = _setting(
    "LOCAL_EDIT_STRENGTH", _fraction, 0.6, "a fraction above 0 and at most 1, such as 0.6"
)

# --- Uploaded photos (the `edit` and `try_on` tasks) -----------------------------------------
# Photos of people: checked by their bytes, re-encoded without any metadata, kept privately.
IMAGEGEN_UPLOAD_MAX_BYTES = _setting(
    "IMAGEGEN_UPLOAD_MAX_BYTES",
    _whole_number(1024, 200 * 1024 * 1024),
    15 * 1024 * 1024,
    "a number of bytes (1024 to 209715200)",
)
IMAGEGEN_UPLOAD_MAX_PIXELS = _setting(
    "IMAGEGEN_UPLOAD_MAX_PIXELS",
    _whole_number(64 * 64, 200_000_000),
    40_000_000,
    "a number of pixels (4096 to 200000000)",
)
# Uploaded photos one process decodes at once (imagegen/decoding.py): a 40-megapixel photo
# takes about a second of CPU and 700 MB to decode and re-encode, so a burst of them takes turns
# rather than adding up; one that finds no turn within 20 s is refused as busy.
IMAGEGEN_DECODES_AT_ONCE = _setting(
    "IMAGEGEN_DECODES_AT_ONCE", _whole_number(1, 64), 2, "a whole number (1–64)"
)
# Days a photo is kept after a generation last used it (the results stay); a photo never used
# goes after a day.
IMAGEGEN_UPLOAD_RETENTION_DAYS = _setting(
    "IMAGEGEN_UPLOAD_RETENTION_DAYS", _whole_number(1, 3650), 30, "a whole number of days (1–3650)"
)
# The longest chain of edits (issue 32): the first picture and its versions, one after another;
# an edit that would make it longer is refused (chain_too_long).
IMAGEGEN_CHAIN_MAX = _setting(
    "IMAGEGEN_CHAIN_MAX", _whole_number(2, 1000), 20, "a whole number (2–1000)"
)
# Photos one user may upload per day; more get 429.
IMAGEGEN_UPLOADS_PER_DAY = _setting(
    "IMAGEGEN_UPLOADS_PER_DAY", _whole_number(0), 50, "a whole number (0 stops uploads)"
)
# Uploads are read into memory, never into a temporary file: a photo's original bytes are
# written nowhere (imagegen.uploads.BoundedMemoryUploadHandler stops at the limit).
FILE_UPLOAD_HANDLERS = ["imagegen.uploads.BoundedMemoryUploadHandler"]

# --- Image safety (imagegen/safety.py) -------------------------------------------------------
# An image classifier looks at every result (and every uploaded photo) before anyone sees it:
# hf_inference (image_classification on the hf-inference provider, with HUGGINGFACE_API_TOKEN),
# local (a transformers pipeline in the worker: pip install -r requirements-local.txt), off,
# or auto: hf_inference when a token is configured, else off (with a warning in /health and in
# `check --deploy` while sign-up is open).
IMAGEGEN_SAFETY_CHECK = _setting(
    "IMAGEGEN_SAFETY_CHECK",
    _one_of("off", "hf_inference", "local", "auto"),
    "auto",
    "off, hf_inference, local or auto",
)
IMAGEGEN_SAFETY_MODEL = (
    env.str("IMAGEGEN_SAFETY_MODEL", default="").strip() or "Falconsai/nsfw_image_detection"
)
# A result whose unsafe label scores at least this is held for review.
IMAGEGEN_SAFETY_THRESHOLD = _setting(
    "IMAGEGEN_SAFETY_THRESHOLD", _fraction, 0.8, "a fraction above 0 and at most 1, such as 0.8"
)
# When the classifier cannot be asked: hold the image for review, or let it through.
IMAGEGEN_SAFETY_ON_ERROR = _setting(
    "IMAGEGEN_SAFETY_ON_ERROR", _one_of("hold", "allow"), "hold", "hold or allow"
)
# Reports from this many voices (an account, else an IPv4 address or IPv6 /48), at least one of
# them a signed-in account, suspend a share link until it is reviewed (services/review.py).
IMAGEGEN_REPORTS_TO_SUSPEND = _setting(
    "IMAGEGEN_REPORTS_TO_SUSPEND", _whole_number(1, 1000), 3, "a whole number (1–1000)"
)
# Reports one voice may send per hour, whatever the images.
IMAGEGEN_REPORTS_PER_HOUR = _setting(
    "IMAGEGEN_REPORTS_PER_HOUR", _whole_number(1, 1000), 10, "a whole number (1–1000)"
)

# --- Prompt translation (imagegen/translation.py) ------------------------------------------
# The image models read English only: prompts with Korean in them are translated before a
# provider is asked. off; hf_inference (the hf-inference provider through HF_ROUTER_URL, with
# HUGGINGFACE_API_TOKEN); local (MarianMT in the worker: pip install -r requirements-local.txt);
# auto (the default): hf_inference when a token is set, else off with a warning in /health and
# `check --deploy`, like IMAGEGEN_SAFETY_CHECK.
PROMPT_TRANSLATION = _setting(
    "PROMPT_TRANSLATION",
    _one_of("off", "hf_inference", "local", "auto"),
    "auto",
    "off, hf_inference, local or auto",
)
# A Hub model id (both modes) or, for local, a folder saved with save_pretrained().
HF_TRANSLATION_MODEL = (
    env.str("HF_TRANSLATION_MODEL", default="").strip() or "Helsinki-NLP/opus-mt-ko-en"
)
# Seconds one translation may take before the words go out untranslated.
HF_TRANSLATION_TIMEOUT = _setting(
    "HF_TRANSLATION_TIMEOUT", _number(1), 20.0, "a number of seconds (1 or more)"
)


# --- Trip lookbook (imagegen/trips/) ---------------------------------------------------------
def _http_url(raw):
    """An http(s) URL with a host, without a query (the client adds its own parameters)."""
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", raw):
        raise ValueError(raw)
    return raw.rstrip("/")


def _hub_model(raw):
    """owner/name, optionally with the router's :provider or :fastest suffix."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+(:[\w.-]+)?", raw):
        raise ValueError(raw)
    return raw


# Where a trip's weather comes from: open_meteo (Open-Meteo's geocoding, forecast and historical
# APIs, each asked within a few seconds; past that, or offline, the page asks for the expected
# temperatures instead), or off (always ask).
TRIP_WEATHER = _setting(
    "TRIP_WEATHER", _one_of("open_meteo", "off"), "open_meteo", "open_meteo or off"
)
# Open-Meteo's commercial plan: its key, sent as `apikey` to its customer-… hosts (the endpoints'
# defaults move there when a key is set). Empty: the free hosts, for non-commercial use only.
OPEN_METEO_API_KEY = env.str("OPEN_METEO_API_KEY", default="").strip()
_OPEN_METEO_HOST = "https://customer-{}" if OPEN_METEO_API_KEY else "https://{}"
OPEN_METEO_GEOCODING_URL = _setting(
    "OPEN_METEO_GEOCODING_URL",
    _http_url,
    _OPEN_METEO_HOST.format("geocoding-api.open-meteo.com/v1/search"),
    "an http(s) URL like https://geocoding-api.open-meteo.com/v1/search",
)
OPEN_METEO_FORECAST_URL = _setting(
    "OPEN_METEO_FORECAST_URL",
    _http_url,
    _OPEN_METEO_HOST.format("api.open-meteo.com/v1/forecast"),
    "an http(s) URL like https://api.open-meteo.com/v1/forecast",
)
OPEN_METEO_ARCHIVE_URL = _setting(
    "OPEN_METEO_ARCHIVE_URL",
    _http_url,
    _OPEN_METEO_HOST.format("archive-api.open-meteo.com/v1/archive"),
    "an http(s) URL like https://archive-api.open-meteo.com/v1/archive",
)
# Who chooses each day's outfit: rules (the Korean temperature bands, in this process), or
# hf_inference (a chat model through HF_ROUTER_URL with HUGGINGFACE_API_TOKEN, held to the same
# garments; the rules decide whenever it fails or answers outside them).
TRIP_PLANNER = _setting(
    "TRIP_PLANNER", _one_of("rules", "hf_inference"), "rules", "rules or hf_inference"
)
TRIP_PLANNER_MODEL = _setting(
    "TRIP_PLANNER_MODEL",
    _hub_model,
    "Qwen/Qwen2.5-7B-Instruct",
    "a Hub model id like Qwen/Qwen2.5-7B-Instruct (optionally :provider)",
)
# The longest trip one lookbook may plan, in days (one picture a day).
TRIP_MAX_DAYS = _setting("TRIP_MAX_DAYS", _whole_number(1, 31), 14, "a whole number of days (1–31)")


# --- The JSON API: webhooks, rate limit --------------------------------------------------------
# The site's public address, like https://travelfit.example.com: webhook bodies link to the
# generation and its image with it (a worker has no request to take the host from). Empty:
# the links are paths.
SITE_URL = env.str("SITE_URL", default="").strip().rstrip("/")
# Callback URLs may name private, loopback and link-local addresses (and plain http), for a
# receiver on the same network. Off, only https URLs of public addresses are called: anything
# else would let a user make the server call inside its own network.
WEBHOOK_ALLOW_PRIVATE_URLS = _setting(
    "WEBHOOK_ALLOW_PRIVATE_URLS", _boolean, False, "true or false"
)
# Requests per minute one API key may make; more get 429 with Retry-After. 0: no limit.
API_RATE_LIMIT = _setting("API_RATE_LIMIT", _whole_number(0), 120, "a whole number (0: no limit)")


# --- Costs and budget (prices default to the original guide's figures) ------------------------
def _dollars(raw):
    value = Decimal(raw)
    if not value.is_finite() or value < 0:
        raise ValueError(raw)
    return value


IMAGEGEN_INFERENCE_USD_PER_IMAGE = _setting(
    "IMAGEGEN_INFERENCE_USD_PER_IMAGE", _dollars, Decimal("0.035"), "a price in dollars"
)
IMAGEGEN_SPACE_USD_PER_HOUR = _setting(
    "IMAGEGEN_SPACE_USD_PER_HOUR", _dollars, Decimal("0.20"), "a price in dollars"
)
IMAGEGEN_SPACE_A10G_USD_PER_HOUR = _setting(
    "IMAGEGEN_SPACE_A10G_USD_PER_HOUR", _dollars, Decimal("0.60"), "a price in dollars"
)
IMAGEGEN_ENDPOINT_USD_PER_HOUR = _setting(
    "IMAGEGEN_ENDPOINT_USD_PER_HOUR", _dollars, Decimal("0.50"), "a price in dollars"
)
IMAGEGEN_PRO_USD_PER_MONTH = _setting(
    "IMAGEGEN_PRO_USD_PER_MONTH", _dollars, Decimal("9"), "a price in dollars"
)
IMAGEGEN_PRO_INCLUDED_MINUTES = _setting(
    "IMAGEGEN_PRO_INCLUDED_MINUTES", _whole_number(0), 25, "a whole number of minutes"
)
IMAGEGEN_SECONDS_PER_IMAGE = _setting(
    "IMAGEGEN_SECONDS_PER_IMAGE", _number(0.1), 10.0, "a number of seconds"
)
IMAGEGEN_MONTHLY_BUDGET_USD = _setting(
    "IMAGEGEN_MONTHLY_BUDGET_USD", _dollars, None, "a price in dollars"
)
IMAGEGEN_BUDGET_WARN_AT = _setting(
    "IMAGEGEN_BUDGET_WARN_AT", _number(0), 0.8, "a fraction such as 0.8"
)
IMAGEGEN_BUDGET_ACTION = _setting(
    "IMAGEGEN_BUDGET_ACTION", _one_of("fallback", "refuse"), "fallback", "fallback or refuse"
)

# --- Marks on every image: content credentials, watermark, label (imagegen/marks/) ------------
# The operator's C2PA signing certificate chain and its private key (PEM files). Empty: a local
# CA and certificate are made under DATA_DIR/c2pa/ on first use; verifiers call that signer
# untrusted, and `check --deploy` warns until these are set.
C2PA_SIGNING_CERT = env.str("C2PA_SIGNING_CERT", default="").strip()
C2PA_SIGNING_KEY = env.str("C2PA_SIGNING_KEY", default="").strip()
if bool(C2PA_SIGNING_CERT) != bool(C2PA_SIGNING_KEY):
    raise ImproperlyConfigured(
        "Set both C2PA_SIGNING_CERT and C2PA_SIGNING_KEY (PEM files), or neither (a local, "
        "untrusted certificate is then made under DATA_DIR/c2pa/)."
    )
# The longer side of the thumbnail inside each manifest, in pixels; 0: no thumbnail.
C2PA_THUMBNAIL_SIZE = _setting(
    "C2PA_THUMBNAIL_SIZE", _whole_number(0, 1024), 256, "a size in pixels (0–1024)"
)
# Where the visible "AI-generated" label goes: files (default: burnt into every downloaded and
# shared file, and next to every image on the pages) or pages (on the pages only; files keep
# their manifest and watermark). The owner's "original" download never has the burnt label.
IMAGEGEN_VISIBLE_LABEL = _setting(
    "IMAGEGEN_VISIBLE_LABEL", _one_of("files", "pages"), "files", "files or pages"
)
# True when the site is run commercially: /health and `check --deploy` warn for every model
# whose licence (its Hub card) forbids commercial use.
IMAGEGEN_COMMERCIAL_USE = _setting("IMAGEGEN_COMMERCIAL_USE", _boolean, False, "true or false")
# Images one address may check at /verify and POST /api/v1/verify per hour.
IMAGEGEN_VERIFY_PER_HOUR = _setting(
    "IMAGEGEN_VERIFY_PER_HOUR", _whole_number(1, 10000), 60, "a whole number (1–10000)"
)

# text: "time LEVEL logger [request id]: message"; json: one object a line (time, level, logger,
# message, request_id), for Loki or any collector. Both are redacted.
LOG_FORMAT = _setting("LOG_FORMAT", _one_of("text", "json"), "text", "text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line, traceback included, passes the same redaction as provider messages.
    "formatters": {
        "text": {
            "()": "lib.redaction.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
        },
        "json": {"()": "lib.redaction.JsonFormatter"},
    },
    # The id of the request (or of the request a task serves) on every record.
    "filters": {"request_id": {"()": "lib.request_id.RequestIdFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "imagegen": {"level": env.str("LOG_LEVEL", default="INFO"), "propagate": True},
    },
}

# Python's warnings (a library's deprecation, whitenoise's missing static folder) are log lines
# too, in the same format, rather than text of their own on stderr.
logging.captureWarnings(True)

if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.utils import BadDsn

    from lib.redaction import scrub_event

    try:
        # No user data, no request bodies (prompts), no local variables; every string redacted.
        sentry_sdk.init(
            dsn=SENTRY_DSN,
            environment=SENTRY_ENVIRONMENT,
            send_default_pii=False,
            include_local_variables=False,
            max_request_body_size="never",
            before_send=scrub_event,
            before_send_transaction=scrub_event,
            traces_sample_rate=0,
        )
    except BadDsn as exc:
        raise ImproperlyConfigured(
            "SENTRY_DSN must be a DSN like https://key@sentry.example.com/1 "
            "(the project's Client Keys page shows it)."
        ) from exc
