"""Settings come from the environment; a bad value stops start-up with a message naming it."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def start(env_changes, command=("check",)):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update({"DJANGO_SETTINGS_MODULE": "travelfit.settings", "SECRET_KEY": "k" * 50})
    env.update(env_changes)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_pass_the_checks(tmp_path):
    result = start({"DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SECRET_KEY", None, "SECRET_KEY is required when DEBUG is off"),
        ("DEBUG", "maybe", "DEBUG must be true or false; got 'maybe'"),
        ("PORT", "80000", "PORT must be a port number (1–65535); got '80000'"),
        ("IMAGEGEN_DAILY_QUOTA", "-1", "IMAGEGEN_DAILY_QUOTA must be a whole number (0 or more)"),
        ("Q_BROKER", "rabbit", "Q_BROKER must be orm or redis; got 'rabbit'"),
        ("DATABASE_URL", "nosuchdb://x", "DATABASE_URL must look like"),
        ("IMAGEGEN_PROVIDERS", "demo,dalle", "unknown provider 'dalle'"),
        ("SENTRY_DSN", "not-a-dsn", "SENTRY_DSN must be a DSN like"),
        ("EMAIL_URL", "pigeon://roof", "EMAIL_URL must look like smtp+tls://"),
        ("TRUSTED_PROXY_HEADER", "X Forwarded", "TRUSTED_PROXY_HEADER must be a header name"),
        ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT must be a whole number of attempts"),
        (
            "IMAGEGEN_UPLOAD_MAX_BYTES",
            "15MB",
            "IMAGEGEN_UPLOAD_MAX_BYTES must be a number of bytes",
        ),
        ("IMAGEGEN_UPLOAD_MAX_PIXELS", "12", "IMAGEGEN_UPLOAD_MAX_PIXELS must be a number of"),
        ("IMAGEGEN_UPLOAD_RETENTION_DAYS", "0", "IMAGEGEN_UPLOAD_RETENTION_DAYS must be a whole"),
        ("IMAGEGEN_UPLOADS_PER_DAY", "many", "IMAGEGEN_UPLOADS_PER_DAY must be a whole number"),
        ("LOCAL_EDIT_STRENGTH", "1.5", "LOCAL_EDIT_STRENGTH must be a fraction above 0"),
        ("IMAGEGEN_TIERS", "fast:demo", "'fast:demo' has no '=' between the name"),
        ("IMAGEGEN_TIERS", "fast=demo:0", "the tier 'fast' must cost a whole number of units"),
        ("IMAGEGEN_TIERS", "fast=demo;fast=demo:2", "the name 'fast' is used twice"),
        ("IMAGEGEN_TIERS", "Fast Lane=demo", "the name 'Fast Lane' must be 1–32 lowercase"),
        ("IMAGEGEN_TIERS", "fast=:2", "the tier 'fast' names no provider"),
        ("IMAGEGEN_TIERS", "fast=demo;best=dalle:3", "IMAGEGEN_TIERS names an unknown provider"),
        ("IMAGEGEN_DEFAULT_TIER", "gold", "IMAGEGEN_DEFAULT_TIER names no tier: 'gold'"),
    ],
)
def test_a_bad_value_is_named_in_the_error(tmp_path, name, value, message):
    result = start({"DATA_DIR": str(tmp_path), name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_token_may_come_from_hf_token(tmp_path):
    result = start(
        {"DATA_DIR": str(tmp_path), "HUGGINGFACE_API_TOKEN": None, "HF_TOKEN": "hf_fromhftoken"},
        command=(
            "shell",
            "-c",
            "from django.conf import settings; print(settings.HUGGINGFACE_API_TOKEN)",
        ),
    )
    assert result.stdout.strip().endswith("hf_fromhftoken")


def test_every_setting_read_is_documented_in_env_example():
    settings_source = (ROOT / "travelfit" / "settings.py").read_text()
    read = set(re.findall(r'_setting\(\s*"([A-Z_]+)"', settings_source))
    read |= set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_source))
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()


def test_tiers_replace_the_provider_list_and_choose_the_default(tmp_path):
    result = start(
        {
            "DATA_DIR": str(tmp_path),
            "IMAGEGEN_PROVIDERS": "hf_inference",
            "IMAGEGEN_TIERS": " fast = demo : 1 ; best=demo:3 ",
            "IMAGEGEN_DEFAULT_TIER": "best",
        },
        command=(
            "shell",
            "-c",
            "from django.conf import settings as s; "
            "print(s.IMAGEGEN_TIERS, s.IMAGEGEN_PROVIDERS, s.IMAGEGEN_DEFAULT_TIER)",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "[('fast', ['demo'], 1), ('best', ['demo'], 3)] ['demo'] best"
    )


@pytest.mark.parametrize(
    ("language", "zone", "expected"),
    [
        ("ko", None, "Asia/Seoul"),
        ("en", None, "UTC"),
        ("ko", "Europe/Lisbon", "Europe/Lisbon"),
        ("en", "Asia/Seoul", "Asia/Seoul"),
    ],
)
def test_a_korean_sites_day_ends_at_midnight_in_korea(tmp_path, language, zone, expected):
    result = start(
        {"DATA_DIR": str(tmp_path), "LANGUAGE_CODE": language, "TIME_ZONE": zone},
        command=("shell", "-c", "from django.conf import settings; print(settings.TIME_ZONE)"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
