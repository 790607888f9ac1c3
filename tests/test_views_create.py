"""The prompt page: the form's checks, the quota shown, and what a valid post queues."""

import pytest
from django.urls import reverse

from imagegen import services
from imagegen.models import Generation, Quota

URL = reverse("imagegen:create")
VALID = {"prompt": "Hanok village in the snow", "width": "512", "height": "512", "seed": ""}


def post(client, **changes):
    return client.post(URL, {**VALID, **changes})


def assert_nothing_taken(user):
    assert not Generation.objects.filter(owner=user).exists()
    quota = Quota.objects.filter(user=user).first()
    assert quota is None or quota.day_used == 0


def test_a_visitor_gets_the_landing_page_and_a_visitors_post_is_sent_to_log_in(client, db):
    """/ is the create page only for a signed-in user; a visitor learns what TravelFit makes
    (tests/test_browser_phone.py), and a post from a session that ended still goes to log in."""
    page = client.get(URL)
    assert page.status_code == 200
    assert "landing-hero" in page.content.decode() and 'name="prompt"' not in page.content.decode()
    response = client.post(URL, VALID)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Generation.objects.exists()


def test_page_shows_the_quota_left(user_client, user):
    services.submit_generation(user=user, prompt="x", width=512, height=512)
    response = user_client.get(URL)
    body = response.content.decode()
    assert "19 of 20</strong> units left today" in body
    assert "299 of 300</strong> units left this month" in body


def test_valid_post_queues_one_generation_and_takes_quota(user_client, user):
    response = post(user_client, prompt="  Busan harbour at dusk  ", seed="42")
    assert response.status_code == 302
    generation = Generation.objects.get(owner=user)
    assert generation.prompt == "Busan harbour at dusk"
    assert (generation.width, generation.height, generation.seed) == (512, 512, 42)
    assert generation.status == Generation.Status.QUEUED
    assert Quota.objects.get(user=user).day_used == 1
    page = user_client.get(URL).content.decode()
    assert f'id="g-{generation.pk}"' in page
    assert "Busan harbour at dusk" in page


def test_korean_prompt_is_kept_as_written(user_client, user):
    post(user_client, prompt="제주도 해변의 일출, 여행 엽서")
    assert Generation.objects.get(owner=user).prompt == "제주도 해변의 일출, 여행 엽서"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "cannot be empty"),
        ({"prompt": "   \n\t "}, "prompt", "cannot be empty"),
        ({"prompt": "x" * 1001}, "prompt", "Keep it under 1000 characters"),
        ({"prompt": "beach\x07party"}, "prompt", "U+0007"),
        ({"negative_prompt": "blur\x1b[31m"}, "negative_prompt", "U+001B"),
        ({"width": "4096"}, "width", "between 256 and 1024"),
        ({"height": "100"}, "height", "between 256 and 1024"),
        ({"width": "500"}, "width", "steps of 64"),
        ({"seed": "-1"}, "seed", "greater than or equal to 0"),
        ({"seed": str(2**31)}, "seed", "less than or equal to 2147483647"),
        ({"seed": "abc"}, "seed", "whole number"),
    ],
)
def test_bad_input_names_the_field_and_takes_nothing(user_client, user, changes, field, message):
    response = post(user_client, **changes)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert_nothing_taken(user)


def test_prompt_of_exactly_the_limit_is_accepted(user_client, user, settings):
    settings.IMAGEGEN_MAX_PROMPT_LENGTH = 20
    assert post(user_client, prompt="y" * 20).status_code == 302
    assert post(user_client, prompt="y" * 21).status_code == 200
    assert Generation.objects.filter(owner=user).count() == 1


def test_at_zero_quota_the_form_says_when_it_resets_and_queues_nothing(user_client, user):
    quota = services.quota_for(user)
    quota.daily_limit = 1
    quota.save()
    post(user_client)
    page = user_client.get(URL).content.decode()
    assert "0 of 1</strong> units left today" in page
    assert "More from" in page
    assert 'disabled aria-describedby="quota-note"' in page
    response = post(user_client, prompt="one more please")
    assert response.status_code == 200
    # Said once, by the quota box, not again by the form (see test_views_cards.py).
    assert "You have used all of today's units." in response.content.decode()
    assert Generation.objects.filter(owner=user).count() == 1


def test_the_page_asks_for_up_to_four_pictures_with_quota_for_all(user_client, user):
    page = user_client.get(URL).content.decode()
    for count in range(1, 5):
        assert f'name="n" value="{count}"' in page
    response = post(user_client, prompt="Jeonju hanok village", n="3")
    assert response.status_code == 302
    made = Generation.objects.filter(owner=user)
    assert made.count() == 3 and {g.prompt for g in made} == {"Jeonju hanok village"}
    assert Quota.objects.get(user=user).day_used == 3
    notice = [str(m) for m in user_client.get(URL).context["messages"]]
    assert notice == ["Queued 3 pictures. They will appear below when they are ready."]


def test_more_pictures_than_are_left_queues_none(user_client, user):
    Quota.objects.create(user=user, day_used=18, day=services.Periods.current().day)
    response = post(user_client, n="4")
    assert response.status_code == 200
    assert not Generation.objects.filter(owner=user).exists()
    assert Quota.objects.get(user=user).day_used == 18
    assert post(user_client, n="5").context["form"].errors["n"] == [
        "Ask for 1 to 4 pictures at a time."
    ]


def test_the_form_keeps_what_was_asked_after_a_submission(user_client, user, presets):
    from imagegen.models import Preset

    preset = Preset.objects.get(name="Street photo")
    post(user_client, prompt="Gwangjang market at noon", preset=str(preset.pk), n="2")
    form = user_client.get(URL).context["form"]
    assert form["prompt"].value() == "Gwangjang market at noon"  # the words, not the template
    assert str(form["preset"].value()) == str(preset.pk)
    assert str(form["n"].value()) == "2"
    # A remix link still wins over the last request.
    first = Generation.objects.filter(owner=user).first()
    first.prompt, first.preset, first.preset_input = "Seoul forest", None, ""
    first.save()
    remix = user_client.get(URL, {"from": str(first.pk)}).context["form"]
    assert remix["prompt"].value() == "Seoul forest"


def test_after_a_submission_the_page_opens_at_the_new_work(user_client, user):
    """On a phone the latest work is far below the form: the page opens at it."""
    response = post(user_client)
    assert response["Location"] == URL + "#latest"
    page = user_client.get(URL).content.decode()
    generation = Generation.objects.get(owner=user)
    latest = page.split('id="latest"', 1)[1]
    assert f'id="g-{generation.pk}"' in latest
