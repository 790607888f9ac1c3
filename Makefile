# The project's verbs. `make run` serves the site with a worker; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast lint fmt bench clean messages

$(VENV)/.app-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The tests run every provider, local_diffusers included, so they need its packages too.
$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.txt requirements-local.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt -r requirements-local.txt
	touch $@

# First run only: a .env from .env.example with a fresh SECRET_KEY. Edit it to configure.
.env:
	sed "s|^SECRET_KEY=.*|SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')|" .env.example > .env
	@printf '$(PLAIN_HTTP)' >> .env
	@echo "Wrote .env with a new SECRET_KEY; see .env.example for every setting."

# `make run` serves plain http on this machine, so its .env turns the HTTPS defaults off. A
# .env that never mentions them (one written by an older TravelFit) gets these lines once.
PLAIN_HTTP = \n\# Plain http for `make run` on this machine. Behind HTTPS, delete these three lines.\nSECURE_SSL_REDIRECT=false\nSECURE_COOKIES=false\nSECURE_HSTS_SECONDS=0\n

run: $(VENV)/.app-installed .env
	@grep -q 'SECURE_SSL_REDIRECT' .env || { printf '$(PLAIN_HTTP)' >> .env; echo "Added plain-http settings to .env for make run."; }
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@# prometheus_client's multiprocess files: the site and its worker count into one place,
	@# emptied at each start (README: Metrics).
	rm -rf var/prometheus && mkdir -p var/prometheus
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus $(PY) manage.py serve

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: $(VENV)/.dev-installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# After changing a marked string: refresh the Korean catalogues (needs GNU gettext), translate
# what is new in locale/ko/LC_MESSAGES/*.po, then compile. The compiled .mo files are committed,
# so `make run` needs no gettext. tests/test_i18n.py fails while anything is left untranslated.
MESSAGES_IGNORE = --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore=test-output
messages: $(VENV)/.dev-installed
	$(PY) manage.py makemessages --settings=tests.settings -l ko --no-obsolete --add-location=file $(MESSAGES_IGNORE)
	$(PY) manage.py makemessages --settings=tests.settings -l ko --no-obsolete --add-location=file -d djangojs $(MESSAGES_IGNORE)
	$(PY) manage.py compilemessages --settings=tests.settings -l ko $(MESSAGES_IGNORE)

test: lint
	$(PY) manage.py makemigrations --check --dry-run --settings=tests.settings
	$(PY) -m pytest

# The edit-test loop: everything but the tests that start qcluster workers or drive Chromium.
test-fast: $(VENV)/.dev-installed
	$(PY) -m pytest -m "not worker and not browser"

# Both layouts: SQLite with the ORM broker, then PostgreSQL with Redis (BENCH_DATABASE_URL and
# BENCH_REDIS_URL name the servers; the second run is skipped when PostgreSQL is not reachable).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/15
bench: $(VENV)/.dev-installed
	env -u DATABASE_URL -u REDIS_URL Q_BROKER=orm $(PY) bench/run.py
	env -u DATABASE_URL -u REDIS_URL $(PY) bench/uploads.py
	if pg_isready -q -h 127.0.0.1 2>/dev/null; then \
	  DATABASE_URL=$(BENCH_DATABASE_URL) Q_BROKER=redis REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/run.py; \
	else echo "PostgreSQL is not reachable: the PostgreSQL + Redis benchmarks were skipped"; fi

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
