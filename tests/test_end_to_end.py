"""The whole slice through the public surface: sign up, post, run the task, fetch the image."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from tests.conftest import PASSWORD, run_queued_tasks


@pytest.mark.django_db(transaction=True)
def test_sign_up_generate_and_fetch_the_image(client):
    client.post(
        reverse("signup"),
        {
            "username": "traveller",
            "email": "t@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    response = client.post(
        reverse("imagegen:create"),
        {"prompt": "Night market in Taipei", "width": "512", "height": "384", "seed": "11"},
    )
    assert response.status_code == 302
    page = client.get(reverse("imagegen:create"))
    (generation,) = page.context["recent"]
    status_url = reverse("imagegen:status", args=[generation.pk])
    assert client.get(status_url).json()["status"] == "queued"

    assert run_queued_tasks() == 1

    status = client.get(status_url).json()
    assert status["status"] == "succeeded"
    image = client.get(status["image_url"])
    picture = Image.open(io.BytesIO(b"".join(image.streaming_content)))
    assert (picture.format, picture.size) == ("PNG", (512, 384))
    gallery = client.get(reverse("imagegen:gallery")).content.decode()
    assert status["thumbnail_url"] in gallery
