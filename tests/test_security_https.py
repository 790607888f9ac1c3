"""HTTPS is the default with DEBUG off: redirect, HSTS, secure cookies, the proxy's header."""

import os
import re
import subprocess
import sys

import pytest
from django.urls import reverse

from imagegen import services
from tests.conftest import ROOT


def bare_environment(**variables):
    """Only what a shell has, plus the given variables: no test setting leaks in."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["TRAVELFIT_ENV_FILE"] = os.devnull  # a developer's .env must not help the check pass
    env.update(variables)
    return env


def deploy_check(**variables):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=bare_environment(
            DEBUG="0",
            SECRET_KEY="0Jq4-plY_r8cQkVvP2Tn9xW6sHfL3bZmA7uE5dRg1KoNiMtCyB",
            ALLOWED_HOSTS="travelfit.example.com",
            **variables,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deploy_check_asks_only_about_safety_translation_and_the_signer(tmp_path):
    """With DEBUG, SECRET_KEY and ALLOWED_HOSTS set, what is left to decide is whether anything
    looks at the images of a site anyone can sign up to, whether Korean prompts are
    translated (a token answers both, `off` says either is on purpose), and whose certificate
    signs the content credentials (C2PA_SIGNING_CERT and C2PA_SIGNING_KEY)."""
    from imagegen.marks import signing_key

    bare = deploy_check()
    assert bare.returncode != 0
    found = set(re.findall(r"\((\w+\.[EW]\d+)\)", bare.stdout + bare.stderr))
    assert found == {"imagegen.W001", "imagegen.W002", "imagegen.W030"}, bare.stdout + bare.stderr
    folder = tmp_path / "operator-c2pa"
    signing_key.ensure_local_certificate(folder)
    signer = {
        "C2PA_SIGNING_CERT": str(folder / signing_key.CHAIN_FILE),
        "C2PA_SIGNING_KEY": str(folder / signing_key.KEY_FILE),
    }
    for decided in (
        {"HUGGINGFACE_API_TOKEN": "hf_DeployTokenAbcdefghijklmnop123456"},
        {"IMAGEGEN_SAFETY_CHECK": "off", "PROMPT_TRANSLATION": "off"},
        {"SIGNUP_LIMIT": "0", "PROMPT_TRANSLATION": "off"},
    ):
        done = deploy_check(**decided, **signer)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "no issues" in done.stdout


def test_plain_http_on_purpose_is_what_the_deploy_check_warns_about():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=bare_environment(
            DEBUG="0",
            SECRET_KEY="0Jq4-plY_r8cQkVvP2Tn9xW6sHfL3bZmA7uE5dRg1KoNiMtCyB",
            ALLOWED_HOSTS="travelfit.example.com",
            SECURE_SSL_REDIRECT="false",
            SECURE_COOKIES="false",
            SECURE_HSTS_SECONDS="0",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr + done.stdout


@pytest.fixture
def https_defaults(settings):
    """The settings DEBUG=false gives (the test suite itself runs with them off)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    return settings


def test_http_is_redirected_to_https(client, db, https_defaults):
    response = client.get("/accounts/login/?next=/gallery/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/?next=/gallery/"


def test_health_answers_plain_http_for_a_load_balancer_inside_the_network(
    client, db, https_defaults
):
    assert client.get("/health").status_code == 200
    assert client.get("/health/").status_code == 301  # only /health itself
    assert client.get("/healthz").status_code == 301


def test_https_answers_carry_hsts_and_secure_cookies(client, db, https_defaults):
    response = client.get("/accounts/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response.cookies["csrftoken"]["secure"]


def test_behind_a_tls_proxy_the_api_links_say_https(api, user, https_defaults):
    https_defaults.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    https_defaults.ALLOWED_HOSTS = ["travelfit.example.com"]
    generation = services.submit_generation(user=user, prompt="Jeju", width=512, height=512)
    response = api.get(
        reverse("api:generation", args=[generation.pk]),
        HTTP_HOST="travelfit.example.com",  # as nginx passes it on
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert response.status_code == 200
    assert response.json()["detail_url"].startswith("https://travelfit.example.com/g/")


def test_without_the_proxy_setting_the_header_is_not_believed(client, db, https_defaults):
    response = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301  # a client cannot claim https for itself


def test_the_proxy_header_setting_is_read_from_the_environment(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)",
        ],
        cwd=ROOT,
        env=bare_environment(
            SECRET_KEY="k" * 50, DATA_DIR=str(tmp_path), TRUSTED_PROXY_HEADER="X-Forwarded-Proto"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')"
