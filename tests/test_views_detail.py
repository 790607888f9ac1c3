"""Detail actions (favourite, delete, share, remix, vary), presets and shapes, file sending."""

import datetime
import html
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from imagegen import services
from imagegen.models import Generation, Preset
from imagegen.tasks import run_generation


def make_done(user, prompt="Hallstatt in the snow", **extra):
    kwargs = {"width": 256, "height": 256} | extra
    generation = services.submit_generation(user=user, prompt=prompt, **kwargs)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    return generation


def test_favourite_toggles_and_the_gallery_filters_on_it(user_client, user):
    liked, other = make_done(user, "liked"), make_done(user, "other")
    user_client.post(reverse("imagegen:favourite", args=[liked.pk]), {"on": "1"})
    liked.refresh_from_db()
    assert liked.favourite
    page = user_client.get(reverse("imagegen:gallery") + "?favourites=1")
    assert [g.pk for g in page.context["page"].object_list] == [liked.pk]
    user_client.post(reverse("imagegen:favourite", args=[liked.pk]), {"on": "0"})
    liked.refresh_from_db()
    assert not liked.favourite
    assert other.favourite is False


def test_gallery_search_and_status_filter(user_client, user):
    make_done(user, "Night market in Taipei")
    make_done(user, "제주도 해변")
    services.submit_generation(user=user, prompt="Night train", width=256, height=256)
    search = user_client.get(reverse("imagegen:gallery") + "?q=night+taipei")
    assert [g.prompt for g in search.context["page"].object_list] == ["Night market in Taipei"]
    korean = user_client.get(reverse("imagegen:gallery") + "?q=제주도")
    assert [g.prompt for g in korean.context["page"].object_list] == ["제주도 해변"]
    active = user_client.get(reverse("imagegen:gallery") + "?show=active")
    assert [g.prompt for g in active.context["page"].object_list] == ["Night train"]
    nothing = user_client.get(reverse("imagegen:gallery") + "?q=nowhere")
    assert "Nothing matches." in nothing.content.decode()


def test_delete_asks_first_then_removes_row_and_files(
    user_client, user, django_capture_on_commit_callbacks
):
    generation = make_done(user)
    files = [Path(generation.image.path), Path(generation.thumbnail.path)]
    confirm = user_client.get(reverse("imagegen:delete", args=[generation.pk]))
    assert "Delete this image?" in confirm.content.decode()
    assert Generation.objects.filter(pk=generation.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):  # files go once the delete commits
        response = user_client.post(reverse("imagegen:delete", args=[generation.pk]))
    assert response["Location"] == reverse("imagegen:gallery")
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert not any(path.exists() for path in files)


def test_deleting_a_queued_generation_refunds_it(user_client, user):
    generation = services.submit_generation(user=user, prompt="x", width=256, height=256)
    user_client.post(reverse("imagegen:delete", args=[generation.pk]))
    assert services.quota_for(user).day_used == 0


def test_a_running_generation_cannot_be_deleted(user_client, user):
    generation = services.submit_generation(user=user, prompt="x", width=256, height=256)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.RUNNING)
    user_client.post(reverse("imagegen:delete", args=[generation.pk]))
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_another_user_cannot_delete_favourite_or_share(client, user, make_user):
    generation = make_done(user)
    client.force_login(make_user("mallory"))
    for name in ("delete", "favourite", "share", "unshare"):
        assert client.post(reverse(f"imagegen:{name}", args=[generation.pk])).status_code == 404
    generation.refresh_from_db()
    assert generation.share_token is None and not generation.favourite


def test_a_share_link_shows_that_image_and_prompt_to_anyone_until_revoked(user_client, user):
    client = Client()  # nobody logged in
    seed = 918273645  # long enough not to turn up by chance in the token or a file name
    generation = make_done(user, "Sunset in Santorini", negative_prompt="crowds", seed=seed)
    make_done(user, "a private one")
    user_client.post(reverse("imagegen:share", args=[generation.pk]))
    generation.refresh_from_db()
    token = generation.share_token
    assert len(token) >= 32
    detail = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert f"/s/{token}/" in detail

    page = client.get(reverse("imagegen:shared", args=[token]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Sunset in Santorini" in body
    assert "a private one" not in body
    # The image and its prompt, nothing else (form values such as the CSRF token, random
    # letters and digits, are left out of the look).
    text = re.sub(r'value="[^"]*"', "", body)
    assert "crowds" not in text
    assert str(seed) not in text.replace(",", "").replace(".", "")
    assert page["Referrer-Policy"] == "same-origin"
    image = client.get(reverse("imagegen:shared_image", args=[token]))
    assert image["Content-Type"] == "image/png"
    assert client.get(reverse("imagegen:image", args=[generation.pk])).status_code == 302

    user_client.post(reverse("imagegen:unshare", args=[generation.pk]))
    assert client.get(reverse("imagegen:shared", args=[token])).status_code == 404
    assert client.get(reverse("imagegen:shared_image", args=[token])).status_code == 404


def test_the_owner_sees_that_reports_suspended_the_link_and_what_comes_next(
    user_client, user, admin_user
):
    generation = make_done(user, "Gamcheon village")
    token = services.share_generation(generation_id=generation.pk, user=user)
    detail = reverse("imagegen:detail", args=[generation.pk])
    assert "Anyone with this link sees the image" in user_client.get(detail).content.decode()
    Generation.objects.filter(pk=generation.pk).update(share_suspended_at=timezone.now())
    page = user_client.get(detail).content.decode()
    assert "The link is suspended." in page
    assert "Viewers reported this image" in page
    assert "If the image is fine, the link works again by itself" in page
    assert "Anyone with this link sees the image" not in page
    assert f"/s/{token}/" in page and "Stop sharing" in page
    korean = user_client.get(detail, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "링크가 일시 중지됐어요." in korean
    # Approved by a person, the link works again, and the page says so.
    assert services.approve(generation_ids=[generation.pk], by=admin_user) == 1
    assert "The link is suspended." not in user_client.get(detail).content.decode()


def test_images_are_kept_by_no_cache_not_even_the_browsers(user_client, user):
    """A deleted or unshared image, or one seen on a shared computer, must not linger."""
    generation = make_done(user)
    token = services.share_generation(generation_id=generation.pk, user=user)
    for url in (
        reverse("imagegen:image", args=[generation.pk]),
        reverse("imagegen:thumbnail", args=[generation.pk]),
        reverse("imagegen:shared_image", args=[token]),
        reverse("api:image", args=[generation.pk]),
        reverse("api:thumbnail", args=[generation.pk]),
    ):
        assert user_client.get(url)["Cache-Control"] == "private, no-store", url


def meta(page, attribute, name):
    found = re.search(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)"', page)
    return html.unescape(found[1]) if found else None


def test_a_share_link_previews_its_picture_in_chat_apps(client, user, settings):
    """KakaoTalk, Slack and the rest read Open Graph / Twitter card tags: absolute URLs."""
    generation = make_done(user, prompt="Gyeongbokgung palace in autumn & hanbok")
    token = services.share_generation(generation_id=generation.pk, user=user)
    page = client.get(reverse("imagegen:shared", args=[token])).content.decode()
    page_url = "http://testserver" + reverse("imagegen:shared", args=[token])
    image_url = "http://testserver" + reverse("imagegen:shared_image", args=[token])
    assert meta(page, "property", "og:title") == "Gyeongbokgung palace in autumn & hanbok"
    assert meta(page, "property", "og:url") == page_url
    assert meta(page, "property", "og:image") == image_url
    assert meta(page, "name", "twitter:card") == "summary_large_image"
    assert meta(page, "name", "twitter:image") == image_url
    assert meta(page, "property", "og:image:width") == str(generation.width)
    assert meta(page, "property", "og:image:type") == "image/png"
    # A crawler with no session gets the picture from that URL.
    picture = Client().get(image_url.removeprefix("http://testserver"))
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    # With SITE_URL, previews name the public address, whatever host the crawler used.
    settings.SITE_URL = "https://travelfit.example"
    page = client.get(reverse("imagegen:shared", args=[token])).content.decode()
    assert meta(page, "property", "og:image").startswith("https://travelfit.example/s/")
    # Unshared, the link previews nothing.
    services.revoke_share(generation_id=generation.pk, user=user)
    gone = client.get(reverse("imagegen:shared", args=[token])).content.decode()
    assert meta(gone, "property", "og:image") is None


def test_sharing_twice_keeps_one_link_and_unfinished_images_cannot_be_shared(user):
    generation = make_done(user)
    first = services.share_generation(generation_id=generation.pk, user=user)
    assert services.share_generation(generation_id=generation.pk, user=user) == first
    queued = services.submit_generation(user=user, prompt="x", width=256, height=256)
    assert services.share_generation(generation_id=queued.pk, user=user) is None


def test_guessing_share_tokens_finds_nothing(client, user):
    make_done(user)
    assert client.get(reverse("imagegen:shared", args=["not-a-token"])).status_code == 404


def test_remix_prefills_everything_and_vary_leaves_the_seed_empty(user_client, user):
    generation = make_done(
        user, "Kyoto alley", negative_prompt="cars", seed=123, width=1024, height=768
    )
    remix = user_client.get(reverse("imagegen:create") + f"?from={generation.pk}")
    initial = remix.context["form"].initial
    assert (initial["prompt"], initial["negative_prompt"], initial["seed"]) == (
        "Kyoto alley",
        "cars",
        123,
    )
    assert initial["aspect"] == "landscape"
    vary = user_client.get(reverse("imagegen:create") + f"?from={generation.pk}&vary=1")
    assert "seed" not in vary.context["form"].initial
    assert vary.context["form"].initial["prompt"] == "Kyoto alley"


def test_remix_of_someone_elses_generation_prefills_nothing(client, user, make_user):
    generation = make_done(user, "secret trip")
    client.force_login(make_user("mallory"))
    page = client.get(reverse("imagegen:create") + f"?from={generation.pk}")
    assert "secret trip" not in page.content.decode()


def test_a_preset_wraps_the_words_and_brings_its_negative_prompt_and_shape(
    user_client, user, presets
):
    preset = Preset.objects.get(name="Outfit lookbook")
    response = user_client.post(
        reverse("imagegen:create"),
        {"preset": preset.pk, "prompt": "Paris in autumn", "negative_prompt": "sunglasses"},
    )
    assert response.status_code == 302
    generation = Generation.objects.get(owner=user)
    assert generation.prompt == preset.template.replace("{prompt}", "Paris in autumn")
    assert generation.negative_prompt == f"{preset.negative_prompt}, sunglasses"
    assert (generation.width, generation.height) == (768, 1024)  # portrait
    assert (generation.preset, generation.preset_input) == (preset, "Paris in autumn")
    remix = user_client.get(reverse("imagegen:create") + f"?from={generation.pk}")
    initial = remix.context["form"].initial
    assert (initial["preset"], initial["prompt"], initial["negative_prompt"]) == (
        preset.pk,
        "Paris in autumn",
        "sunglasses",
    )


def test_a_chosen_shape_wins_over_the_presets(user_client, user, presets):
    preset = Preset.objects.get(name="Outfit lookbook")
    user_client.post(
        reverse("imagegen:create"),
        {"preset": preset.pk, "prompt": "Rome", "aspect": "wide"},
    )
    assert Generation.objects.values_list("width", "height").get() == (1024, 576)


def test_custom_size_needs_both_sides(user_client, user):
    response = user_client.post(
        reverse("imagegen:create"), {"prompt": "Rome", "aspect": "custom", "width": "512"}
    )
    assert "Choose a height for a custom size." in response.content.decode()
    assert not Generation.objects.exists()


def test_inactive_presets_are_not_offered(user_client, presets):
    Preset.objects.filter(name="Street photo").update(active=False)
    page = user_client.get(reverse("imagegen:create")).content.decode()
    assert "Travel postcard" in page and "Street photo" not in page


@pytest.mark.parametrize(
    ("mode", "header", "expected"),
    [
        ("x-accel-redirect", "X-Accel-Redirect", "/protected-media/generations/"),
        ("x-sendfile", "X-Sendfile", "/media/generations/"),
    ],
)
def test_the_web_server_can_send_the_files_after_the_access_check(
    user_client, client, user, make_user, settings, mode, header, expected
):
    generation = make_done(user)
    settings.IMAGEGEN_SENDFILE = mode
    response = user_client.get(reverse("imagegen:image", args=[generation.pk]) + "?download=1")
    assert expected in response[header]
    assert response[header].endswith(".png")
    assert "attachment" in response["Content-Disposition"]
    assert response.content == b""
    client.force_login(make_user("mallory"))
    assert client.get(reverse("imagegen:image", args=[generation.pk])).status_code == 404


def test_status_estimates_the_wait_from_recent_durations(user_client, user, settings):
    settings.Q_WORKERS = 1
    for seconds in (4, 6, 8):
        done = make_done(user, f"took {seconds}")
        finished = timezone.now()
        Generation.objects.filter(pk=done.pk).update(
            started_at=finished - datetime.timedelta(seconds=seconds), finished_at=finished
        )
    first = services.submit_generation(user=user, prompt="a", width=256, height=256)
    second = services.submit_generation(user=user, prompt="b", width=256, height=256)
    one = user_client.get(reverse("imagegen:status", args=[first.pk])).json()
    two = user_client.get(reverse("imagegen:status", args=[second.pk])).json()
    assert (one["position"], one["estimated_seconds"]) == (1, 6.0)
    assert (two["position"], two["estimated_seconds"]) == (2, 12.0)


def test_pages_carry_a_strict_content_security_policy(user_client):
    policy = user_client.get(reverse("imagegen:create"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
