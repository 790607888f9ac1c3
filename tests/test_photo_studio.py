"""The photo tasks, edit and try_on, as first-class generations: through the API and the create
page, the same queue, quota, refunds, webhooks and gallery as pictures from words, with the
demo provider (the real providers' protocols: test_providers_*)."""

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from imagegen import services
from imagegen.models import Generation, Quota, Upload
from tests import photos
from tests.conftest import run_queued_generations

CREATE = reverse("api:generations")


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def post_json(client, body):
    return client.post(CREATE, json.dumps(body), content_type="application/json")


def uploaded(client, data=None):
    data = data or photos.jpeg_with_gps()
    answer = client.post(
        reverse("api:uploads"),
        {"file": SimpleUploadedFile("me.jpg", data, content_type="image/jpeg")},
    )
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def image_of(generation):
    with generation.image.open("rb") as handle:
        return Image.open(io.BytesIO(handle.read())).convert("RGB")


# --- The API --------------------------------------------------------------------------------------


def test_an_edit_through_the_api_is_queued_charged_and_made_from_the_photo(api, user):
    photo = uploaded(api, photos.jpeg_with_gps(640, 480))
    made = post_json(api, {"task": "edit", "source_image": photo, "prompt": "at sunset"})
    assert made.status_code == 201, made.content
    item = made.json()["results"][0]
    assert (item["task"], item["source_image"], item["garment_image"]) == ("edit", photo, None)
    assert Quota.objects.get(user=user).day_used == 1
    run_queued_generations()
    item = api.get(reverse("api:generation", args=[item["id"]])).json()
    assert item["status"] == "succeeded"
    assert (item["width"], item["height"]) == (640, 480)  # the photo's shape
    generation = Generation.objects.get(pk=item["id"])
    result = image_of(generation)
    # Made from the photo: its green corner is still there, under the demo's sunset tint.
    r, g, b = result.getpixel((40, 40))
    assert g > r and g > b
    status = api.get(reverse("imagegen:status", args=[generation.pk]))  # (a key: no page)
    assert status.status_code == 302


def test_a_try_on_puts_the_garment_on_the_person(api, user):
    person = uploaded(api, photos.encoded(photos.picture(480, 640, (230, 230, 230)), "JPEG"))
    garment = uploaded(api, photos.encoded(_shirt(), "PNG"))
    made = post_json(
        api, {"task": "try_on", "source_image": person, "garment_image": garment, "n": 2}
    )
    assert made.status_code == 201, made.content
    assert [r["garment_image"] for r in made.json()["results"]] == [garment, garment]
    run_queued_generations()
    generation = Generation.objects.filter(owner=user).first()
    assert generation.status == Generation.Status.SUCCEEDED
    result = image_of(generation)
    assert result.getpixel((240, 320))[2] > 150  # the blue shirt, over the person's middle
    assert result.getpixel((240, 40))[2] < 240 and result.getpixel((240, 40))[0] > 200


def _shirt():
    image = Image.new("RGB", (300, 300), (255, 255, 255))
    image.paste((30, 60, 220), (60, 40, 240, 280))
    return image


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"task": "edit", "prompt": "x"}, "source_image", "Choose the photo"),
        ({"task": "try_on"}, "source_image", "Choose the photo"),
        ({"task": "try_on", "source_image": "PHOTO"}, "garment_image", "garment"),
        ({"prompt": "x", "source_image": "PHOTO"}, "source_image", "no place in this task"),
        ({"task": "edit", "source_image": "PHOTO"}, "prompt", "how to change the photo"),
        (
            {"task": "edit", "source_image": "PHOTO", "garment_image": "PHOTO", "prompt": "x"},
            "garment_image",
            "no place in this task",
        ),
        ({"task": "edit", "source_image": "PHOTO", "prompt": "x", "width": 512}, "width", "photo"),
        ({"task": "edit", "source_image": "PHOTO", "prompt": "x", "preset": 1}, "preset", "photo"),
        ({"task": "repaint", "prompt": "x"}, "task", "'edit'"),
        (
            {"task": "edit", "source_image": "not-an-id", "prompt": "x"},
            "source_image",
            "upload's id",
        ),
    ],
)
def test_a_wrong_combination_is_a_400_naming_the_field(api, user, body, field, message):
    photo = uploaded(api)
    body = {name: photo if value == "PHOTO" else value for name, value in body.items()}
    answer = post_json(api, body)
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert message in " ".join(error["fields"][field]), error
    assert not Generation.objects.exists()
    assert Quota.objects.filter(user=user, day_used__gt=0).count() == 0


def test_someone_elses_photo_is_no_photo(api, user, make_user):
    theirs = services.store_upload(user=make_user("bora"), data=photos.jpeg_with_gps())
    answer = post_json(api, {"task": "edit", "source_image": str(theirs.pk), "prompt": "x"})
    assert answer.status_code == 400
    assert "no photo of yours" in answer.json()["error"]["fields"]["source_image"][0]


def test_a_task_no_configured_provider_can_do_is_not_offered(api, user, settings):
    photo = uploaded(api)
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint"]
    settings.HF_ENDPOINT_URL = "http://127.0.0.1:9/endpoint"
    answer = post_json(api, {"task": "edit", "source_image": photo, "prompt": "x"})
    assert answer.status_code == 400
    assert "task" in answer.json()["error"]["fields"]
    assert api.get(reverse("api:capabilities")).json()["tasks"] == ["text"]
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint", "demo"]
    assert api.get(reverse("api:capabilities")).json()["tasks"] == ["text", "edit", "try_on"]


def test_the_chain_skips_a_provider_that_cannot_do_the_task_and_says_so(api, user, settings):
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint", "demo"]
    settings.HF_ENDPOINT_URL = "http://127.0.0.1:9/endpoint"
    photo = uploaded(api)
    post_json(api, {"task": "edit", "source_image": photo, "prompt": "in the snow"})
    run_queued_generations()
    generation = Generation.objects.get()
    assert (generation.status, generation.provider) == ("succeeded", "demo")
    assert "hf_endpoint cannot do edit" in generation.adaptations


def test_a_failed_edit_is_refunded_and_its_photo_kept(api, user, settings):
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint", "gradio_space"]
    settings.HF_ENDPOINT_URL = "http://127.0.0.1:9/endpoint"
    settings.GRADIO_SPACE = ""
    photo = uploaded(api)
    # Only gradio_space does try_on here, and its Space cannot be reached.
    settings.GRADIO_TRYON_SPACE = "http://127.0.0.1:9/"
    garment = uploaded(api)
    made = post_json(api, {"task": "try_on", "source_image": photo, "garment_image": garment})
    assert made.status_code == 201, made.content
    run_queued_generations()
    generation = Generation.objects.get()
    assert generation.status == Generation.Status.FAILED
    assert Quota.objects.get(user=user).day_used == 0  # refunded
    assert "hf_endpoint" in generation.error_detail and "gradio_space" in generation.error_detail
    assert Upload.objects.filter(pk=photo).exists()
    retried = api.post(reverse("api:retry", args=[generation.pk]))
    assert retried.status_code == 201
    assert retried.json()["source_image"] == photo


def test_a_webhook_says_what_was_made_from_what(api, user, settings, key):
    from imagegen import webhooks

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    photo = uploaded(api)
    post_json(
        api,
        {
            "task": "edit",
            "source_image": photo,
            "prompt": "x",
            "callback_url": "http://127.0.0.1:9/hook",
        },
    )
    run_queued_generations()
    generation = Generation.objects.get()
    event = json.loads(webhooks.event_body(generation))
    assert (event["data"]["task"], event["data"]["source_image"]) == ("edit", photo)


def test_retrying_after_the_photo_was_deleted_says_so(
    api, user, django_capture_on_commit_callbacks
):
    photo = uploaded(api)
    post_json(api, {"task": "edit", "source_image": photo, "prompt": "x"})
    run_queued_generations()
    generation = Generation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(reverse("api:upload", args=[photo])).status_code == 204
    retried = api.post(reverse("api:retry", args=[generation.pk]))
    assert retried.status_code == 400
    assert "was deleted" in retried.json()["error"]["fields"]["source_image"][0]
    assert api.get(reverse("api:generation", args=[generation.pk])).json()["source_image"] is None


# --- The pages ------------------------------------------------------------------------------------


def page_post(client, **fields):
    data = {"task": "edit", "edit_prompt": "me on a beach in Jeju at sunset", "aspect": "square"}
    data.update(fields)
    return client.post(reverse("imagegen:create"), data)


def test_the_page_offers_the_tasks_with_camera_friendly_pickers(user_client, settings):
    page = user_client.get(reverse("imagegen:create"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for value in ("text", "edit", "try_on"):
        assert f'name="task" value="{value}"' in page
    assert page.count('accept="image/*"') == 2
    assert 'enctype="multipart/form-data"' in page
    assert "내 사진 편집" in page and "옷 입어 보기" in page
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint"]
    settings.HF_ENDPOINT_URL = "http://127.0.0.1:9/endpoint"
    text_only = user_client.get(reverse("imagegen:create")).content.decode()
    assert 'name="task"' not in text_only and 'type="file"' not in text_only


def test_the_page_needs_the_consent_tick_and_keeps_the_photo_meanwhile(user_client, user):
    photo = SimpleUploadedFile("me.jpg", photos.jpeg_with_gps(), content_type="image/jpeg")
    answer = page_post(user_client, source_photo=photo)
    assert answer.status_code == 200
    assert "Tick this to confirm" in answer.content.decode()
    assert not Generation.objects.exists()
    (kept,) = Upload.objects.filter(owner=user)
    form = answer.context["form"]
    assert form["source_image"].value() == str(kept.pk)
    assert reverse("imagegen:upload_image", args=[kept.pk]) in answer.content.decode()
    # Sent again with the tick: the photo kept is used, no second upload.
    done = page_post(user_client, source_image=str(kept.pk), consent="on")
    assert done.status_code == 302
    generation = Generation.objects.get()
    assert (generation.task, generation.source_image_id) == ("edit", kept.pk)
    assert Upload.objects.filter(owner=user).count() == 1


def test_a_refused_photo_is_said_on_the_page(user_client, user):
    fake = SimpleUploadedFile("me.jpg", b"<svg></svg>", content_type="image/jpeg")
    answer = page_post(user_client, source_photo=fake, consent="on")
    assert answer.status_code == 200
    assert "This is not a photo we can use" in answer.content.decode()
    assert not Upload.objects.exists() and not Generation.objects.exists()


def test_a_try_on_from_the_page_lands_in_the_gallery_marked(user_client, user):
    person = SimpleUploadedFile("me.jpg", photos.jpeg_with_gps(), content_type="image/jpeg")
    garment = SimpleUploadedFile("coat.png", photos.png_with_alpha(), content_type="image/png")
    answer = page_post(
        user_client,
        task="try_on",
        try_on_prompt="",
        source_photo=person,
        garment_photo=garment,
        consent="on",
    )
    assert answer.status_code == 302, answer.context["form"].errors
    run_queued_generations()
    generation = Generation.objects.get()
    assert generation.status == Generation.Status.SUCCEEDED
    gallery = user_client.get(reverse("imagegen:gallery")).content.decode()
    assert 'class="badge task-try_on"' in gallery
    detail = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    for upload in (generation.source_image, generation.garment_image):
        assert reverse("imagegen:upload_image", args=[upload.pk]) in detail


def test_remix_and_vary_of_an_edit_keep_its_photo(user_client, user):
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    generation = services.submit_generation(
        user=user,
        prompt="in the snow",
        width=photo.width,
        height=photo.height,
        task="edit",
        source_image=photo,
        seed=7,
    )
    for vary in ("", "1"):
        form = user_client.get(
            reverse("imagegen:create"), {"from": generation.pk, "vary": vary}
        ).context["form"]
        assert form["task"].value() == "edit"
        assert str(form["source_image"].value()) == str(photo.pk)
        assert form["edit_prompt"].value() == "in the snow"
        assert form["seed"].value() == (None if vary else 7)


def test_a_photo_past_its_retention_is_said_on_the_detail_page(user_client, user):
    generation = Generation.objects.create(
        owner=user, prompt="in Busan", width=320, height=240, task="edit"
    )
    page = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert "deleted 30 days after its last use" in page


def test_a_photo_left_on_another_tab_never_stops_a_picture_from_words(user_client, user):
    """After an edit the text tab still sends the edit's photo (the page keeps each tab's
    fields): the page leaves it out instead of refusing, and keeps no photo chosen there."""
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    coat = SimpleUploadedFile("coat.png", photos.png_with_alpha(), content_type="image/png")
    answer = page_post(
        user_client,
        task="text",
        prompt="Jeju at dawn",
        source_image=str(photo.pk),
        garment_image=str(photo.pk),
        garment_photo=coat,
        edit_prompt="x" * 5000,  # another tab's words, even too long, are not this task's
    )
    assert answer.status_code == 302, answer.context["form"].errors
    generation = Generation.objects.get()
    assert (generation.task, generation.prompt) == ("text", "Jeju at dawn")
    assert (generation.source_image, generation.garment_image) == (None, None)
    assert Upload.objects.count() == 1  # the garment chosen on the try-on tab was not kept
    # An edit leaves out a garment the try-on tab holds, and the text tab's shape.
    answer = page_post(
        user_client, source_image=str(photo.pk), garment_image=str(photo.pk), consent="on"
    )
    assert answer.status_code == 302, answer.context["form"].errors
    edit = Generation.objects.get(task="edit")
    assert (edit.source_image_id, edit.garment_image_id) == (photo.pk, None)


def test_each_task_keeps_its_own_words_and_consent_is_asked_each_time(user_client, user):
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    garment = services.store_upload(user=user, data=photos.png_with_alpha())
    sent = page_post(user_client, source_image=str(photo.pk), consent="on", prompt="Jeju at dawn")
    assert sent.status_code == 302
    assert Generation.objects.get().prompt == "me on a beach in Jeju at sunset"
    page = user_client.get(reverse("imagegen:create"))
    form = page.context["form"]
    assert form["task"].value() == "edit"  # the tab last used, to tweak and send again
    assert form["edit_prompt"].value() == "me on a beach in Jeju at sunset"
    assert form["prompt"].value() == "Jeju at dawn"  # the text tab's own words
    assert not form["try_on_prompt"].value()
    consent = re.search(r'<input type="checkbox" name="consent"[^>]*>', page.content.decode())[0]
    assert "checked" not in consent
    # A try-on from here describes its garment with its own words, never the edit's.
    page_post(
        user_client,
        task="try_on",
        source_image=str(photo.pk),
        garment_image=str(garment.pk),
        consent="on",
    )
    assert Generation.objects.get(task="try_on").prompt == ""
    # Sent back with a mistake, the tick is asked for again too.
    answer = page_post(user_client, source_image=str(photo.pk), consent="on", edit_prompt="")
    assert answer.status_code == 200
    consent = re.search(r'<input type="checkbox" name="consent"[^>]*>', answer.content.decode())[0]
    assert "checked" not in consent


def test_remove_photo_takes_a_kept_photo_out_of_the_remembered_form(user_client, user):
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    page_post(user_client, source_image=str(photo.pk), consent="on")
    page = user_client.get(reverse("imagegen:create"), HTTP_ACCEPT_LANGUAGE="ko")
    assert [picker["upload"] for picker in page.context["photo_pickers"]] == [photo, None]
    assert 'value="사진 빼기"' in page.content.decode()
    answer = user_client.post(reverse("imagegen:forget_photo"), {"field": "source_image"})
    assert answer.status_code == 302
    assert answer["Location"] == reverse("imagegen:create") + "#photo-source_image"
    page = user_client.get(reverse("imagegen:create"))
    assert [picker["upload"] for picker in page.context["photo_pickers"]] == [None, None]
    assert f'value="{photo.pk}"' not in page.content.decode()
    assert page.context["form"]["edit_prompt"].value() == "me on a beach in Jeju at sunset"
    # Only the page's own photo fields: anything else is ignored.
    user_client.post(reverse("imagegen:forget_photo"), {"field": "edit_prompt"})
    assert user_client.get(reverse("imagegen:create")).context["form"]["edit_prompt"].value()


def test_the_photo_picker_is_our_own_in_the_pages_language(user_client):
    page = user_client.get(reverse("imagegen:create"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for field in ("source_photo", "garment_photo"):
        assert re.search(
            rf'<label class="button photo-button" for="id_{field}"[^>]*>사진 고르기<', page
        )
        assert re.search(rf'<input type="file" name="{field}"[^>]*class="photo-input"', page)
    assert "-clear" not in page  # no "Clear" checkbox of Django's file input


def test_an_edit_says_one_size_queued_done_and_in_its_png(user_client, user):
    """Queued, done and in the PNG's text: the size the provider makes of the photo."""
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps(1600, 1200))
    page_post(user_client, source_image=str(photo.pk), consent="on")
    generation = Generation.objects.get()
    assert (generation.width, generation.height) == (1024, 768)
    detail = reverse("imagegen:detail", args=[generation.pk])
    assert "1024 × 768" in user_client.get(detail).content.decode()
    run_queued_generations()
    generation.refresh_from_db()
    with generation.image.open("rb") as handle:
        png = Image.open(io.BytesIO(handle.read()))
    assert png.size == (generation.width, generation.height) == (1024, 768)
    assert "Size: 1024x768," in png.info["parameters"]
    page = user_client.get(detail, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "1024 × 768" in page
    # The photo it was made from is the original, the picture the result.
    assert "원본 사진" in page and "결과" in page and "편집한 사진" not in page


# --- Through a real provider protocol -------------------------------------------------------------


def test_the_photos_location_never_leaves_the_site(api, user, fal_edits):
    """A JPEG with GPS coordinates: not in the stored file, not in what the provider gets."""
    original = photos.jpeg_with_gps(640, 480)
    assert photos.has_traces(original)  # the test photo does carry them
    photo = uploaded(api, original)
    made = post_json(api, {"task": "edit", "source_image": photo, "prompt": "at sunset"})
    assert made.status_code == 201, made.content
    run_queued_generations()
    generation = Generation.objects.get()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_detail
    (received,) = fal_edits.received_images
    with Upload.objects.get(pk=photo).image.open("rb") as stored:
        assert received == stored.read()  # the clean copy, byte for byte
    assert photos.has_traces(received) == []
    sent = Image.open(io.BytesIO(received))
    assert dict(sent.getexif()) == {} and (sent.width, sent.height) == (640, 480)
    (submit,) = [r for r in fal_edits.inference_requests if r.image is not None]
    assert submit.image_type == "image/jpeg"


def test_a_service_that_chooses_the_size_is_said_so_until_the_image_comes(
    api, user, user_client, fal_edits
):
    photo = uploaded(api, photos.jpeg_with_gps(1600, 1200))
    post_json(api, {"task": "edit", "source_image": photo, "prompt": "at sunset"})
    generation = Generation.objects.get()
    detail = reverse("imagegen:detail", args=[generation.pk])
    page = user_client.get(detail).content.decode()
    assert "chosen by the image service" in page and "1600 × 1200" not in page
    run_queued_generations()
    generation.refresh_from_db()
    with generation.image.open("rb") as handle:
        png = Image.open(io.BytesIO(handle.read()))
    size = (generation.width, generation.height)
    assert png.size == size
    assert f"Size: {size[0]}x{size[1]}," in png.info["parameters"]
    assert f"{size[0]} × {size[1]}" in user_client.get(detail).content.decode()


def test_a_provider_failure_on_an_edit_is_refunded_like_any_other(api, user, fal_edits):
    fal_edits.behaviour = "401"
    photo = uploaded(api)
    post_json(api, {"task": "edit", "source_image": photo, "prompt": "at sunset"})
    run_queued_generations()
    generation = Generation.objects.get()
    assert (generation.status, generation.failure_class) == ("failed", "misconfigured")
    assert "misconfigured" in generation.error_message
    assert Quota.objects.get(user=user).day_used == 0
