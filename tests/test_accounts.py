"""Sign up, log in and log out with Django's auth."""

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
