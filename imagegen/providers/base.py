"""The contract every image provider meets: what it is asked, what it answers, how it fails."""

import re
from dataclasses import dataclass

from django.conf import settings

# Hugging Face tokens look like hf_ followed by letters and digits.
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{8,}")


def redact(text):
    """Text with the site's secrets (and anything shaped like an HF token) blanked out."""
    text = str(text)
    for secret in (settings.HUGGINGFACE_API_TOKEN, settings.SECRET_KEY):
        if secret:
            text = text.replace(secret, "[redacted]")
    return TOKEN_PATTERN.sub("hf_[redacted]", text)


@dataclass(frozen=True)
class GenerationRequest:
    """What a provider is asked to draw. The seed is always chosen before the call."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    steps: int | None = None
    guidance: float | None = None


@dataclass(frozen=True)
class ProviderResult:
    """Untrusted image bytes from a provider, with what it says it used."""

    image: bytes
    model: str
    seed: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a provider accepts; the form offers and validates exactly this."""

    min_size: int = 256
    max_size: int = 1024
    size_step: int = 64
    negative_prompt: bool = True
    seed: bool = True
    steps: tuple[int, int] | None = (1, 50)
    guidance: tuple[float, float] | None = (0.0, 20.0)

    def accepts_size(self, value):
        return (
            self.min_size <= value <= self.max_size
            and (value - self.min_size) % self.size_step == 0
        )


class ProviderError(Exception):
    """A provider could not serve a request.

    `user_message` is safe to show anyone; `detail` is for admins and logs (never a secret);
    `retryable` says whether trying the same provider again may help; `try_next` whether the
    next configured provider should be asked.
    """

    failure_class = "provider_error"
    default_user_message = "The image service could not make this image. Please try again."

    def __init__(self, detail, *, user_message=None, retryable=False, try_next=True):
        detail = redact(detail)
        super().__init__(detail)
        self.detail = detail
        self.user_message = user_message or self.default_user_message
        self.retryable = retryable
        self.try_next = try_next


class ImageProvider:
    """Base class: one subclass per way of running a model, named in IMAGEGEN_PROVIDERS."""

    name = ""
    capabilities = Capabilities()

    def generate(self, request: GenerationRequest) -> ProviderResult:
        raise NotImplementedError
