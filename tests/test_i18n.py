"""Korean and English: the catalogues are complete and compiled, and a page's language follows
the cookie, then Accept-Language, then LANGUAGE_CODE (the user's own preference is tested with
the profile, in test_accounts_profile.py)."""

import ast
import os
import re
import shutil
import subprocess
import sys

import polib
import pytest
from django.urls import reverse

from tests.conftest import ROOT

LOCALE = ROOT / "locale" / "ko" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
HANGUL_TEXT = re.compile(r"[\uac00-\ud7a3]")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]|\{\w*\}")


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_korean_string_is_translated_and_none_is_fuzzy(domain):
    catalogue = polib.pofile(str(LOCALE / f"{domain}.po"))
    assert len(catalogue) > 0
    assert [entry.msgid for entry in catalogue.untranslated_entries()] == []
    assert [entry.msgid for entry in catalogue.fuzzy_entries()] == []
    for entry in catalogue.translated_entries():
        # A translation that drops or renames a placeholder breaks the page it is on.
        forms = [entry.msgstr] if not entry.msgid_plural else list(entry.msgstr_plural.values())
        for text in forms:
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(entry.msgid)), (
                entry.msgid
            )


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_committed_compiled_catalogue_matches_its_source(domain):
    # Keyed by context too: one msgid can be two entries (pgettext), each with its own text.
    source = {
        (entry.msgctxt, entry.msgid): entry.msgstr or entry.msgstr_plural
        for entry in polib.pofile(str(LOCALE / f"{domain}.po"))
    }
    compiled = {
        (entry.msgctxt, entry.msgid): entry.msgstr or entry.msgstr_plural
        for entry in polib.mofile(str(LOCALE / f"{domain}.mo"))
        if entry.msgid
    }
    assert compiled == source, "run `make messages` to compile the catalogue"


# The names makemessages tells xgettext to look for (its own keywords and Django's). A string
# marked through any other name (`gettext_lazy as _lazy`) never reaches the catalogue.
XGETTEXT_KEYWORDS = {
    "_",
    "gettext",
    "gettext_lazy",
    "gettext_noop",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
    "npgettext",
    "npgettext_lazy",
}
CODE = ("accounts", "imagegen", "lib", "travelfit")


def test_translation_functions_are_imported_under_names_makemessages_finds():
    """Runs without gettext: the mistake that left the sign-up form in English."""
    unseen = []
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                    for alias in node.names:
                        name = alias.asname or alias.name
                        if "gettext" in alias.name and name not in XGETTEXT_KEYWORDS:
                            unseen.append(f"{path.relative_to(ROOT)}: {alias.name} as {name}")
    assert unseen == []


def test_every_marked_string_is_in_the_catalogue(tmp_path):
    """makemessages, run on a copy of the code, finds nothing the committed catalogue lacks.

    It needs GNU gettext: CI installs it (.ci/run) and sets TRAVELFIT_REQUIRE_GETTEXT, so there
    a missing xgettext fails instead of skipping.
    """
    if not shutil.which("xgettext"):
        if os.environ.get("TRAVELFIT_REQUIRE_GETTEXT"):
            pytest.fail("GNU gettext is missing: apt-get install -y gettext")
        pytest.skip("GNU gettext is not installed (apt-get install -y gettext)")
    for name in (*CODE, "templates", "static", "locale"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path)
    for domain in DOMAINS:
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "--settings=tests.settings", "-l", "ko"]
            + ["-d", domain, "--no-obsolete"],
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )
        fresh = polib.pofile(str(tmp_path / "locale" / "ko" / "LC_MESSAGES" / f"{domain}.po"))
        committed = {e.msgid for e in polib.pofile(str(LOCALE / f"{domain}.po"))}
        missing = sorted(entry.msgid for entry in fresh if entry.msgid not in committed)
        assert missing == [], f"new strings: run `make messages` and translate them ({domain})"


def test_accept_language_chooses_korean_and_the_cookie_overrides_it(client, settings):
    url = reverse("login")
    korean = client.get(url, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.5")
    assert '<html lang="ko">' in korean.content.decode()
    assert "로그인" in korean.content.decode()

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    assert '<html lang="en">' in english.content.decode()
    assert "로그인" not in english.content.decode()


def test_with_no_preference_at_all_the_site_default_applies(client, settings):
    settings.LANGUAGE_CODE = "ko"
    page = client.get(reverse("login")).content.decode()
    assert '<html lang="ko">' in page


def test_the_switcher_sets_the_language_cookie_and_returns_to_the_page(client, settings):
    response = client.post(reverse("set_language"), {"language": "ko", "next": "/gallery/?q=jeju"})
    assert response.status_code == 302
    assert response["Location"] == "/gallery/?q=jeju"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    page = client.get(reverse("login")).content.decode()
    assert '<html lang="ko">' in page
    # The switcher names each language in that language, on every page.
    assert 'lang="en"' in page and "English" in page and "한국어" in page


def unescape(javascript):
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match[1], 16)), javascript)


def test_the_javascript_catalogue_carries_the_korean_status_texts(client):
    catalogue = client.get(reverse("javascript-catalog"), HTTP_ACCEPT_LANGUAGE="ko").content
    english = client.get(reverse("javascript-catalog"), HTTP_ACCEPT_LANGUAGE="en").content
    # Django writes the texts as JSON with \\uXXXX escapes: decode them before looking.
    text = unescape(catalogue.decode())
    assert "gettext" in text
    assert re.search(r"[\uac00-\ud7a3]", text), "no Korean text in the JavaScript catalogue"
    assert not re.search(r"[\uac00-\ud7a3]", unescape(english.decode()))


def test_dates_are_formatted_for_the_language(user_client, user):
    from django.utils import timezone

    from imagegen.models import Generation

    generation = Generation.objects.create(owner=user, prompt="제주 일출", width=512, height=512)
    year = timezone.localtime(generation.created_at).year
    korean = user_client.get(reverse("imagegen:gallery"), HTTP_ACCEPT_LANGUAGE="ko").content
    assert "방금" in korean.decode()  # not "0 minutes ago", and in Korean
    detail = reverse("imagegen:detail", args=[generation.pk])
    korean = user_client.get(detail, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    english = user_client.get(detail, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # The locale's own date format: "2026년 11월 26일 …" in Korean, "Nov. 26, 2026, …" in English.
    assert f"{year}년 " in korean and f"{year}년 " not in english
    assert f", {year}," in english


def test_stored_failure_messages_are_shown_in_the_readers_language():
    from django.utils import translation

    from imagegen.providers.base import Unavailable
    from imagegen.user_messages import localize, refused_request

    busy = Unavailable("503 from the router").user_message  # stored in English
    quoted = refused_request("width must be a multiple of 64")
    with translation.override("ko"):
        assert HANGUL_TEXT.search(localize(busy))
        korean = localize(quoted)
        assert HANGUL_TEXT.search(korean) and "width must be a multiple of 64" in korean
    with translation.override("en"):
        assert localize(busy) == busy and localize(quoted) == quoted
    assert localize("Something no catalogue has") == "Something no catalogue has"
