"""A duplicated Hugging Face Space (stabilityai/stable-diffusion-3.5-large) via gradio_client.

The Space's `/infer` takes (prompt, negative_prompt, seed, randomize_seed, width, height,
guidance_scale, num_inference_steps) and returns (path to a downloaded WebP, seed). The client
costs two HTTP calls and some threads to build, so one is built per worker process, on first
use, and rebuilt only after the Space could not be reached.
"""

import concurrent.futures
import logging
import re
import shutil
import tempfile
import threading
from decimal import Decimal
from pathlib import Path

import httpx
from django.conf import settings

from ..user_messages import refused_setting
from .base import (
    Capabilities,
    GenerationRequest,
    ImageProvider,
    Misconfigured,
    OutOfQuota,
    PromptRejected,
    ProviderError,
    ProviderResult,
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


class GradioSpaceProvider(ImageProvider):
    """Calls GRADIO_API_NAME on GRADIO_SPACE (owner/space or a URL) with HUGGINGFACE_API_TOKEN."""

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
    )

    def __init__(self) -> None:
        self.space = settings.GRADIO_SPACE
        self.api_name = settings.GRADIO_API_NAME
        self._client = None
        self._lock = threading.Lock()
        self._downloads = Path(tempfile.mkdtemp(prefix="travelfit-space-"))

    @property
    def model(self) -> str:
        return f"{self.space}{self.api_name}"

    def cost(self, seconds: float) -> Decimal:
        # The duplicated Space's GPU is billed by the hour (T4 about $0.20, A10G about $0.60).
        return hourly_cost(settings.IMAGEGEN_SPACE_USD_PER_HOUR, seconds)

    def _connect(self):
        with self._lock:
            if self._client is None:
                from gradio_client import Client  # imported here: it is slow to import

                self._client = Client(
                    self.space,
                    token=settings.HUGGINGFACE_API_TOKEN or None,
                    download_files=str(self._downloads),
                    verbose=False,
                )
            return self._client

    def _connected(self, where):
        """The client, or the reason there is none as one of our errors (generate and check)."""
        from gradio_client.utils import TooManyRequestsError

        try:
            return self._connect()
        except (httpx.HTTPError, OSError) as exc:
            raise Unavailable(f"{where}: the Space cannot be reached ({exc!r}).") from exc
        except TooManyRequestsError as exc:
            raise Unavailable(f"{where}: the Space is turning requests away ({exc}).") from exc
        except ValueError as exc:
            raise self._construction_error(exc, where) from exc

    def _forget_client(self):
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a client of a Space that is gone may fail too
                logger.debug("closing the gradio client failed", exc_info=True)

    def generate(self, request: GenerationRequest) -> ProviderResult:
        from gradio_client.exceptions import AppError
        from gradio_client.utils import QueueError, TooManyRequestsError

        where = f"{self.name} ({self.space})"
        if not self.space:
            raise Misconfigured(
                f"{where}: GRADIO_SPACE is not set. Duplicate "
                "https://huggingface.co/spaces/stabilityai/stable-diffusion-3.5-large and put "
                "its id (your-name/space-name) or URL in GRADIO_SPACE."
            )
        client = self._connected(where)
        job = client.submit(
            request.prompt,
            request.negative_prompt,
            request.seed,
            False,  # randomize_seed: we chose the seed, so the result can be reproduced
            request.width,
            request.height,
            request.guidance,
            request.steps,
            api_name=self.api_name,
        )
        try:
            path, seed = job.result(timeout=settings.GRADIO_TIMEOUT)
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
            self._forget_client()
            raise Unavailable(
                f"{where}: the Space stopped answering ({type(exc).__name__}: {exc})."
            ) from exc
        return ProviderResult(image=self._take_file(path, where), model=self.model, seed=int(seed))

    def _take_file(self, path, where):
        """Read the downloaded file, then delete it and its folder (they are never reused)."""
        if not path:
            raise Unavailable(f"{where}: an empty result (images_data is empty).")
        file = Path(path)
        try:
            return file.read_bytes()
        except OSError as exc:
            raise ProviderError(f"{where}: could not read the downloaded image: {exc}") from exc
        finally:
            if file.parent != self._downloads and self._downloads in file.parents:
                shutil.rmtree(file.parent, ignore_errors=True)
            else:
                file.unlink(missing_ok=True)

    def _construction_error(self, exc, where):
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
        if TOKEN_REFUSED.search(ADDRESS.sub("", message.replace(self.space, ""))):
            return Misconfigured(f"{where}: {message}. {TOKEN_HELP}")
        return Misconfigured(
            f"{where}: {message}. Check GRADIO_SPACE: it must be owner/space or the URL of a "
            "running Gradio app."
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
        if not self.space:
            return [
                (
                    "GRADIO_SPACE is not set.",
                    "Duplicate the stabilityai/stable-diffusion-3.5-large Space and set "
                    "GRADIO_SPACE to its id (your-name/space-name) or URL.",
                )
            ]
        return []

    def check(self) -> list[tuple[str, str]]:
        problems = self.configuration_problems()
        if problems:
            return problems
        try:
            client = self._connected(self.space)
        except ProviderError as exc:
            return [
                (
                    exc.detail,
                    "Check GRADIO_SPACE, and on the Space's page that it is running (not "
                    "paused); its Logs and Settings tabs say why not.",
                )
            ]
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        if self.api_name not in endpoints:
            return [
                (
                    f"The Space has no endpoint {self.api_name}.",
                    f"Set GRADIO_API_NAME to one of: {', '.join(sorted(endpoints))}.",
                )
            ]
        return []
