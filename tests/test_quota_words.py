"""One word for the quota everywhere: units ("크레딧" in Korean), as the API says; pictures are
counted apart ("장"). A refusal for more than is left says how many pictures still fit, and the
create page offers them in one tap."""

import html
import json
import re

import pytest
from django.urls import reverse

from imagegen import selectors, services
from imagegen.models import Generation

CREATE = reverse("imagegen:create")
REQUEST = {"prompt": "Jeju at sunrise", "width": "512", "height": "512", "seed": ""}
KOREAN = {"HTTP_ACCEPT_LANGUAGE": "ko"}
# Korean quota words the site used before it chose one: 회 (times), 생성 횟수/한도.
OLD_KOREAN_WORDS = re.compile(r"\d+회|회 중|생성 횟수|생성 한도")


def use_quota(user, *, daily_limit=20, used_today=0, bonus=0):
    quota = services.quota_for(user)
    periods = services.Periods.current()
    quota.daily_limit, quota.bonus_credits = daily_limit, bonus
    quota.day, quota.day_used = periods.day, used_today
    quota.month, quota.month_used = periods.month, used_today
    quota.save()


def offer_fields(body):
    """The fields of the page's "Make N instead" form, as the browser would send them."""
    form = re.search(r'<form[^>]*id="quota-offer"[^>]*>(.*?)</form>', body, re.S)
    assert form, "no offer on the page"
    return [
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]*)" value="([^"]*)"', form[1]
        )
    ]


def test_a_refusal_for_four_with_three_left_offers_three_in_one_tap(user_client, user):
    use_quota(user, used_today=17)
    response = user_client.post(CREATE, {**REQUEST, "n": "4", "aspect": "square"})
    body = response.content.decode()
    assert (
        "This needs 4 units, but only 3 of today&#x27;s units are left. "
        "You can make 3 pictures now." in body
    )
    button = re.search(r'<button[^>]*form="quota-offer"[^>]*>([^<]*)</button>', body)
    assert button and 'name="n" value="3"' in button[0]
    assert button[1].strip() == "Make 3 pictures instead"
    assert not Generation.objects.filter(owner=user).exists()

    fields = offer_fields(body)
    assert ("prompt", "Jeju at sunrise") in fields and ("aspect", "square") in fields
    assert "n" not in dict(fields)  # the button brings it
    data = {}
    for name, value in [*fields, ("n", "3")]:
        data.setdefault(name, []).append(value)
    assert user_client.post(CREATE, data).status_code == 302
    made = Generation.objects.filter(owner=user)
    assert made.count() == 3 and {g.prompt for g in made} == {"Jeju at sunrise"}
    assert selectors.quota_status(user).day_left == 0


def test_nothing_is_offered_when_not_even_one_picture_fits(user_client, user, settings):
    settings.IMAGEGEN_TIERS = [("fast", ["demo"], 1), ("best", ["demo"], 3)]
    settings.IMAGEGEN_DEFAULT_TIER = "fast"
    use_quota(user, used_today=18)
    body = user_client.post(CREATE, {**REQUEST, "n": "1", "tier": "best"}).content.decode()
    assert (
        "This needs 3 units, but only 2 of today&#x27;s units are left, too few for a picture."
        in body
    )
    assert 'id="quota-offer"' not in body


def test_a_priced_tier_offers_the_pictures_its_price_fits(user_client, user, settings):
    settings.IMAGEGEN_TIERS = [("fast", ["demo"], 1), ("best", ["demo"], 3)]
    settings.IMAGEGEN_DEFAULT_TIER = "fast"
    use_quota(user, used_today=13)
    body = user_client.post(CREATE, {**REQUEST, "n": "4", "tier": "best"}).content.decode()
    assert "This needs 12 units, but only 7 of today&#x27;s units are left." in body
    assert "You can make 2 pictures now." in body
    assert 'form="quota-offer" name="n" value="2"' in body


def test_bonus_credits_count_in_what_is_offered(user, api):
    """A smaller batch may be paid from the bonus alone: the offer counts it."""
    use_quota(user, daily_limit=1, used_today=1, bonus=2)
    response = api.post(
        reverse("api:generations"),
        json.dumps({"prompt": "Jeju", "width": 512, "height": 512, "n": 4}),
        content_type="application/json",
    )
    assert response.status_code == 429
    assert "You have used all 1 of today's units." in response.json()["error"]["message"]
    with pytest.raises(services.QuotaExceeded) as refused:
        services.submit_generations(user=user, count=4, prompt="x", width=512, height=512)
    assert refused.value.fits == 2


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (15, "6크레딧이 필요한데 오늘 남은 크레딧은 5크레딧이에요. 지금은 1장까지 만들 수 있어요."),
        (20, "오늘 받은 20크레딧을 모두 썼어요."),
    ],
)
def test_the_korean_refusal_puts_the_unit_word_after_every_number(
    user, api, settings, used, expected
):
    """The API and the pages share the one refusal text: "5크레딧이에요", never "5이에요"."""
    settings.IMAGEGEN_TIERS = [("fast", ["demo"], 1), ("best", ["demo"], 3)]
    settings.IMAGEGEN_DEFAULT_TIER = "fast"
    use_quota(user, used_today=used)
    response = api.post(
        reverse("api:generations"),
        json.dumps({"prompt": "제주", "width": 512, "height": 512, "n": 2, "tier": "best"}),
        content_type="application/json",
        **KOREAN,
    )
    assert response.status_code == 429
    message = response.json()["error"]["message"]
    assert message.startswith(expected), message
    assert not re.search(r"\d(이에요|을|를|이라)", message), message


def test_every_quota_text_says_units_in_korean(client, user_client, user, make_user):
    use_quota(user, daily_limit=3, used_today=3)
    pages = {
        "create": user_client.get(CREATE, **KOREAN),
        "profile": user_client.get(reverse("profile"), **KOREAN),
        "refused": user_client.post(CREATE, {**REQUEST, "n": "1"}, **KOREAN),
    }
    client.logout()
    pages["signup"] = client.get(reverse("signup"), **KOREAN)
    for name, response in pages.items():
        body = response.content.decode()
        assert "크레딧" in body, name
        assert not OLD_KOREAN_WORDS.search(body), (name, OLD_KOREAN_WORDS.search(body))
    assert "오늘 <strong>3크레딧 중 0크레딧</strong> 남음" in pages["create"].content.decode()
    assert "오늘 크레딧을 모두 썼어요." in pages["create"].content.decode()
    # Pictures are counted in 장, never 개.
    profile = pages["profile"].content.decode()
    assert re.search(r"이미지 \d+장을 요청해서 \d+장을 만들었고", profile)
    signup = pages["signup"].content.decode()
    assert "하루에 20크레딧을 드려요. 한 장에 1크레딧이에요." in signup
