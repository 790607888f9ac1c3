"""Hugging Face through `huggingface_hub.InferenceClient`: Inference Providers and endpoints.

`hf_inference` calls a Hub model through the Inference Providers router (fal-ai by default,
the original backend's choice): HF_MODEL draws from words, and HF_EDIT_MODEL (on
HF_EDIT_PROVIDER) changes the user's photo as the words say, the `edit` task. `hf_endpoint`
calls a dedicated Inference Endpoint or a server of your own that speaks its protocol. They
share the client set-up and the mapping of the library's exceptions to ours (PROVIDERS.md has
what the library really raises).
"""

import io
import json
import logging
import re
from decimal import Decimal
from typing import NamedTuple

import httpx2
from django.conf import settings
from huggingface_hub import HfApi, InferenceClient, constants
from huggingface_hub.errors import (
    BadRequestError,
    GatedRepoError,
    HfHubHTTPError,
    InferenceTimeoutError,
    RepositoryNotFoundError,
)
from PIL import UnidentifiedImageError

from ..images import PNG_SIGNATURE, encode_png
from ..user_messages import refused_request
from .base import (
    EDIT,
    TEXT,
    AccessDenied,
    BadOutput,
    Capabilities,
    GenerationRequest,
    HubRepo,
    ImageProvider,
    Misconfigured,
    ModelUnavailable,
    OutOfQuota,
    PromptRejected,
    ProviderError,
    ProviderResult,
    TaskUnsupported,
    Unavailable,
)
from .hf_client import (
    TOKEN_HELP,
    bounded,
    check_token,
    listening_for_flags,
    models_page,
    page_of,
    prepare_client_library,
    server_message,
    use_timeout_everywhere,
)

logger = logging.getLogger(__name__)

GPU_QUOTA = re.compile(r"exceeded your (GPU|ZeroGPU) quota", re.I)
CREDITS = re.compile(r"(exceeded your monthly included credits|pay-as-you-go|credit)", re.I)
# "Try again in 0:12:34" or "retry in 754s" in quota messages.
WAIT_CLOCK = re.compile(r"(?:try again|retry) in (\d+):(\d{2}):(\d{2})", re.I)
WAIT_SECONDS = re.compile(r"(?:try again|retry) in (\d+(?:\.\d+)?) ?s", re.I)


class TaskSettings(NamedTuple):
    """What admin details and checks name for one task: its settings and its Hub models."""

    model: str  # the setting that names the model
    provider: str  # the setting that names the inference provider
    pipeline_tag: str  # the Hub's pipeline tag of models that do the task
    kind: str  # such a model, in words
    example: str  # a model that does it


TASK_SETTINGS = {
    TEXT: TaskSettings(
        model="HF_MODEL",
        provider="HF_INFERENCE_PROVIDER",
        pipeline_tag="text-to-image",
        kind="a text-to-image model",
        example="stabilityai/stable-diffusion-3-medium",
    ),
    EDIT: TaskSettings(
        model="HF_EDIT_MODEL",
        provider="HF_EDIT_PROVIDER",
        pipeline_tag="image-to-image",
        kind="an image-to-image model",
        example="black-forest-labs/FLUX.1-Kontext-dev",
    ),
}


def _provider_flag(flags, where):
    """The note for a ProviderResult: why the provider flagged the image (the first, which
    is the one the library returns), or ""."""
    first = flags[-1][0] if flags and flags[-1] else False
    if first is not True:
        return ""
    return (
        f"Flagged by the provider: {where} answered has_nsfw_concepts true for this image "
        "(it may have sent a black image in its place)."
    )


def retry_after_seconds(response: httpx2.Response | None, message: str = "") -> float | None:
    """Seconds to wait from a Retry-After header, an estimated_time field or the message."""
    if response is not None:
        header = response.headers.get("retry-after")
        if header:
            try:
                return max(0.0, float(header))
            except ValueError:
                pass
        try:
            estimated = response.json().get("estimated_time")
        except Exception:  # not JSON, or not an object: no estimate given
            estimated = None
        if isinstance(estimated, int | float):
            return float(estimated)
    clock = WAIT_CLOCK.search(message or "")
    if clock:
        hours, minutes, seconds = (int(part) for part in clock.groups())
        return float(hours * 3600 + minutes * 60 + seconds)
    plain = WAIT_SECONDS.search(message or "")
    if plain:
        return float(plain.group(1))
    return None


def translate_error(exc: Exception, *, model: str, where: str, task: str = TEXT) -> ProviderError:
    """One of our ProviderErrors for whatever the client library raised.

    `task` picks the settings and the kind of model the admin detail points to (HF_MODEL and
    text-to-image models, or HF_EDIT_MODEL and image-to-image ones).
    """
    names = TASK_SETTINGS[task]
    message = server_message(exc)
    page = page_of(model)
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, GatedRepoError):
        return AccessDenied(
            f"{where}: the token may not use the gated model {model} ({message}). Open {page}, "
            "log in as the token's owner and press 'Agree and access repository'; "
            "for a duplicated Space, restart it afterwards."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return ModelUnavailable(
            f"{where}: no model {model} on the Hub ({message}). Check {names.model}; pick a "
            f"model at {models_page(names.pipeline_tag)}."
        )
    if isinstance(exc, InferenceTimeoutError | httpx2.TimeoutException | TimeoutError):
        return Unavailable(f"{where}: no answer within the timeout ({type(exc).__name__}).")
    if isinstance(exc, BadRequestError):
        return PromptRejected(
            f"{where}: the request was refused (400): {message}",
            user_message=refused_request(message)[:300],
        )
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return _translate_status(exc, exc.response, message, model=model, where=where, task=task)
    if isinstance(exc, httpx2.TransportError):
        return Unavailable(f"{where}: could not reach the service ({type(exc).__name__}: {exc}).")
    if isinstance(exc, UnidentifiedImageError):
        return BadOutput(f"{where}: the answer was not an image ({exc}).")
    if isinstance(exc, json.JSONDecodeError):
        return BadOutput(f"{where}: the answer was not the JSON expected ({exc}).")
    if isinstance(exc, ValueError) and "is not supported" in str(exc):
        provider = getattr(settings, names.provider)
        return Misconfigured(
            f"{where}: {exc} Choose another {names.provider} (or 'auto'), or a model that "
            f"provider serves: {models_page(names.pipeline_tag, provider)}"
        )
    if isinstance(exc, IndexError) or "images_data" in str(exc):
        return Unavailable(
            f"{where}: an empty result (images_data is empty): the model may be loading "
            f"(cold start) ({type(exc).__name__}: {exc})."
        )
    # fal's queue answered without a request id, or a result without its images.
    if isinstance(exc, KeyError) or "No request ID" in str(exc):
        return Unavailable(
            f"{where}: an answer without the fields expected ({type(exc).__name__}: {exc}): "
            "the service may be failing or have changed its protocol."
        )
    return ProviderError(f"{where}: {type(exc).__name__}: {exc}")


def _translate_status(exc, response, message, *, model, where, task):
    status = response.status_code
    said = f"{where}: HTTP {status}: {message}"
    if GPU_QUOTA.search(message) or status == 402 or (status == 429 and CREDITS.search(message)):
        wait = retry_after_seconds(response, message)
        return OutOfQuota(
            f"{said}. The account's GPU quota or credits are used up: wait for them to renew, "
            "buy credits or PRO ($9/month includes provider credits), or put another "
            "provider after this one in IMAGEGEN_PROVIDERS.",
            cooldown=wait or settings.IMAGEGEN_COOLDOWN,
        )
    if status == 429:
        wait = retry_after_seconds(response, message)
        return OutOfQuota(
            f"{said}. Rate limited; cooling down.", cooldown=wait or settings.IMAGEGEN_COOLDOWN
        )
    if status == 401:
        return Misconfigured(f"{said}. {TOKEN_HELP}")
    if status == 403:
        return AccessDenied(
            f"{said}. The token may not use {model}: if the model is gated, open {page_of(model)} "
            "and press 'Agree and access repository'; a fine-grained token also needs the "
            "'Make calls to Inference Providers' permission."
        )
    if status in (404, 410):
        names = TASK_SETTINGS[task]
        gone = "was retired" if status == 410 else "was not found"
        return ModelUnavailable(
            f"{said}. The model {model} {gone} at this provider: set {names.model} to another "
            f"{names.pipeline_tag} model ({models_page(names.pipeline_tag)})."
        )
    if status in (400, 422):
        return PromptRejected(said, user_message=refused_request(message)[:300])
    if status in (500, 502, 503, 504) or status >= 500:
        return Unavailable(
            f"{said}. The model may be loading (cold start) or the service is busy.",
            retry_after=retry_after_seconds(response, message),
        )
    return ProviderError(said)


def hourly_cost(usd_per_hour: Decimal, seconds: float) -> Decimal:
    """The share of an hourly price that `seconds` of use costs, to a millionth of a dollar."""
    return (usd_per_hour * Decimal(str(seconds)) / 3600).quantize(Decimal("0.000001"))


def _image_bytes(image):
    """The bytes the service sent, as the client library read them.

    huggingface_hub's text_to_image returns `Image.open(BytesIO(content))`, which decodes
    nothing until asked: the original bytes are still there, and storing them costs nothing,
    where decoding and re-encoding a 1024² PNG took a third of a second of CPU. Should a
    future client hand over a decoded image instead, it is encoded once, quickly.
    """
    source = getattr(image, "fp", None)
    if isinstance(source, io.BytesIO) and getattr(image, "format", None):
        return source.getvalue()
    return encode_png(image)


def _text_to_image(client, request, *, model, where, pass_model):
    """Ask the client for the image with every parameter the request carries.

    `pass_model` is False for an endpoint client, which was built with its URL as the model.
    """
    try:
        with listening_for_flags() as flags:
            image = client.text_to_image(
                request.prompt,
                negative_prompt=request.negative_prompt or None,
                width=request.width,
                height=request.height,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                seed=request.seed,
                **({"model": model} if pass_model else {}),
            )
    except Exception as exc:
        raise translate_error(exc, model=model, where=where) from exc
    return ProviderResult(
        image=_image_bytes(image),
        model=model,
        seed=request.seed,
        provider_flag=_provider_flag(flags, where),
    )


def _named_photo(data):
    """The photo as a file whose name gives its type: the library labels the data URL it sends
    by the name (raw bytes would all go as image/jpeg, PNGs included)."""
    photo = io.BytesIO(data or b"")
    photo.name = "photo.png" if (data or b"").startswith(PNG_SIGNATURE) else "photo.jpg"
    return photo


def _image_to_image(client, request, *, model, provider, where):
    """Ask the client to change the request's photo as its prompt says, within HF_TIMEOUT.

    On fal-ai this is a queued job (submit, poll, fetch the result, download the image), so
    the whole call, not each request, is bounded.
    """
    try:
        with bounded(settings.HF_TIMEOUT), listening_for_flags() as flags:
            image = client.image_to_image(
                # hf-inference posts the bytes themselves; the others, fal-ai among them, send
                # a data URL, labelled by the file's name.
                request.source if provider == "hf-inference" else _named_photo(request.source),
                prompt=request.prompt,
                model=model,
                negative_prompt=request.negative_prompt or None,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                seed=request.seed,
            )
    except Exception as exc:
        raise translate_error(exc, model=model, where=where, task=EDIT) from exc
    return ProviderResult(
        image=_image_bytes(image),
        model=model,
        seed=request.seed,
        provider_flag=_provider_flag(flags, where),
    )


def _model_problems(api, *, model, provider, task):
    """Whether the Hub has `model`, this token may use it, and `provider` serves it for the
    task, as (problem, fix) pairs naming the task's settings."""
    names = TASK_SETTINGS[task]
    try:
        info = api.model_info(model, expand=["inferenceProviderMapping"])
    except GatedRepoError:
        return [
            (
                f"{model} is gated and this token's owner has no access.",
                f"Open {page_of(model)}, log in as the token's owner and press "
                "'Agree and access repository'.",
            )
        ]
    except RepositoryNotFoundError:
        return [
            (
                f"No model {model} on the Hub.",
                f"Set {names.model} to {names.kind}, e.g. {names.example}.",
            )
        ]
    except httpx2.HTTPError as exc:
        return [(f"Could not look up {model}: {exc}", "Try again later.")]
    mappings = info.inference_provider_mapping or []
    served_by = {m.provider: m for m in mappings}
    if provider != "auto" and provider not in served_by:
        listed = ", ".join(sorted(served_by)) or "none"
        return [
            (
                f"{model} is not served by {provider} (served by: {listed}).",
                f"Set {names.provider} to one of those (or auto), or choose another {names.model}.",
            )
        ]
    if provider == "auto" and not served_by:
        return [(f"No inference provider serves {model}.", f"Choose another {names.model}.")]
    # "auto" takes the first provider the Hub lists, whatever it serves the model for.
    mapping = mappings[0] if provider == "auto" else served_by[provider]
    if mapping.task != names.pipeline_tag:
        return [
            (
                f"{mapping.provider} serves {model} for {mapping.task}, not {names.pipeline_tag}.",
                f"Set {names.model} to {names.kind} that {mapping.provider} "
                f"serves: {models_page(names.pipeline_tag, mapping.provider)}",
            )
        ]
    return []


class HFInferenceProvider(ImageProvider):
    """A Hub model through the Inference Providers router: HF_MODEL on HF_INFERENCE_PROVIDER
    for text, HF_EDIT_MODEL on HF_EDIT_PROVIDER for edits."""

    name = "hf_inference"
    capabilities = Capabilities(
        min_size=256,
        max_size=1536,
        size_step=64,
        steps=(1, 50),
        guidance=(0.0, 20.0),
        tasks=frozenset({TEXT, EDIT}),
    )

    def __init__(self) -> None:
        self.provider = settings.HF_INFERENCE_PROVIDER
        self._model = settings.HF_MODEL
        self.edit_provider = settings.HF_EDIT_PROVIDER
        self.edit_model = settings.HF_EDIT_MODEL

    @property
    def model(self) -> str:
        return self._model

    def hub_repos(self) -> list[HubRepo]:
        return [HubRepo(model, model) for model in (self._model, self.edit_model) if model]

    def cost(self, seconds: float) -> Decimal:
        # Inference Providers bill per image (the price of the provider serving the model).
        return settings.IMAGEGEN_INFERENCE_USD_PER_IMAGE

    def _client(self, provider):
        token = settings.HUGGINGFACE_API_TOKEN
        if not token:
            raise Misconfigured(f"{self.name}: HUGGINGFACE_API_TOKEN is not set. {TOKEN_HELP}")
        prepare_client_library()
        return InferenceClient(provider=provider, api_key=token, timeout=settings.HF_TIMEOUT)

    def generate(self, request: GenerationRequest) -> ProviderResult:
        if request.task == EDIT:
            return _image_to_image(
                self._client(self.edit_provider),
                request,
                model=self.edit_model,
                provider=self.edit_provider,
                where=f"{self.name} ({self.edit_provider}, {self.edit_model})",
            )
        if request.task != TEXT:
            raise TaskUnsupported(f"{self.name} cannot do {request.task}.")
        return _text_to_image(
            self._client(self.provider),
            request,
            model=self._model,
            where=f"{self.name} ({self.provider}, {self._model})",
            pass_model=True,
        )

    def configuration_problems(self) -> list[tuple[str, str]]:
        return check_token()

    def check(self) -> list[tuple[str, str]]:
        problems = self.configuration_problems()
        if problems:
            return problems
        api = HfApi(token=settings.HUGGINGFACE_API_TOKEN)
        try:
            api.whoami()
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 401:
                return [("The Hub refused HUGGINGFACE_API_TOKEN (401 Unauthorized).", TOKEN_HELP)]
            return [(f"Could not check the token: {server_message(exc)}", "Try again later.")]
        except httpx2.HTTPError as exc:
            return [
                (
                    f"Cannot reach the Hub at {constants.ENDPOINT} ({type(exc).__name__}).",
                    "Check this machine's network, proxy, and HF_ENDPOINT if you set it.",
                )
            ]
        return _model_problems(
            api, model=self._model, provider=self.provider, task=TEXT
        ) + _model_problems(api, model=self.edit_model, provider=self.edit_provider, task=EDIT)


class HFEndpointProvider(ImageProvider):
    """A dedicated Inference Endpoint (or own server) at HF_ENDPOINT_URL."""

    name = "hf_endpoint"
    capabilities = Capabilities(
        min_size=256,
        max_size=1536,
        size_step=64,
        steps=(1, 100),
        guidance=(0.0, 20.0),
    )

    def __init__(self) -> None:
        self.url = settings.HF_ENDPOINT_URL

    @property
    def model(self) -> str:
        return self.url

    def cost(self, seconds: float) -> Decimal:
        # A dedicated endpoint bills its hours; an image costs the seconds it held the GPU.
        return hourly_cost(settings.IMAGEGEN_ENDPOINT_USD_PER_HOUR, seconds)

    def generate(self, request: GenerationRequest) -> ProviderResult:
        if not self.url:
            raise Misconfigured(
                f"{self.name}: HF_ENDPOINT_URL is not set. Copy the endpoint's URL from "
                "https://endpoints.huggingface.co into HF_ENDPOINT_URL."
            )
        use_timeout_everywhere(settings.HF_TIMEOUT)
        # A scaled-to-zero endpoint answers 503 while a replica starts, unless asked to hold
        # the request for up to this many seconds.
        scale_up = settings.HF_ENDPOINT_SCALE_UP_TIMEOUT
        client = InferenceClient(
            model=self.url,
            token=settings.HUGGINGFACE_API_TOKEN or None,
            timeout=max(settings.HF_TIMEOUT, scale_up),
            headers={"X-Scale-Up-Timeout": str(scale_up)} if scale_up else None,
        )
        return _text_to_image(
            client, request, model=self.url, where=f"{self.name} ({self.url})", pass_model=False
        )

    def configuration_problems(self) -> list[tuple[str, str]]:
        if not self.url:
            return [
                (
                    "HF_ENDPOINT_URL is not set.",
                    "Copy the endpoint's URL from https://endpoints.huggingface.co.",
                )
            ]
        return []

    def check(self) -> list[tuple[str, str]]:
        problems = self.configuration_problems()
        if problems:
            return problems
        headers = {}
        if settings.HUGGINGFACE_API_TOKEN:
            headers["authorization"] = f"Bearer {settings.HUGGINGFACE_API_TOKEN}"
        try:
            response = httpx2.get(self.url, headers=headers, timeout=settings.HF_TIMEOUT)
        except httpx2.HTTPError as exc:
            return [
                (
                    f"Cannot reach {self.url} ({type(exc).__name__}).",
                    "Check HF_ENDPOINT_URL and that the endpoint is running.",
                )
            ]
        if response.status_code == 401:
            return [("The endpoint refused the token (401).", TOKEN_HELP)]
        if response.status_code == 403:
            return [
                (
                    "The endpoint refused this token (403).",
                    "Use a token of the endpoint's owner or organisation.",
                )
            ]
        # Anything else answered: the endpoint exists. A 503 is a replica starting or scaled
        # to zero, which HF_ENDPOINT_SCALE_UP_TIMEOUT waits for.
        return []
