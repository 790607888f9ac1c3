"""Settings for the test suite: the real settings, with test-only values set first.

DATABASE_URL and Q_BROKER still come from the environment, so CI runs the same suite on
SQLite + the ORM broker and on PostgreSQL + Redis.
"""

import os
import tempfile

# Tests read only the environment (CI gives DATABASE_URL and Q_BROKER), never a developer's .env.
os.environ.setdefault("TRAVELFIT_ENV_FILE", os.devnull)
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
os.environ["IMAGEGEN_PROVIDERS"] = os.environ.get("TEST_IMAGEGEN_PROVIDERS", "demo")
os.environ.setdefault("IMAGEGEN_DEMO_DELAY", "0")
# The image safety check is tested on its own (test_safety_*.py); elsewhere it is off, as the
# site's default is without a token, but chosen, so that /health has nothing to warn about.
os.environ.setdefault("IMAGEGEN_SAFETY_CHECK", "off")
# Prompt translation likewise: tested in test_translation.py, chosen off elsewhere.
os.environ.setdefault("PROMPT_TRANSLATION", "off")
# Never the real try-on Space (its default, yisol/IDM-VTON, is on huggingface.co): a test that
# wants one points this at the fake (conftest's gradio_tryon_server).
os.environ.setdefault("GRADIO_TRYON_SPACE", "http://127.0.0.1:9/")
# Never the real Open-Meteo either: a test that wants weather points these at the stand-in
# (tests/fakes/open_meteo.py); elsewhere nothing listens on port 9, so weather is unavailable.
os.environ.setdefault("OPEN_METEO_GEOCODING_URL", "http://127.0.0.1:9/v1/search")
os.environ.setdefault("OPEN_METEO_FORECAST_URL", "http://127.0.0.1:9/v1/forecast")
os.environ.setdefault("OPEN_METEO_ARCHIVE_URL", "http://127.0.0.1:9/v1/archive")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="travelfit-test-"))
# The test client, the served site and Chromium talk plain http on 127.0.0.1; the HTTPS
# defaults themselves are tested in test_settings.py and test_security_https.py.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
# A request with no Accept-Language (the test client's) gets English; tests of the Korean
# pages ask for Korean the way a browser does.
os.environ.setdefault("LANGUAGE_CODE", "en")

from travelfit.settings import *  # noqa: E402,F403
from travelfit.settings import DATABASES, Q_CLUSTER  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not memory, so that threads and worker processes share the test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["DATA_DIR"], "test.sqlite3")}

# A worker process started by a test connects to the test database, not the real one.
if os.environ.get("TRAVELFIT_TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["TRAVELFIT_TEST_DATABASE_NAME"]

# Each run gets its own queue, so runs on one Redis never take each other's tasks.
Q_CLUSTER = {
    **Q_CLUSTER,
    "name": os.environ.setdefault("TRAVELFIT_TEST_QUEUE", f"test-{os.getpid()}"),
}

# Retries happen at once in tests, whatever wait a provider asks for; the waits themselves
# are asserted on the errors that carry them.
IMAGEGEN_RETRY_BACKOFF = 0.0
IMAGEGEN_RETRY_MAX_WAIT = 0.0
