"""manage.py create_api_key USERNAME NAME: a key and its webhook secret, printed once."""

import io

import pytest
from django.core.management import CommandError, call_command

from imagegen import services
from imagegen.models import ApiToken


def run(*args):
    out = io.StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def printed(output, label):
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return line.split(":", 1)[1].strip()


def test_prints_a_working_key_and_its_webhook_secret(user):
    output = run("alice", "nightly export")
    key = printed(output, "key:")
    secret = printed(output, "webhook secret:")
    token = ApiToken.objects.get()
    assert services.user_for_api_key(key) == user
    assert token.name == "nightly export"
    assert secret == token.webhook_secret and secret.startswith("whsec_")
    assert key not in str(ApiToken.objects.values_list().get())  # only its hash is kept
    assert "only this once" in output


def test_a_default_callback_url_is_kept(user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    output = run("alice", "hooks", "--callback-url", "https://93.184.215.14/travelfit")
    assert ApiToken.objects.get().default_callback_url == "https://93.184.215.14/travelfit"
    assert "https://93.184.215.14/travelfit" in output


def test_a_private_callback_url_is_refused_and_no_key_is_made(user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(CommandError, match="public internet"):
        run("alice", "hooks", "--callback-url", "https://127.0.0.1/hook")
    assert not ApiToken.objects.exists()


def test_an_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("nobody", "laptop")
    assert not ApiToken.objects.exists()


def test_an_inactive_user_gets_no_key(make_user):
    make_user("carol", is_active=False)
    with pytest.raises(CommandError, match="not active"):
        run("carol", "laptop")


def test_a_blank_name_is_refused(user):
    with pytest.raises(CommandError, match="name"):
        run("alice", "   ")
