"""Provider classes for tests, named by dotted path in IMAGEGEN_PROVIDERS.

They stand where a remote service would: what they return or raise is what a real provider
could. The real providers' own tests use real servers on 127.0.0.1 instead.
"""

import dataclasses
import io

from PIL import Image

from imagegen.providers.base import ImageProvider, Misconfigured, ProviderResult
from imagegen.providers.demo import DemoProvider


class CrashingProvider(ImageProvider):
    """Raises an exception no provider should: a bug, not a mapped failure."""

    name = "crashing"

    def generate(self, request):
        raise RuntimeError("boom: the provider library blew up")


class RefusingProvider(ImageProvider):
    """Fails the way a misconfigured provider does: a mapped error, try the next one."""

    name = "refusing"

    def generate(self, request):
        raise Misconfigured("the far side said no", user_message="The service said no.")


class GarbageProvider(ImageProvider):
    """Answers with bytes that are not an image."""

    name = "garbage"

    def generate(self, request):
        return ProviderResult(image=b"<html>Service Unavailable</html>", model="garbage-1")


class WrongSizeProvider(ImageProvider):
    """Answers with a valid PNG of a size nobody asked for."""

    name = "wrong-size"

    def generate(self, request):
        buffer = io.BytesIO()
        Image.new("RGB", (request.width + 64, request.height), "red").save(buffer, "PNG")
        return ProviderResult(image=buffer.getvalue(), model="wrong-size-1")


class LeakyProvider(ImageProvider):
    """A library error whose message carries the token, as some HTTP errors do."""

    name = "leaky"

    def generate(self, request):
        from django.conf import settings

        raise RuntimeError(
            f"401 for request with Authorization: Bearer {settings.HUGGINGFACE_API_TOKEN}"
        )


class JpegDemoProvider(DemoProvider):
    """The demo's pictures (every task), answered as JPEG at quality 90, as fal and many
    Spaces answer: the marks must keep a JPEG a JPEG."""

    name = "jpeg-demo"

    def generate(self, request):
        result = super().generate(request)
        buffer = io.BytesIO()
        Image.open(io.BytesIO(result.image)).convert("RGB").save(buffer, "JPEG", quality=90)
        return dataclasses.replace(result, image=buffer.getvalue(), model="travelfit-demo-jpeg")


class HubModelDemoProvider(DemoProvider):
    """The demo's pictures, said to come from a Hub model (FLUX.1 Kontext [dev], whose card's
    licence is non-commercial): what a result's manifest records of a model's licence."""

    name = "hub-model-demo"
    model = "black-forest-labs/FLUX.1-Kontext-dev"
