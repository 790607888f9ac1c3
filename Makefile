# The project's verbs. `make run` serves the site with a worker; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint fmt bench clean

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
	$(PY) manage.py serve

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: $(VENV)/.dev-installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint
	$(PY) manage.py makemigrations --check --dry-run --settings=tests.settings
	$(PY) -m pytest

bench: $(VENV)/.dev-installed
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
