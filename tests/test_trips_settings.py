"""The trip lookbook's settings: each bad value named at start-up, and the commercial key
moving Open-Meteo's endpoints to its customer hosts."""

import pytest

from tests.test_settings import start


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRIP_WEATHER", "yes", "TRIP_WEATHER must be open_meteo or off; got 'yes'"),
        ("TRIP_PLANNER", "gpt", "TRIP_PLANNER must be rules or hf_inference; got 'gpt'"),
        ("TRIP_PLANNER_MODEL", "just a name", "TRIP_PLANNER_MODEL must be a Hub model id"),
        ("TRIP_MAX_DAYS", "0", "TRIP_MAX_DAYS must be a whole number of days (1–31); got '0'"),
        ("TRIP_MAX_DAYS", "60", "TRIP_MAX_DAYS must be a whole number of days (1–31)"),
        (
            "OPEN_METEO_FORECAST_URL",
            "api.open-meteo.com/v1/forecast",
            "OPEN_METEO_FORECAST_URL must be an http(s) URL like https://api.open-meteo.com",
        ),
        (
            "OPEN_METEO_ARCHIVE_URL",
            "https://archive-api.open-meteo.com/v1/archive?apikey=x",
            "OPEN_METEO_ARCHIVE_URL must be an http(s) URL",
        ),
    ],
)
def test_a_bad_trip_setting_is_named_in_the_error(tmp_path, name, value, message):
    result = start({"DATA_DIR": str(tmp_path), name: value})

    assert result.returncode != 0
    assert message in result.stderr


def read(tmp_path, env, names):
    values = ", ".join(f"settings.{name}" for name in names)
    code = f"from django.conf import settings; print('READ', {values})"
    environment = {"DATA_DIR": str(tmp_path), **env}
    for name in ("OPEN_METEO_GEOCODING_URL", "OPEN_METEO_FORECAST_URL", "OPEN_METEO_ARCHIVE_URL"):
        environment.setdefault(name, None)  # the test settings' stand-in addresses: not here
    result = start(environment, command=("shell", "-c", code))
    assert result.returncode == 0, result.stderr
    # The shell says how many objects it imported first; the values are the last line.
    return result.stdout.split("READ")[-1].split()


def test_the_defaults_are_open_meteos_free_endpoints_the_rules_and_14_days(tmp_path):
    names = [
        "TRIP_WEATHER",
        "OPEN_METEO_GEOCODING_URL",
        "OPEN_METEO_FORECAST_URL",
        "OPEN_METEO_ARCHIVE_URL",
        "TRIP_PLANNER",
        "TRIP_MAX_DAYS",
    ]

    assert read(tmp_path, {}, names) == [
        "open_meteo",
        "https://geocoding-api.open-meteo.com/v1/search",
        "https://api.open-meteo.com/v1/forecast",
        "https://archive-api.open-meteo.com/v1/archive",
        "rules",
        "14",
    ]


def test_a_commercial_key_moves_the_endpoints_to_the_customer_hosts(tmp_path):
    names = ["OPEN_METEO_GEOCODING_URL", "OPEN_METEO_FORECAST_URL", "OPEN_METEO_ARCHIVE_URL"]

    assert read(tmp_path, {"OPEN_METEO_API_KEY": "om-key"}, names) == [
        "https://customer-geocoding-api.open-meteo.com/v1/search",
        "https://customer-api.open-meteo.com/v1/forecast",
        "https://customer-archive-api.open-meteo.com/v1/archive",
    ]
    proxy = {"OPEN_METEO_API_KEY": "om-key", "OPEN_METEO_FORECAST_URL": "http://proxy:8080/f/"}
    assert read(tmp_path, proxy, names)[1] == "http://proxy:8080/f"
