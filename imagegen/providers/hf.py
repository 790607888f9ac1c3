"""Hugging Face through `huggingface_hub.InferenceClient`: Inference Providers and endpoints.

`hf_inference` calls a Hub model through the Inference Providers router (fal-ai by default,
the original backend's choice); `hf_endpoint` calls a dedicated Inference Endpoint or a
server of your own that speaks its protocol. Both share the client set-up and the mapping of
the library's exceptions to ours (PROVIDERS.md has what the library really raises).
"""

import io
import logging
import os
import re
import threading
from decimal import Decimal

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
from huggingface_hub.inference._providers import PROVIDERS
from huggingface_hub.utils import _http as hf_http
from PIL import UnidentifiedImageError

from ..images import encode_png
from ..user_messages import refused_request
from .base import (
    AccessDenied,
    BadOutput,
    Capabilities,
    GenerationRequest,
    ImageProvider,
    Misconfigured,
    ModelUnavailable,
    OutOfQuota,
    PromptRejected,
    ProviderError,
    ProviderResult,
    Unavailable,
)

logger = logging.getLogger(__name__)

GPU_QUOTA = re.compile(r"exceeded your (GPU|ZeroGPU) quota", re.I)
CREDITS = re.compile(r"(exceeded your monthly included credits|pay-as-you-go|credit)", re.I)
# "Try again in 0:12:34" or "retry in 754s" in quota messages.
WAIT_CLOCK = re.compile(r"(?:try again|retry) in (\d+):(\d{2}):(\d{2})", re.I)
WAIT_SECONDS = re.compile(r"(?:try again|retry) in (\d+(?:\.\d+)?) ?s", re.I)
TOKEN_HELP = (
    "Check HUGGINGFACE_API_TOKEN: it must be a token from "
    "https://huggingface.co/settings/tokens, start with hf_, and contain no spaces; "
    "restart the workers after changing it."
)

_client_lock = threading.Lock()
_session_timeout = None


def _use_timeout_everywhere(timeout):
    """Bound every request the library makes, the fal-ai image download included.

    The library's shared HTTP client has no timeout of its own, and `InferenceClient(timeout=)`
    does not reach the second request fal-ai needs to fetch the image (PROVIDERS.md).
    """
    global _session_timeout
    with _client_lock:
        if _session_timeout == timeout:
            return

        def factory():
            client = hf_http.default_client_factory()
            client.timeout = httpx2.Timeout(timeout)
            return client

        hf_http.set_client_factory(factory)
        _session_timeout = timeout


def _point_router_at(base):
    """Send Inference Providers calls to HF_ROUTER_URL (a proxy, or our tests' server).

    huggingface_hub has no setting for it: the router's base is a constant read at call time,
    except for hf-inference, whose helper copied it when the library was imported.
    """
    constants.INFERENCE_PROXY_TEMPLATE = base + "/{provider}"
    PROVIDERS["hf-inference"]["text-to-image"].base_url = base + "/hf-inference"


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


def _server_message(exc):
    message = getattr(exc, "server_message", None) or ""
    if not message and getattr(exc, "response", None) is not None:
        try:
            body = exc.response.json()
            message = body.get("error") or body.get("detail") or ""
        except Exception:  # a body that is not JSON carries no message of its own
            message = ""
    return str(message or exc).strip()


def translate_error(exc: Exception, *, model: str, where: str) -> ProviderError:
    """One of our ProviderErrors for whatever the client library raised."""
    message = _server_message(exc)
    page = f"https://huggingface.co/{model}"
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
            f"{where}: no model {model} on the Hub ({message}). Check HF_MODEL; pick a model "
            "at https://huggingface.co/models?pipeline_tag=text-to-image."
        )
    if isinstance(exc, InferenceTimeoutError | httpx2.TimeoutException | TimeoutError):
        return Unavailable(f"{where}: no answer within the timeout ({type(exc).__name__}).")
    if isinstance(exc, BadRequestError):
        return PromptRejected(
            f"{where}: the request was refused (400): {message}",
            user_message=refused_request(message)[:300],
        )
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return _translate_status(exc, exc.response, message, model=model, where=where)
    if isinstance(exc, httpx2.TransportError):
        return Unavailable(f"{where}: could not reach the service ({type(exc).__name__}: {exc}).")
    if isinstance(exc, UnidentifiedImageError):
        return BadOutput(f"{where}: the answer was not an image ({exc}).")
    if isinstance(exc, ValueError) and "not supported by provider" in str(exc):
        return Misconfigured(
            f"{where}: {exc} Choose another HF_INFERENCE_PROVIDER (or 'auto'), or a model that "
            f"provider serves: https://huggingface.co/models?inference_provider="
            f"{settings.HF_INFERENCE_PROVIDER}&pipeline_tag=text-to-image"
        )
    if isinstance(exc, IndexError | KeyError) or "images_data" in str(exc):
        return Unavailable(
            f"{where}: an empty result (images_data is empty): the model may be loading "
            f"(cold start) ({type(exc).__name__}: {exc})."
        )
    return ProviderError(f"{where}: {type(exc).__name__}: {exc}")


def _translate_status(exc, response, message, *, model, where):
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
        gone = "was retired" if status == 410 else "was not found"
        return ModelUnavailable(
            f"{said}. The model {model} {gone} at this provider: set HF_MODEL to another "
            "text-to-image model (https://huggingface.co/models?pipeline_tag=text-to-image)."
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


def page_of(model: str) -> str:
    return f"https://huggingface.co/{model}"


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
    return ProviderResult(image=_image_bytes(image), model=model, seed=request.seed)


def _check_token():
    token = settings.HUGGINGFACE_API_TOKEN
    if not token:
        return [("HUGGINGFACE_API_TOKEN is not set.", TOKEN_HELP)]
    if not token.startswith("hf_") or token.strip() != token or " " in token:
        return [("HUGGINGFACE_API_TOKEN does not look like a Hugging Face token.", TOKEN_HELP)]
    return []


class HFInferenceProvider(ImageProvider):
    """A Hub model through the Inference Providers router (HF_INFERENCE_PROVIDER, HF_MODEL)."""

    name = "hf_inference"
    capabilities = Capabilities(
        min_size=256,
        max_size=1536,
        size_step=64,
        steps=(1, 50),
        guidance=(0.0, 20.0),
    )

    def __init__(self) -> None:
        self.provider = settings.HF_INFERENCE_PROVIDER
        self._model = settings.HF_MODEL

    @property
    def model(self) -> str:
        return self._model

    def cost(self, seconds: float) -> Decimal:
        # Inference Providers bill per image (the price of the provider serving the model).
        return settings.IMAGEGEN_INFERENCE_USD_PER_IMAGE

    def _client(self):
        token = settings.HUGGINGFACE_API_TOKEN
        if not token:
            raise Misconfigured(f"{self.name}: HUGGINGFACE_API_TOKEN is not set. {TOKEN_HELP}")
        _use_timeout_everywhere(settings.HF_TIMEOUT)
        _point_router_at(settings.HF_ROUTER_URL)
        # The Hub look-up of the model's provider mapping sends the library's own token
        # (HF_TOKEN), not the api_key below; give it ours when none is set.
        os.environ.setdefault("HF_TOKEN", token)
        return InferenceClient(provider=self.provider, api_key=token, timeout=settings.HF_TIMEOUT)

    def generate(self, request: GenerationRequest) -> ProviderResult:
        return _text_to_image(
            self._client(),
            request,
            model=self._model,
            where=f"{self.name} ({self.provider}, {self._model})",
            pass_model=True,
        )

    def configuration_problems(self) -> list[tuple[str, str]]:
        return _check_token()

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
            return [(f"Could not check the token: {_server_message(exc)}", "Try again later.")]
        except httpx2.HTTPError as exc:
            return [
                (
                    f"Cannot reach the Hub at {constants.ENDPOINT} ({type(exc).__name__}).",
                    "Check this machine's network, proxy, and HF_ENDPOINT if you set it.",
                )
            ]
        try:
            info = api.model_info(self._model, expand=["inferenceProviderMapping"])
        except GatedRepoError:
            return [
                (
                    f"{self._model} is gated and this token's owner has no access.",
                    f"Open {page_of(self._model)}, log in as the token's owner and press "
                    "'Agree and access repository'.",
                )
            ]
        except RepositoryNotFoundError:
            return [
                (
                    f"No model {self._model} on the Hub.",
                    "Set HF_MODEL to a text-to-image model, e.g. "
                    "stabilityai/stable-diffusion-3-medium.",
                )
            ]
        except httpx2.HTTPError as exc:
            return [(f"Could not look up {self._model}: {exc}", "Try again later.")]
        served_by = {m.provider: m for m in info.inference_provider_mapping or []}
        if self.provider != "auto" and self.provider not in served_by:
            listed = ", ".join(sorted(served_by)) or "none"
            return [
                (
                    f"{self._model} is not served by {self.provider} (served by: {listed}).",
                    "Set HF_INFERENCE_PROVIDER to one of those (or auto), or choose another "
                    "HF_MODEL.",
                )
            ]
        if self.provider == "auto" and not served_by:
            return [(f"No inference provider serves {self._model}.", "Choose another HF_MODEL.")]
        return []


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
        _use_timeout_everywhere(settings.HF_TIMEOUT)
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
