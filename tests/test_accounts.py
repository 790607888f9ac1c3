"""Sign up, log in and log out with Django's auth."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.conftest import PASSWORD


def test_sign_up_creates_the_user_and_logs_them_in(client, db):
    response = client.post(
        reverse("signup"),
        {
            "username": "minji",
            "email": "minji@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response["Location"] == reverse("imagegen:create")
    user = get_user_model().objects.get(username="minji")
    assert user.email == "minji@example.org"
    assert client.get(reverse("imagegen:create")).status_code == 200


def test_sign_up_checks_like_django(client, user):
    response = client.post(
        reverse("signup"),
        {"username": "ALICE", "email": "", "password1": "short", "password2": "other"},
    )
    errors = response.context["form"].errors
    assert "A user with that username already exists." in errors["username"]
    assert "email" in errors
    assert "password2" in errors
    assert get_user_model().objects.count() == 1


def test_log_in_and_out(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response["Location"] == reverse("imagegen:create")
    assert client.get(reverse("imagegen:gallery")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("imagegen:gallery")).status_code == 302


def test_wrong_password_is_refused(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


KOREAN = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9"}
# Django's own formal Korean, which our catalogue re-words in the site's 해요 tone.
FORMAL_KOREAN = ("십시오", "와/과", "이/가", "은/는", "을/를", "습니다")


def test_the_sign_up_form_is_korean_for_korean_readers(client, db):
    page = client.get(reverse("signup"), **KOREAN).content.decode()
    assert "이메일(필수)" in page and "새 비밀번호를 정하는 링크를 이 주소로 보내요." in page
    assert "E-mail" not in page and "If you forget your password" not in page


def test_sign_up_and_log_in_speak_the_sites_tone_not_djangos_formal_one(client, user):
    signup = client.post(
        reverse("signup"),
        {"username": "alice", "email": "x", "password1": "1234", "password2": "12345"},
        **KOREAN,
    ).content.decode()
    assert "이미 쓰이고 있는 사용자 이름이에요." in signup
    assert "올바른 이메일 주소를 입력해 주세요." in signup
    assert "두 비밀번호가 서로 달라요." in signup
    empty = client.post(reverse("signup"), {}, **KOREAN).content.decode()
    assert "꼭 입력해 주세요." in empty
    login = client.post(
        reverse("login"), {"username": "alice", "password": "nope"}, **KOREAN
    ).content.decode()
    assert "사용자 이름 또는 비밀번호가 맞지 않아요." in login
    for page in (signup, empty, login, client.get(reverse("signup"), **KOREAN).content.decode()):
        assert [word for word in FORMAL_KOREAN if word in page] == []


def sign_up(client, name, time_zone=None, **headers):
    data = {"username": name, "email": f"{name}@example.org", "password1": PASSWORD}
    data["password2"] = PASSWORD
    if time_zone is not None:
        data["time_zone"] = time_zone
    response = client.post(reverse("signup"), data, **headers)
    assert response.status_code == 302, response.content.decode()
    return get_user_model().objects.get(username=name)


def test_a_new_account_takes_the_browsers_time_zone(client, db):
    user = sign_up(client, "lea", time_zone="Europe/Paris")
    assert user.profile.time_zone == "Europe/Paris"
    # Its first page already shows times there.
    page = client.get(reverse("profile")).content.decode()
    assert "Times are in your time zone, Europe/Paris." in page


@pytest.mark.parametrize(
    ("headers", "sent", "zone"),
    [
        (KOREAN, None, "Asia/Seoul"),  # no JavaScript
        (KOREAN, "Mars/Olympus_Mons", "Asia/Seoul"),  # not a zone
        ({"HTTP_ACCEPT_LANGUAGE": "en"}, None, ""),  # the site's
        ({"HTTP_ACCEPT_LANGUAGE": "en"}, "Asia/Tokyo", "Asia/Tokyo"),
    ],
)
def test_without_the_browsers_zone_korean_pages_default_to_seoul(client, db, headers, sent, zone):
    assert sign_up(client, "minsu", time_zone=sent, **headers).profile.time_zone == zone
