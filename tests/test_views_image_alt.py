"""Every picture's text alternative (issue 33, item 7): a generation's <img> says that it is
AI-made and what it shows (its words, shortened), in the page's language, on every page that
shows one (gallery card, detail, shared page, confirm-delete, the trip lookbook and its shared
page); the live status script gets the same words from the card (data-image-alt). The owner's
own photos (an edit's source, a trip's photo) are not AI-made and do not say so."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from imagegen import services
from imagegen.models import Generation
from imagegen.services import trips as trip_service
from tests import photos
from tests.conftest import run_queued_generations
from tests.test_trips_pages import next_week

MARKERS = {"en": "AI-generated: ", "ko": "AI 생성: "}
LONG_PROMPT = "Hallstatt in the snow at dusk, " * 20


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


class Images(HTMLParser):
    """Every <img> of a page (src, alt) and every data-image-alt."""

    def __init__(self):
        super().__init__()
        self.images, self.live_alts = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append((attrs.get("src") or "", attrs.get("alt")))
        if "data-image-alt" in attrs:
            self.live_alts.append(attrs["data-image-alt"])


def images_of(client, url, language):
    page = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 200, url
    found = Images()
    found.feed(page.content.decode())
    return found


def is_upload(src):
    """The owner's own photo (imagegen:upload_image, /u/<id>/image)."""
    return src.startswith("/u/")


@pytest.fixture
def pictures(settings, user):
    """A finished picture from words (shared), a finished edit of the user's photo and a
    two-day shared trip lookbook with the user's photo."""
    settings.TRIP_WEATHER = "off"
    words = services.submit_generation(user=user, prompt=LONG_PROMPT, width=256, height=256)
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    edit = services.submit_generation(
        user=user,
        prompt="in the snow",
        width=photo.width,
        height=photo.height,
        task="edit",
        source_image=photo,
    )
    start, end = next_week(2)
    draft = trip_service.plan_trip(
        destination="제주",
        start_date=start,
        end_date=end,
        temperatures={start: (20, 12), end: (20, 12)},
    )
    trip = trip_service.create_trip(user=user, draft=draft)
    run_queued_generations()
    trip_service.share_trip(trip=trip)
    trip.refresh_from_db()
    token = services.share_generation(generation_id=words.pk, user=user)
    assert Generation.objects.filter(status=Generation.Status.SUCCEEDED).count() == 4
    return {"words": words, "edit": edit, "trip": trip, "token": token}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_generated_image_says_it_is_ai_made_and_what_it_shows(
    user_client, client, pictures, language
):
    marker = MARKERS[language]
    words, edit, trip = pictures["words"], pictures["edit"], pictures["trip"]
    owner_pages = [
        reverse("imagegen:gallery"),
        reverse("imagegen:detail", args=[words.pk]),
        reverse("imagegen:detail", args=[edit.pk]),
        reverse("imagegen:delete", args=[words.pk]),
        reverse("imagegen:trip", args=[trip.pk]),
    ]
    public_pages = [
        reverse("imagegen:shared", args=[pictures["token"]]),
        reverse("imagegen:trip_shared", args=[trip.share_token]),
    ]
    generated = 0
    for who, url in [(user_client, u) for u in owner_pages] + [(client, u) for u in public_pages]:
        found = images_of(who, url, language)
        for src, alt in found.images:
            if is_upload(src):
                continue
            generated += 1
            assert alt and alt.startswith(marker), (url, src, alt)
            assert len(alt) <= len(marker) + 150, (url, alt)
        for alt in found.live_alts:
            assert alt.startswith(marker), (url, alt)
    # gallery 4 + 2 details + confirm + lookbook 2 + shared + shared lookbook 2
    assert generated == 12

    detail = images_of(user_client, reverse("imagegen:detail", args=[words.pk]), language)
    [(_, alt)] = detail.images
    assert alt.startswith(marker + "Hallstatt in the snow at dusk") and alt.endswith("…")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_owners_own_photos_do_not_say_ai(user_client, pictures, language):
    edit = pictures["edit"]
    detail = images_of(user_client, reverse("imagegen:detail", args=[edit.pk]), language)
    uploads = [alt for src, alt in detail.images if is_upload(src)]
    assert len(uploads) == 1
    assert uploads[0] and "AI" not in uploads[0]
    create = images_of(user_client, reverse("imagegen:create") + f"?from={edit.pk}", language)
    previews = [alt for src, alt in create.images if is_upload(src)]
    assert previews and all(alt and "AI" not in alt for alt in previews)
