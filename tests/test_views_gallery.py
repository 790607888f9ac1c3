"""Gallery, detail, status JSON and the private image files."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from imagegen import services
from imagegen.models import Generation
from imagegen.tasks import run_generation
from tests.conftest import run_queued_generations


def make_done(user, prompt="Santorini blue domes", **extra):
    generation = services.submit_generation(
        user=user, prompt=prompt, width=256, height=256, **extra
    )
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    return generation


@pytest.fixture
def quota_of_50(user):
    quota = services.quota_for(user)
    quota.daily_limit = 50
    quota.save()


def test_gallery_lists_the_users_images_newest_first(user_client, user):
    first = make_done(user, "first trip")
    second = make_done(user, "second trip")
    page = user_client.get(reverse("imagegen:gallery")).content.decode()
    assert page.index(str(second.pk)) < page.index(str(first.pk))
    assert reverse("imagegen:thumbnail", args=[first.pk]) in page
    assert 'loading="lazy"' in page
    assert "Demo" in page


def test_gallery_is_paginated(user_client, user, quota_of_50):
    for i in range(25):
        services.submit_generation(user=user, prompt=f"trip {i}", width=256, height=256)
    first = user_client.get(reverse("imagegen:gallery"))
    assert len(first.context["page"].object_list) == 24
    assert "Page 1 of 2" in first.content.decode()
    second = user_client.get(reverse("imagegen:gallery") + "?page=2")
    assert [g.prompt for g in second.context["page"].object_list] == ["trip 0"]


def test_gallery_query_count_does_not_grow_with_items(
    user_client, user, quota_of_50, django_assert_max_num_queries
):
    for i in range(3):
        services.submit_generation(user=user, prompt=f"few {i}", width=256, height=256)
    with django_assert_max_num_queries(6) as few:
        user_client.get(reverse("imagegen:gallery"))
    for i in range(20):
        services.submit_generation(user=user, prompt=f"many {i}", width=256, height=256)
    with django_assert_max_num_queries(len(few.captured_queries)):
        user_client.get(reverse("imagegen:gallery"))


def test_empty_gallery_says_so(user_client):
    assert "Your gallery is empty" in user_client.get(reverse("imagegen:gallery")).content.decode()


def test_detail_shows_every_parameter(user_client, user):
    generation = make_done(user, negative_prompt="people", seed=99)
    page = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    for text in ("Santorini blue domes", "people", "256 × 256", "99", "demo", "Download image"):
        assert text in page


def test_status_json_follows_the_generation(user_client, user):
    generation = services.submit_generation(user=user, prompt="Oslo", width=256, height=256)
    url = reverse("imagegen:status", args=[generation.pk])
    queued = user_client.get(url).json()
    assert (queued["status"], queued["position"], queued["image_url"]) == ("queued", 1, None)
    run_generation(str(generation.pk))
    done = user_client.get(url).json()
    assert done["status"] == "succeeded"
    assert done["active"] is False
    assert done["image_url"] == reverse("imagegen:image", args=[generation.pk])
    assert done["elapsed_seconds"] >= 0


def test_download_is_the_png_with_its_parameters(user_client, user):
    generation = make_done(user, seed=5)
    response = user_client.get(reverse("imagegen:image", args=[generation.pk]) + "?download=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"]
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert "Seed: 5" in image.info["parameters"]
    thumb = user_client.get(reverse("imagegen:thumbnail", args=[generation.pk]))
    assert thumb["Content-Type"] == "image/webp"


@pytest.mark.parametrize("name", ["detail", "status", "image", "thumbnail"])
def test_another_users_generation_is_not_found(client, user, make_user, name):
    generation = make_done(user)
    client.force_login(make_user("mallory"))
    assert client.get(reverse(f"imagegen:{name}", args=[generation.pk])).status_code == 404


def test_another_users_generation_cannot_be_canceled_or_retried(client, user, make_user):
    generation = services.submit_generation(user=user, prompt="mine", width=256, height=256)
    client.force_login(make_user("mallory"))
    assert client.post(reverse("imagegen:cancel", args=[generation.pk])).status_code == 404
    assert client.post(reverse("imagegen:retry", args=[generation.pk])).status_code == 404
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED
    assert Generation.objects.count() == 1


def test_gallery_shows_only_the_users_own(client, user, make_user):
    make_done(user, "alice's secret trip")
    client.force_login(make_user("mallory"))
    assert (
        "alice&#x27;s secret trip" not in client.get(reverse("imagegen:gallery")).content.decode()
    )


def test_images_are_reachable_only_through_the_checking_view(client, user):
    generation = make_done(user)
    response = client.get(reverse("imagegen:image", args=[generation.pk]))
    assert response.status_code == 302
    # No URL maps onto the storage folder, whoever asks.
    client.force_login(user)
    for guess in (f"/media/{generation.image.name}", f"/{generation.image.name}"):
        assert client.get(guess).status_code == 404


def test_cancel_and_retry_from_the_detail_page(user_client, user):
    generation = services.submit_generation(user=user, prompt="Hoi An", width=256, height=256)
    user_client.post(reverse("imagegen:cancel", args=[generation.pk]))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELED
    response = user_client.post(reverse("imagegen:retry", args=[generation.pk]))
    again = Generation.objects.exclude(pk=generation.pk).get()
    assert response["Location"] == reverse("imagegen:detail", args=[again.pk])
    assert (again.prompt, again.status) == ("Hoi An", Generation.Status.QUEUED)


def test_gallery_cards_say_which_images_are_shared(user_client, user):
    from django.utils import timezone

    shared, suspended, private = (
        services.submit_generation(user=user, prompt=p, width=256, height=256)
        for p in ("shared", "suspended", "private")
    )
    run_queued_generations()
    for generation in (shared, suspended):
        services.share_generation(generation_id=generation.pk, user=user)
    Generation.objects.filter(pk=suspended.pk).update(share_suspended_at=timezone.now())
    page = user_client.get(reverse("imagegen:gallery"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    def card(generation):
        return page.split(f'id="g-{generation.pk}"', 1)[1].split("</article>", 1)[0]

    assert 'class="badge share-on"' in card(shared) and "공유 중" in card(shared)
    assert "링크 일시 중지" in card(suspended) and "공유 중" not in card(suspended)
    assert "badge share-on" not in card(private) and "share-suspended" not in card(private)
