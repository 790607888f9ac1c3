"""Safe to open to the public: a flagged result is held (never shown, never lost), a person
approves or rejects it, viewers report shared images, uploads are checked too. The classifier
is the fake Hugging Face's image-classification (test_safety_classifier.py has its protocol)."""

import datetime
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from imagegen import services, webhooks
from imagegen.models import Generation, Quota, ReviewDecision, ShareReport, Upload
from tests import photos
from tests.conftest import HEALTH_TOKEN, run_queued_generations

TOKEN = "hf_SafetyTokenAbcdefghijklmnop123456"


@pytest.fixture
def classifier(settings):
    """The safety check on, asking the fake Hugging Face (clean images score 0.02)."""
    from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

    with start_hf_server() as server:
        settings.IMAGEGEN_SAFETY_CHECK = "hf_inference"
        settings.HUGGINGFACE_API_TOKEN = TOKEN
        settings.HF_ROUTER_URL = server.url
        settings.HF_TIMEOUT = 5.0
        settings.IMAGEGEN_PROVIDERS = ["demo"]
        with huggingface_hub_pointed_at(server.url):
            yield server


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def made(user, prompt="Jeju beach", **extra):
    generation = services.submit_generation(
        user=user, prompt=prompt, width=256, height=256, **extra
    )
    run_queued_generations()
    generation.refresh_from_db()
    return generation


# --- Held, never shown -----------------------------------------------------------------------


def test_a_flagged_result_is_held_kept_and_shown_to_nobody(classifier, user, key, make_user):
    classifier.nsfw_score = 0.97
    generation = made(user)
    assert generation.status == Generation.Status.HELD
    assert generation.image and generation.safety_scores["nsfw"] == pytest.approx(0.97)
    assert "nsfw 0.970" in generation.safety_note
    assert Quota.objects.get(user=user).day_used == 1  # the unit stays reserved
    (asked,) = classifier.classification_requests
    with generation.thumbnail.open("rb") as stored:
        # The check looked at the picture that was stored, as its thumbnail (small to send).
        assert asked.image == stored.read()

    owner_api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    owner_page = Client()
    owner_page.force_login(user)
    stranger = Client()
    stranger.force_login(make_user("mallory"))
    urls = [
        reverse("api:image", args=[generation.pk]),
        reverse("api:thumbnail", args=[generation.pk]),
        reverse("imagegen:image", args=[generation.pk]),
        reverse("imagegen:thumbnail", args=[generation.pk]),
    ]
    for client in (owner_api, owner_page, stranger):
        for url in urls:
            answer = client.get(url)
            if client is not stranger and url.startswith("/api/"):
                # Its owner is told why there is no image (its status), never sent the bytes.
                assert answer.status_code == 409, url
                assert answer.json()["error"]["status"] == "held"
            else:
                assert answer.status_code in (302, 404), url
    item = owner_api.get(reverse("api:generation", args=[generation.pk])).json()
    assert (item["status"], item["image_url"], item["thumbnail_url"]) == ("held", None, None)
    assert item["notice"].startswith("This image is waiting for a review. A person looks at it")
    detail = owner_page.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert (
        "This image is waiting for a review." in detail
        and "<img" not in detail.split('data-role="media"')[1].split("</div>")[0]
    )
    assert owner_api.put(reverse("api:share", args=[generation.pk])).status_code == 409
    download = owner_page.get(reverse("download_images"))
    assert generation.download_name.encode() not in b"".join(download.streaming_content)


def test_a_clean_result_is_done_as_before(classifier, user):
    generation = made(user)
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.safety_scores["normal"] > 0.9 and generation.safety_note == ""


@pytest.mark.parametrize(("on_error", "status"), [("hold", "held"), ("allow", "succeeded")])
def test_when_the_classifier_fails_on_error_decides(classifier, user, settings, on_error, status):
    settings.IMAGEGEN_SAFETY_ON_ERROR = on_error
    classifier.classification_behaviour = "503-loading"
    generation = made(user)
    assert generation.status == status
    assert "safety check failed" in generation.safety_note


def test_approved_it_becomes_done_and_the_owner_is_told(classifier, user, admin_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    token = services.create_api_token(user=user, name="hooks")[0]
    classifier.nsfw_score = 0.9
    generation = made(user, callback_url="http://127.0.0.1:9/hook", api_token=token)
    held_event = json.loads(webhooks.event_body(generation))
    assert held_event["type"] == "generation.held"
    assert webhooks.event_id_for(generation.pk, "held").endswith("_held")

    assert services.approve(generation_ids=[generation.pk], by=admin_user) == 1
    assert services.approve(generation_ids=[generation.pk], by=admin_user) == 0  # once
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert (generation.reviewed_by, generation.reviewed_at is not None) == (admin_user, True)
    event = json.loads(webhooks.event_body(generation))
    assert event["type"] == "generation.succeeded" and event["data"]["image_url"]
    assert webhooks.event_id_for(generation.pk, "succeeded") != webhooks.event_id_for(
        generation.pk, "held"
    )
    (decision,) = ReviewDecision.objects.all()
    assert (decision.action, decision.subject, decision.decided_by_name) == (
        "approve",
        "held",
        admin_user.username,
    )
    owner = Client()
    owner.force_login(user)
    assert owner.get(reverse("imagegen:image", args=[generation.pk])).status_code == 200


def test_rejected_it_is_removed_and_its_units_given_back_once(classifier, user, admin_user):
    kept = made(user)  # a clean one: its unit stays taken
    classifier.nsfw_score = 0.99
    generation = made(user)
    assert Quota.objects.get(user=user).day_used == 2
    assert services.reject(generation_ids=[generation.pk], by=admin_user) == 1
    generation.refresh_from_db()
    assert generation.status == Generation.Status.REJECTED and not generation.charged
    assert Quota.objects.get(user=user).day_used == 1
    # A second reviewer, a second click, an approval after the fact: nothing more comes back.
    assert services.reject(generation_ids=[generation.pk], by=admin_user) == 0
    assert services.approve(generation_ids=[generation.pk], by=admin_user) == 0
    assert services.refund(generation.pk) is False
    assert Quota.objects.get(user=user).day_used == 1
    assert kept.status == Generation.Status.SUCCEEDED
    event = json.loads(webhooks.event_body(generation))
    assert event["type"] == "generation.rejected"
    assert event["data"]["notice"] == (
        "This image was removed after a review; what it used of your quota was given back."
    )
    owner = Client()
    owner.force_login(user)
    assert owner.get(reverse("imagegen:image", args=[generation.pk])).status_code == 404
    page = owner.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert "what it used of your quota was given back" in page


def test_a_reported_share_rejected_keeps_its_units(user, admin_user):
    """Its owner had the image: removing it after viewers' reports gives nothing back."""
    generation = made(user)
    services.share_generation(generation_id=generation.pk, user=user)
    ShareReport.objects.create(generation=generation, reason="sexual", voice="x")
    assert services.reject(generation_ids=[generation.pk], by=admin_user) == 1
    generation.refresh_from_db()
    assert (generation.status, generation.charged) == ("rejected", True)
    assert Quota.objects.get(user=user).day_used == 1
    owner = Client()
    owner.force_login(user)
    page = owner.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert "This image was removed after a review." in page and "given back" not in page


def test_a_held_images_owner_is_told_what_happens_next(classifier, user, admin_user):
    classifier.nsfw_score = 0.97
    generation = made(user)
    owner = Client()
    owner.force_login(user)
    detail = reverse("imagegen:detail", args=[generation.pk])
    page = owner.get(detail).content.decode()
    assert "A person looks at it before it is shown" in page
    assert "if they remove it, what it used of your quota is given back" in page
    assert "A person reviews it as soon as they can" in page  # no reviews to go by yet
    gallery = owner.get(reverse("imagegen:gallery")).content.decode()
    assert "what it used of your quota is given back" in gallery
    # Earlier reviews took 2, 3 and 4 hours: "usually about 3 hours".
    now = timezone.now()
    for hours in (2, 3, 4):
        earlier = Generation.objects.create(
            owner=user,
            prompt="earlier",
            width=256,
            height=256,
            status=Generation.Status.REJECTED,
            finished_at=now - datetime.timedelta(hours=hours, minutes=1),
        )
        ReviewDecision.objects.create(
            generation=earlier,
            generation_ref=str(earlier.pk),
            subject="held",
            action="approve",
            decided_by_name="reviewer",
            decided_at=now,
        )
    page = owner.get(detail).content.decode()
    assert "Reviews usually take about 3\xa0hours" in page
    korean = owner.get(detail, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "검토는 보통 3시간 정도 걸려요" in korean


def test_a_photo_the_check_could_not_look_at_is_one_message_on_the_page(
    classifier, user_client, user
):
    classifier.classification_behaviour = "503-loading"
    answer = user_client.post(
        reverse("imagegen:create"),
        {
            "task": "edit",
            "edit_prompt": "at sunset",
            "consent": "on",
            "source_photo": SimpleUploadedFile(
                "me.jpg", photos.jpeg_with_gps(), content_type="image/jpeg"
            ),
        },
    )
    assert answer.status_code == 200
    assert answer.context["form"].errors["source_image"] == [
        "This photo could not be checked just now; try again in a minute."
    ]
    assert "Choose the photo to use" not in answer.content.decode()
    assert not Upload.objects.exists() and not Generation.objects.exists()


# --- Reports from viewers -------------------------------------------------------------------


def shared_image(user):
    generation = made(user)
    token = services.share_generation(generation_id=generation.pk, user=user)
    return generation, token


def report(token, address, reason="sexual", reporter=None):
    viewer = Client(REMOTE_ADDR=address, enforce_csrf_checks=True)
    if reporter is not None:
        viewer.force_login(reporter)
    page = viewer.get(reverse("imagegen:shared", args=[token]))
    csrf = page.cookies["csrftoken"].value
    return viewer.post(
        reverse("imagegen:report_shared", args=[token]),
        {"reason": reason, "csrfmiddlewaretoken": csrf},
    )


def test_reports_from_three_voices_suspend_the_link_not_three_from_one(user, make_user, settings):
    settings.IMAGEGEN_REPORTS_TO_SUSPEND = 3
    generation, token = shared_image(user)
    for _ in range(3):
        assert report(token, "198.51.100.7").status_code == 302
    assert ShareReport.objects.count() == 1  # one address, one voice
    assert Client().get(reverse("imagegen:shared", args=[token])).status_code == 200
    report(token, "198.51.100.8", "violence")
    assert Client().get(reverse("imagegen:shared", args=[token])).status_code == 200
    report(token, "2001:db8:1:2::9", "privacy", reporter=make_user("signed-in-viewer"))
    page = Client().get(reverse("imagegen:shared", args=[token]))
    assert page.status_code == 403
    assert "waiting for a review" in page.content.decode()
    assert Client().get(reverse("imagegen:shared_image", args=[token])).status_code == 404
    generation.refresh_from_db()
    assert generation.share_suspended_at is not None
    # The owner still sees their own image.
    owner = Client()
    owner.force_login(user)
    assert owner.get(reverse("imagegen:image", args=[generation.pk])).status_code == 200


def test_a_report_needs_the_forms_csrf_token_and_a_known_reason(user):
    _generation, token = shared_image(user)
    forged = Client(enforce_csrf_checks=True).post(
        reverse("imagegen:report_shared", args=[token]), {"reason": "sexual"}
    )
    assert forged.status_code == 403
    assert report(token, "198.51.100.7", reason="boring").status_code == 302
    assert not ShareReport.objects.exists()


def test_reports_are_limited_per_address(user, settings):
    settings.IMAGEGEN_REPORTS_PER_HOUR = 2
    tokens = [shared_image(user)[1] for _ in range(3)]
    assert report(tokens[0], "198.51.100.7").status_code == 302
    assert report(tokens[1], "198.51.100.7").status_code == 302
    refused = report(tokens[2], "198.51.100.7")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert ShareReport.objects.count() == 2


def test_a_reported_share_approved_opens_again_rejected_is_removed(
    user, admin_user, make_user, settings
):
    settings.IMAGEGEN_REPORTS_TO_SUSPEND = 1
    first, first_token = shared_image(user)
    second, second_token = shared_image(user)
    viewer = make_user("viewer")
    report(first_token, "198.51.100.7", reporter=viewer)
    report(second_token, "198.51.100.7", reporter=viewer)
    assert services.count_waiting().reported == 2
    assert services.approve(generation_ids=[first.pk], by=admin_user) == 1
    assert Client().get(reverse("imagegen:shared", args=[first_token])).status_code == 200
    assert services.reject(generation_ids=[second.pk], by=admin_user) == 1
    second.refresh_from_db()
    assert (second.status, second.share_token) == ("rejected", None)
    assert Client().get(reverse("imagegen:shared", args=[second_token])).status_code == 404
    assert services.count_waiting().total == 0
    assert sorted(ReviewDecision.objects.values_list("subject", "action")) == [
        ("reported", "approve"),
        ("reported", "reject"),
    ]


# --- Uploads --------------------------------------------------------------------------------


def test_a_flagged_photo_is_refused_at_upload_storing_nothing(classifier, api, user):
    classifier.nsfw_score = 0.95
    answer = api.post(
        reverse("api:uploads"),
        {"file": SimpleUploadedFile("me.jpg", photos.jpeg_with_gps(), content_type="image/jpeg")},
    )
    assert answer.status_code == 400
    assert "the safety check flagged it" in answer.json()["error"]["fields"]["file"][0]
    assert not Upload.objects.exists()
    (asked,) = classifier.classification_requests
    assert photos.has_traces(asked.image) == []  # the classifier too gets the clean copy


# --- Staff: the queue, the index, /health, the deploy check ----------------------------------


def test_the_review_queue_lists_what_waits_and_decides_in_bulk(classifier, user, admin_client):
    classifier.nsfw_score = 0.93
    held = [made(user, prompt=f"held {n}") for n in range(2)]
    classifier.nsfw_score = 0.01
    made(user, prompt="fine")
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "2 held image(s) and 0 reported share(s) wait for a review." in index
    queue = admin_client.get(reverse("admin:imagegen_reviewitem_changelist")).content.decode()
    assert "fine" not in queue  # only what waits
    for generation in held:
        assert reverse("admin:imagegen_generation_thumbnail", args=[generation.pk]) in queue
    assert "nsfw 0.93" in queue
    image = admin_client.get(reverse("admin:imagegen_generation_image", args=[held[0].pk]))
    assert image.status_code == 200 and "no-store" in image["Cache-Control"]
    admin_client.post(
        reverse("admin:imagegen_reviewitem_changelist"),
        {"action": "approve_selected", "_selected_action": [str(g.pk) for g in held]},
    )
    assert Generation.objects.filter(status="succeeded").count() == 3
    assert ReviewDecision.objects.filter(action="approve").count() == 2


def test_health_says_what_waits_and_whether_anything_checks(monitor, user, settings):
    settings.IMAGEGEN_SAFETY_CHECK = "auto"
    settings.HUGGINGFACE_API_TOKEN = ""
    settings.SIGNUP_LIMIT = 5
    Generation.objects.create(owner=user, prompt="x", width=64, height=64, status="held")
    details = monitor.get("/health").json()
    assert details["review"] == {"held": 1, "reported": 0}
    assert details["safety_check"] == "off"
    assert any("No image safety check" in warning for warning in details["warnings"])
    settings.IMAGEGEN_SAFETY_CHECK = "off"  # said on purpose
    assert not any("safety" in w for w in monitor.get("/health").json()["warnings"])
    assert HEALTH_TOKEN


def test_the_deploy_check_warns_while_sign_up_is_open_and_nothing_checks(settings, capsys):
    from django.core.management.base import SystemCheckError

    settings.IMAGEGEN_SAFETY_CHECK = "auto"
    settings.HUGGINGFACE_API_TOKEN = ""
    settings.SIGNUP_LIMIT = 5
    with pytest.raises(SystemCheckError, match="imagegen.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "safety")
    settings.SIGNUP_LIMIT = 0
    call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "safety")
