"""Duplicated Hugging Face Spaces via gradio_client: pictures from words, and virtual try-ons.

Text goes to GRADIO_SPACE (stabilityai/stable-diffusion-3.5-large), whose `/infer` takes
(prompt, negative_prompt, seed, randomize_seed, width, height, guidance_scale,
num_inference_steps) and returns (path to a downloaded WebP, seed). Try-ons go to
GRADIO_TRYON_SPACE (yisol/IDM-VTON), whose `/tryon` takes (the person as an ImageEditor value,
the garment image, the garment's description, auto-mask, auto-crop, denoising steps, seed) and
returns (path to the result, path to the mask). A client costs two HTTP calls and some threads
to build, so one per Space is built per worker process, on first use, and rebuilt only after
its Space could not be reached.
"""

import concurrent.futures
import functools
import logging
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import httpx2
from django.conf import settings

from ..user_messages import refused_setting
from .base import (
    TEXT,
    TRY_ON,
    Capabilities,
    GenerationRequest,
    HubRepo,
    ImageProvider,
    Misconfigured,
    OutOfQuota,
    PromptRejected,
    ProviderError,
    ProviderResult,
    TaskUnsupported,
    Unavailable,
)
from .hf import GPU_QUOTA, TOKEN_HELP, hourly_cost, retry_after_seconds

logger = logging.getLogger(__name__)

ASLEEP = re.compile(r"\b(BUILDING|SLEEPING|PAUSED|STOPPED|APP_STARTING|RUNNING_BUILDING)\b")
OUT_OF_RANGE = re.compile(r"Value .* (greater than maximum|less than minimum)", re.I)
# A refusal of the token, as a status code on its own or in words. Matched on the library's text
# without the Space's id and addresses: a port such as 40169, a path with 403 or a Space named
# me/token-art is no refusal.
TOKEN_REFUSED = re.compile(r"\b(401|403)\b|token|unauthori[sz]ed|forbidden", re.I)
ADDRESS = re.compile(r"\S+://\S*")

# What we send to IDM-VTON's /tryon, in order: (its parameter's name, its component), as
# view_api reports them. check() compares a Space's endpoint with this.
TRYON_PARAMETERS = (
    ("dict", "ImageEditor"),  # the person
    ("garm_img", "Image"),
    ("garment_des", "Textbox"),
    ("is_checked", "Checkbox"),  # use the auto-generated mask
    ("is_checked_crop", "Checkbox"),  # auto-crop and resize
    ("denoise_steps", "Number"),
    ("seed", "Number"),
)
TRYON_RETURNS = ("Image", "Image")  # the person wearing the garment, and the mask
TRYON_DEFAULT_STEPS = 30  # IDM-VTON's own default
TRYON_STEPS = (20, 40)  # what its box takes: other values are brought into it


@functools.cache
def tls_context():
    """One TLS context for every request of this process's Space clients.

    gradio_client makes a new httpx client or request for each step of a call (the uploads,
    joining the queue, the event stream, each download: six or more per try-on), and httpx
    builds a new TLS context for each, reading the whole CA bundle again: about 30 ms of CPU
    each, even for plain http, most of a try-on's cost to the worker (bench/README.md). The
    context is the one httpx would build (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR),
    built once; gradio_client passes it on as httpx's `verify`.
    """
    return httpx.create_ssl_context()


@dataclass(eq=False)
class _Endpoint:
    """One Space endpoint we call, the settings that name it, and its client once built."""

    space: str
    api_name: str
    space_setting: str
    api_setting: str
    client: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def model(self) -> str:
        return f"{self.space}{self.api_name}"


class GradioSpaceProvider(ImageProvider):
    """Text on GRADIO_SPACE's GRADIO_API_NAME, try-ons on GRADIO_TRYON_SPACE's
    GRADIO_TRYON_API_NAME (each owner/space or a URL), with HUGGINGFACE_API_TOKEN."""

    name = "gradio_space"
    # The SD 3.5 Large Space's sliders: 512–1024 in steps of 32; guidance 0–7.5; steps 1–50.
    capabilities = Capabilities(
        min_size=512,
        max_size=1024,
        size_step=32,
        steps=(1, 50),
        guidance=(0.0, 7.5),
        default_steps=40,
        default_guidance=4.5,
        tasks=frozenset({TEXT, TRY_ON}),
    )

    def __init__(self) -> None:
        self._text = _Endpoint(
            settings.GRADIO_SPACE, settings.GRADIO_API_NAME, "GRADIO_SPACE", "GRADIO_API_NAME"
        )
        self._tryon = _Endpoint(
            settings.GRADIO_TRYON_SPACE,
            settings.GRADIO_TRYON_API_NAME,
            "GRADIO_TRYON_SPACE",
            "GRADIO_TRYON_API_NAME",
        )
        # Private (0700) folders of this process: what the clients download, and the photos
        # a try-on uploads, each removed once read or sent.
        folder = Path(tempfile.mkdtemp(prefix="travelfit-space-"))
        self._downloads = folder / "downloads"
        self._uploads = folder / "uploads"
        self._downloads.mkdir()
        self._uploads.mkdir()

    @property
    def model(self) -> str:
        return self._text.model

    def hub_repos(self) -> list[HubRepo]:
        """Each Space's card (a URL has none)."""
        return [
            HubRepo(endpoint.model, endpoint.space, "space")
            for endpoint in (self._text, self._tryon)
            if endpoint.space
        ]

    def tasks(self) -> frozenset[str]:
        """Text always (a missing GRADIO_SPACE is reported as such); try-on unless
        GRADIO_TRYON_SPACE is off."""
        return self.capabilities.tasks if self._tryon.space else frozenset({TEXT})

    @property
    def _client(self):
        """The text Space's client, once built (None before, and after it was forgotten)."""
        return self._text.client

    def cost(self, seconds: float) -> Decimal:
        # The duplicated Space's GPU is billed by the hour (T4 about $0.20, A10G about $0.60).
        return hourly_cost(settings.IMAGEGEN_SPACE_USD_PER_HOUR, seconds)

    def _connect(self, endpoint):
        with endpoint.lock:
            if endpoint.client is None:
                from gradio_client import Client  # imported here: it is slow to import

                endpoint.client = Client(
                    endpoint.space,
                    token=settings.HUGGINGFACE_API_TOKEN or None,
                    download_files=str(self._downloads),
                    verbose=False,
                    ssl_verify=tls_context(),
                )
            return endpoint.client

    def _connected(self, endpoint, where):
        """The endpoint's client, or the reason there is none as one of our errors (generate
        and check)."""
        from gradio_client.utils import TooManyRequestsError
        from huggingface_hub.errors import HfHubHTTPError

        try:
            return self._connect(endpoint)
        except HfHubHTTPError as exc:  # the Hub's look-up of a Space given as owner/space
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403, 404):
                raise Misconfigured(
                    f"{where}: the Hub has no Space {endpoint.space} that this token may see "
                    f"(HTTP {status}). Check {endpoint.space_setting} (owner/space, or the "
                    f"Space's URL); for a private Space, {TOKEN_HELP}"
                ) from exc
            raise Unavailable(f"{where}: the Hub's look-up of the Space failed ({exc!r}).") from exc
        except (httpx.HTTPError, httpx2.HTTPError, OSError) as exc:
            raise Unavailable(f"{where}: the Space cannot be reached ({exc!r}).") from exc
        except TooManyRequestsError as exc:
            raise Unavailable(f"{where}: the Space is turning requests away ({exc}).") from exc
        except ValueError as exc:
            raise self._construction_error(exc, endpoint, where) from exc

    def _forget_client(self, endpoint):
        with endpoint.lock:
            client, endpoint.client = endpoint.client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a client of a Space that is gone may fail too
                logger.debug("closing the gradio client failed", exc_info=True)

    def generate(self, request: GenerationRequest) -> ProviderResult:
        if request.task == TRY_ON:
            return self._try_on(request)
        if request.task != TEXT:
            raise TaskUnsupported(f"{self.name} cannot do {request.task}: only text and try-ons.")
        endpoint = self._text
        where = f"{self.name} ({endpoint.space})"
        if not endpoint.space:
            raise Misconfigured(
                f"{where}: GRADIO_SPACE is not set. Duplicate "
                "https://huggingface.co/spaces/stabilityai/stable-diffusion-3.5-large and put "
                "its id (your-name/space-name) or URL in GRADIO_SPACE."
            )
        path, seed = self._call(
            endpoint,
            where,
            request.prompt,
            request.negative_prompt,
            request.seed,
            False,  # randomize_seed: we chose the seed, so the result can be reproduced
            request.width,
            request.height,
            request.guidance,
            request.steps,
        )
        return ProviderResult(
            image=self._take_file(path, where), model=endpoint.model, seed=int(seed)
        )

    def _try_on(self, request):
        """The person in `request.source` wearing the garment in `request.garment`."""
        from gradio_client import handle_file

        endpoint = self._tryon
        where = f"{self.name} try-on ({endpoint.space})"
        if not endpoint.space or not endpoint.api_name:
            raise Misconfigured(
                f"{where}: GRADIO_TRYON_SPACE or GRADIO_TRYON_API_NAME is not set. Duplicate "
                "https://huggingface.co/spaces/yisol/IDM-VTON and put its id or URL in "
                "GRADIO_TRYON_SPACE, and /tryon in GRADIO_TRYON_API_NAME."
            )
        if not request.source or not request.garment:
            raise ProviderError(
                f"{where}: a try-on needs both the person's and the garment's photo."
            )
        # The photos exist as files only for the upload: gradio_client sends files, not bytes.
        with tempfile.TemporaryDirectory(dir=self._uploads, ignore_cleanup_errors=True) as folder:
            person = Path(folder) / f"person{_suffix(request.source)}"
            garment = Path(folder) / f"garment{_suffix(request.garment)}"
            person.write_bytes(request.source)
            garment.write_bytes(request.garment)
            outputs = self._call(
                endpoint,
                where,
                {"background": handle_file(str(person)), "layers": [], "composite": None},
                handle_file(str(garment)),
                request.prompt,
                True,  # is_checked: the Space draws the mask itself; we have none to give
                False,  # is_checked_crop: the photo is sent as the user framed it
                _tryon_steps(request.steps),
                request.seed,
            )
        # The Space answers (image, mask); a fork with one output answers the image alone.
        image, *others = outputs if isinstance(outputs, list | tuple) else (outputs,)
        try:
            data = self._take_file(image, where)
        finally:
            for other in others:  # the mask: never used, never kept
                if isinstance(other, str):
                    self._remove_download(Path(other))
        return ProviderResult(image=data, model=endpoint.model, seed=request.seed)

    def _call(self, endpoint, where, *inputs):
        """The endpoint's outputs for these inputs, within GRADIO_TIMEOUT; or one of our
        errors, the client forgotten when its Space went away."""
        from gradio_client.exceptions import AppError
        from gradio_client.utils import QueueError, TooManyRequestsError

        client = self._connected(endpoint, where)
        try:
            job = client.submit(*inputs, api_name=endpoint.api_name)
        except (ValueError, TypeError) as exc:  # no such endpoint, or it takes other inputs
            raise Misconfigured(
                f"{where}: {exc} Check {endpoint.api_setting} and {endpoint.space_setting}: "
                "manage.py imagegen_check lists the Space's endpoints and compares them."
            ) from exc
        try:
            return job.result(timeout=settings.GRADIO_TIMEOUT)
        except TimeoutError as exc:
            job.cancel()  # otherwise it keeps the Space busy after we gave up
            raise Unavailable(
                f"{where}: no result within GRADIO_TIMEOUT={settings.GRADIO_TIMEOUT:g} s."
            ) from exc
        except AppError as exc:
            raise self._app_error(exc, where) from exc
        except (QueueError, TooManyRequestsError) as exc:  # its queue is full, or a 429
            raise Unavailable(f"{where}: the Space is turning requests away ({exc}).") from exc
        except (httpx.HTTPError, OSError, concurrent.futures.CancelledError, KeyError) as exc:
            # The Space went away mid-call (restarted, crashed, stopped): reconnect next time.
            self._forget_client(endpoint)
            raise Unavailable(
                f"{where}: the Space stopped answering ({type(exc).__name__}: {exc})."
            ) from exc

    def _take_file(self, path, where):
        """Read a downloaded file, then delete it and its folder (they are never reused)."""
        if not path:
            raise Unavailable(f"{where}: an empty result (no image file).")
        file = Path(path)
        try:
            return file.read_bytes()
        except OSError as exc:
            raise ProviderError(f"{where}: could not read the downloaded image: {exc}") from exc
        finally:
            self._remove_download(file)

    def _remove_download(self, file):
        # Each download has a folder of its own (named by its content's hash) under ours.
        if file.parent != self._downloads and self._downloads in file.parents:
            shutil.rmtree(file.parent, ignore_errors=True)
        else:
            file.unlink(missing_ok=True)

    def _construction_error(self, exc, endpoint, where):
        from gradio_client.exceptions import AuthenticationError

        message = str(exc)
        if isinstance(exc, AuthenticationError):  # 401 from the Space: its words name no token
            return Misconfigured(
                f"{where}: the Space refused us ({message}). {TOKEN_HELP} A private Space "
                "needs a token of its owner or of a member of its organisation."
            )
        if ASLEEP.search(message):
            return Unavailable(
                f"{where}: the Space is not running yet ({message}). A Space that is building "
                "or waking up answers after a few minutes; a sleeping one wakes on this request."
            )
        if "RUNTIME_ERROR" in message or "BUILD_ERROR" in message:
            return Misconfigured(
                f"{where}: the Space is broken ({message}). Open its Logs tab; check that the "
                "HF_TOKEN secret is set in its Settings → Repository secrets and that the "
                "token's owner accepted the model's licence; then Factory reboot."
            )
        if TOKEN_REFUSED.search(ADDRESS.sub("", message.replace(endpoint.space, ""))):
            return Misconfigured(f"{where}: {message}. {TOKEN_HELP}")
        return Misconfigured(
            f"{where}: {message}. Check {endpoint.space_setting}: it must be owner/space or the "
            "URL of a running Gradio app."
        )

    def _app_error(self, exc, where):
        message = str(exc)
        if GPU_QUOTA.search(message):
            return OutOfQuota(
                f"{where}: {message} The free ZeroGPU quota is used up: wait for it to renew "
                "(it is daily), give the duplicated Space its own GPU (T4 or A10G, with PRO), "
                "or put another provider after this one in IMAGEGEN_PROVIDERS.",
                cooldown=retry_after_seconds(None, message) or settings.IMAGEGEN_COOLDOWN,
            )
        if OUT_OF_RANGE.search(message):
            return PromptRejected(
                f"{where}: the Space refused a parameter: {message}",
                user_message=refused_setting(message),
            )
        return Unavailable(f"{where}: the Space raised an error: {message}")

    def configuration_problems(self) -> list[tuple[str, str]]:
        return [*self._text_setting_problems(), *self._tryon_setting_problems()]

    def _text_setting_problems(self):
        if self._text.space:
            return []
        return [
            (
                "GRADIO_SPACE is not set.",
                "Duplicate the stabilityai/stable-diffusion-3.5-large Space and set "
                "GRADIO_SPACE to its id (your-name/space-name) or URL.",
            )
        ]

    def _tryon_setting_problems(self):
        if not self._tryon.space or self._tryon.api_name:
            return []  # try-on is off (GRADIO_TRYON_SPACE=off), or set up
        return [
            (
                "GRADIO_TRYON_SPACE or GRADIO_TRYON_API_NAME is not set.",
                "Set GRADIO_TRYON_SPACE to yisol/IDM-VTON or your duplicate of it (its id or "
                "URL), and GRADIO_TRYON_API_NAME to /tryon.",
            )
        ]

    def check(self) -> list[tuple[str, str]]:
        """Both Spaces running, with the endpoints we call; the try-on one taking what we send."""
        problems = self._text_setting_problems() or self._endpoint_problems(
            self._text, self._text.space, "The Space"
        )
        if not self._tryon.space:
            return problems
        tryon = self._tryon_setting_problems() or self._endpoint_problems(
            self._tryon, f"{self._tryon.space} (try-on)", "The try-on Space"
        )
        return problems + tryon

    def _endpoint_problems(self, endpoint, where, label):
        """Whether the endpoint's Space answers and has the endpoint, as (problem, fix)."""
        try:
            client = self._connected(endpoint, where)
        except ProviderError as exc:
            return [
                (
                    exc.detail,
                    f"Check {endpoint.space_setting}, and on the Space's page that it is "
                    "running (not paused); its Logs and Settings tabs say why not.",
                )
            ]
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        if endpoint.api_name not in endpoints:
            return [
                (
                    f"{label} has no endpoint {endpoint.api_name}.",
                    f"Set {endpoint.api_setting} to one of: {', '.join(sorted(endpoints))}.",
                )
            ]
        if endpoint is self._tryon:
            return _tryon_mismatch(endpoint, endpoints[endpoint.api_name])
        return []


def _tryon_mismatch(endpoint, api):
    """What differs between the try-on endpoint's API (as view_api describes it) and what we
    send and read, as (problem, fix) pairs: none when it is IDM-VTON's /tryon."""
    # view_api spells components its own way ("Imageeditor"), so they compare caseless.
    theirs = [
        (parameter.get("parameter_name") or "?", parameter.get("component") or "?", parameter)
        for parameter in api.get("parameters", [])
    ]
    differences = []
    for position in range(max(len(theirs), len(TRYON_PARAMETERS))):
        number = position + 1
        if position >= len(theirs):
            name, component = TRYON_PARAMETERS[position]
            differences.append(f"it has no parameter {number}, where we send {name} ({component})")
            continue
        their_name, their_component, parameter = theirs[position]
        if position >= len(TRYON_PARAMETERS):
            # gradio_client fills in a parameter we do not send only when it has a default.
            if not parameter.get("parameter_has_default"):
                differences.append(
                    f"its parameter {number}, {their_name} ({their_component}), needs a value "
                    "we do not send"
                )
            continue
        name, component = TRYON_PARAMETERS[position]
        if their_component.lower() != component.lower():
            differences.append(
                f"its parameter {number}, {their_name}, is {_a(their_component)} where we send "
                f"{name} as {_a(component)}"
            )
    returns = [result.get("component") or "?" for result in api.get("returns", [])]
    if not returns or returns[0].lower() != TRYON_RETURNS[0].lower():
        found = ", ".join(returns) or "nothing"
        differences.append(f"it returns {found}, where we read an Image first")
    if not differences:
        return []
    sent = ", ".join(f"{name}: {component}" for name, component in TRYON_PARAMETERS)
    return [
        (
            f"The try-on Space's {endpoint.api_name} does not take what we send: "
            + "; ".join(differences)
            + ".",
            f"Point GRADIO_TRYON_SPACE at yisol/IDM-VTON or a duplicate whose /tryon is "
            f"unchanged ({sent} → {', '.join(TRYON_RETURNS)}), or set GRADIO_TRYON_API_NAME to "
            "an endpoint of it that takes those.",
        )
    ]


def _a(component):
    return f"{'an' if component[:1].upper() in 'AEIOU' else 'a'} {component}"


def _suffix(data):
    """The file name ending for a photo's bytes (gradio keeps it as the upload's name)."""
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ""


def _tryon_steps(steps):
    """The denoising steps IDM-VTON takes: its default without a choice, else brought into
    its range (its box refuses the rest)."""
    if steps is None:
        return TRYON_DEFAULT_STEPS
    low, high = TRYON_STEPS
    return min(high, max(low, steps))
