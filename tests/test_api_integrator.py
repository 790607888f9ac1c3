"""An integrator's first hour, end to end, against the real server and a real worker: a key from
`create_api_key`, the routes read from the published schema, four images asked for in one
request with a callback, four signed webhooks verified with the Standard Webhooks reference
library, and the images downloaded with the key."""

import io
import re
import time
from io import StringIO

import httpx
import pytest
from django.core.management import call_command
from PIL import Image
from standardwebhooks import Webhook

from tests.fakes.webhook_receiver import start_receiver

pytestmark = pytest.mark.worker

PRIVATE_URLS = {"WEBHOOK_ALLOW_PRIVATE_URLS": "true"}  # the receiver is on 127.0.0.1


@pytest.fixture
def receiver():
    server = start_receiver()
    yield server
    server.stop()


def test_four_images_with_a_signed_callback_each(serve_site, start_worker, make_user, receiver):
    site = serve_site(**PRIVATE_URLS)
    start_worker(**PRIVATE_URLS)
    make_user("tripbot")
    out = StringIO()
    call_command("create_api_key", "tripbot", "travel chat bot", stdout=out)
    key = re.search(r"key:\s+(tf_\S+)", out.getvalue())[1]
    secret = re.search(r"webhook secret:\s+(whsec_\S+)", out.getvalue())[1]

    with httpx.Client(base_url=site, headers={"Authorization": f"Bearer {key}"}) as api:
        # Everything below is what the docs page (built from this schema) lists.
        assert api.get("/api/v1/docs").status_code == 200
        schema = api.get("/api/v1/openapi.json").json()
        create = schema["paths"]["/api/v1/generations"]["post"]
        assert "callback_url" in str(create) and "n" in str(create)

        asked = api.post(
            "/api/v1/generations",
            json={
                "prompt": "Night market in Taipei, lanterns",
                "n": 4,
                "callback_url": receiver.url("/travel-bot/hook"),
            },
        )
        assert asked.status_code == 201, asked.text
        ids = {item["id"] for item in asked.json()["results"]}
        assert len(ids) == 4

        deadline = time.monotonic() + 90
        while len(receiver.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(receiver.received) == 4

        verifier = Webhook(secret)
        called_for = set()
        for call in receiver.received:
            assert call.path == "/travel-bot/hook"
            event = verifier.verify(call.body, call.headers)  # raises on a bad signature
            assert event["type"] == "generation.succeeded"
            data = event["data"]
            called_for.add(data["id"])
            image = api.get(data["image_url"])  # a path, or absolute with SITE_URL
            assert image.status_code == 200
            assert Image.open(io.BytesIO(image.content)).size == (data["width"], data["height"])
        assert called_for == ids

        # A tampered body is refused by the same verification.
        call = receiver.received[0]
        with pytest.raises(Exception, match="(?i)signature"):
            verifier.verify(call.body.replace(b"succeeded", b"failed"), call.headers)
