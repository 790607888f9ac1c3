"""The `local_diffusers` provider: a diffusers pipeline run inside the worker process.

It needs the optional packages in requirements-local.txt (PyTorch, diffusers, transformers).
Web processes build providers only to read their capabilities, so nothing heavy is imported
until the first generation; the pipeline is then loaded once per process and kept.

It does two tasks: `text` with the model's own pipeline, and `edit` with the image-to-image
pipeline diffusers makes from it (the same modules, so no second copy of the weights), on the
user's photo scaled to fit the provider's sizes.

Settings: LOCAL_MODEL (a Hugging Face model id or a folder written by `save_pretrained`),
LOCAL_DEVICE ("cpu", "cuda" or "mps"), LOCAL_DTYPE ("auto", "float32", "float16",
"bfloat16"; "auto" is float16 on a GPU and float32 on the CPU) and LOCAL_EDIT_STRENGTH (how
much of an edited photo is redrawn, above 0 and at most 1).
"""

import inspect
import io
import math
import os
import struct
import threading
from importlib.util import find_spec

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop
from PIL import Image

from ..images import encode_png
from .base import (
    EDIT,
    TEXT,
    Capabilities,
    GenerationRequest,
    ImageProvider,
    Misconfigured,
    PromptRejected,
    ProviderError,
    ProviderResult,
    TaskUnsupported,
    Unavailable,
)

MISSING_PACKAGES = (
    "local_diffusers needs PyTorch and diffusers: pip install -r requirements-local.txt"
)
DEVICES = ("cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")
LOAD_FIX = (
    "Set LOCAL_MODEL to a diffusers pipeline folder (one with model_index.json) or to a "
    "Hugging Face model id this machine can download, and LOCAL_DEVICE / LOCAL_DTYPE to what "
    "this machine supports."
)

# One pipeline per process, shared by every provider instance: a real model takes gigabytes,
# so a change of settings (only tests do that) replaces it rather than keeping both.
_pipeline_lock = threading.Lock()
_pipeline = None
_pipeline_key = None
# The image-to-image pipeline made from _pipeline, and the pipeline it was made from: it shares
# that pipeline's modules, so it is made once per loaded pipeline and dropped along with it.
_edit_pipeline = None
_edit_source = None
# A pipeline is not safe to call from two threads at once (its scheduler keeps per-call state),
# and one GPU gains nothing from two concurrent calls: generations in a process take turns.
# The edit pipeline shares the text pipeline's scheduler, so both take turns under this lock.
_generate_lock = threading.Lock()
# The photo formats an edit's source may be in: uploads are re-encoded as JPEG or PNG.
SOURCE_FORMATS = ("JPEG", "PNG", "WEBP")


def import_problem() -> str | None:
    """The message to show when PyTorch, diffusers or transformers is missing, else None.

    Only looks the packages up, without importing them, so a system check stays cheap.
    """
    if all(find_spec(name) is not None for name in ("torch", "diffusers", "transformers")):
        return None
    return MISSING_PACKAGES


def _looks_like_path(model):
    """Whether LOCAL_MODEL names a folder rather than a hub id ("owner/name" or "name")."""
    return (
        os.path.isabs(model)
        or model.startswith((".", "~"))
        or model.count("/") > 1
        or "\\" in model
        or os.path.exists(model)
    )


def _device_problem(torch, device):
    """(problem, fix) when this torch cannot use LOCAL_DEVICE, else None."""
    if device == "cuda" and not torch.cuda.is_available():
        return (
            "LOCAL_DEVICE=cuda, but no CUDA GPU is visible to PyTorch.",
            "Set LOCAL_DEVICE=cpu or install a CUDA build of torch.",
        )
    if device == "mps" and not torch.backends.mps.is_available():
        return (
            "LOCAL_DEVICE=mps, but Apple's Metal (MPS) is not available to PyTorch.",
            "Set LOCAL_DEVICE=cpu, or run on a Mac with Apple silicon.",
        )
    return None


def _torch_dtype(torch, device, name):
    if name == "auto":
        # Half precision is what GPUs are fast at; on the CPU it is slow or unsupported.
        name = "float32" if device == "cpu" else "float16"
    return getattr(torch, name)


def _load_pipeline(model, device, dtype_name):
    """The pipeline for these settings, loaded on first use and kept for the process."""
    global _pipeline, _pipeline_key, _edit_pipeline, _edit_source
    key = (model, device, dtype_name)
    with _pipeline_lock:
        if _pipeline_key == key:
            return _pipeline
        if device not in DEVICES:
            raise Misconfigured(f"LOCAL_DEVICE={device!r} is not one of {', '.join(DEVICES)}.")
        if dtype_name not in DTYPES:
            raise Misconfigured(f"LOCAL_DTYPE={dtype_name!r} is not one of {', '.join(DTYPES)}.")
        folder = os.path.expanduser(model)
        if _looks_like_path(model) and not os.path.isdir(folder):
            # Without this, from_pretrained would take the path for a hub id and go online.
            raise Misconfigured(
                f"LOCAL_MODEL={model!r} looks like a folder, but there is no such folder. "
                + LOAD_FIX
            )
        try:
            import torch
            from diffusers import DiffusionPipeline
        except ImportError as exc:
            raise Misconfigured(f"{MISSING_PACKAGES} ({exc})") from exc
        # Said before loading: a large model takes minutes to load, then fails to move.
        problem = _device_problem(torch, device)
        if problem:
            raise Misconfigured(" ".join(problem))
        # Let the previous pipeline go first: two real models may not fit in memory together.
        _pipeline, _pipeline_key = None, None
        _edit_pipeline, _edit_source = None, None
        try:
            # Gated models (Stable Diffusion 3.5 among them) need the site's token to download.
            pipeline = DiffusionPipeline.from_pretrained(
                folder if _looks_like_path(model) else model,
                dtype=_torch_dtype(torch, device, dtype_name),
                token=settings.HUGGINGFACE_API_TOKEN or None,
            ).to(device)
        except Exception as exc:
            # Missing files, no network for a hub id, a device this torch lacks, too little
            # memory for the model: all need an operator, none goes away by retrying.
            message = str(exc).strip()[:500]
            raise Misconfigured(
                f"local_diffusers could not load LOCAL_MODEL={model!r} on "
                f"LOCAL_DEVICE={device!r} ({type(exc).__name__}: {message}). " + LOAD_FIX
            ) from exc
        # Progress bars would only clutter the worker's log, one line per step.
        pipeline.set_progress_bar_config(disable=True)
        _pipeline, _pipeline_key = pipeline, key
        return pipeline


def _load_edit_pipeline(pipeline):
    """The image-to-image pipeline sharing `pipeline`'s modules, made on first use and kept
    as long as `pipeline` is the loaded one. TaskUnsupported when diffusers has none for it."""
    global _edit_pipeline, _edit_source
    with _pipeline_lock:
        if _edit_source is pipeline:
            return _edit_pipeline
        from diffusers import AutoPipelineForImage2Image

        try:
            edit = AutoPipelineForImage2Image.from_pipe(pipeline)
        except Exception as exc:
            # Some model families have no image-to-image pipeline: another provider may edit.
            raise TaskUnsupported(
                f"local_diffusers cannot edit photos with LOCAL_MODEL={settings.LOCAL_MODEL!r}: "
                f"diffusers has no image-to-image pipeline for {type(pipeline).__name__} "
                f"({type(exc).__name__}: {str(exc)[:300]})."
            ) from exc
        edit.set_progress_bar_config(disable=True)
        # Kept only for the loaded pipeline: one replaced meanwhile must not stay in memory.
        if pipeline is _pipeline:
            _edit_pipeline, _edit_source = edit, pipeline
        return edit


def fit_photo_size(width: int, height: int, capabilities: Capabilities) -> tuple[int, int]:
    """The size a `width`×`height` photo is edited at: each side one the provider accepts.

    The photo is scaled down until its longer side is at most max_size (never up, unless its
    shorter side is under min_size), then each side is snapped to the nearest accepted size,
    which keeps the aspect ratio to within half a size step on either side.
    """
    longer, shorter = max(width, height), min(width, height)
    scale = min(1.0, capabilities.max_size / longer)
    # A narrow photo grows until its shorter side reaches min_size, or its longer max_size.
    scale = max(scale, min(capabilities.min_size / shorter, capabilities.max_size / longer))
    return capabilities.nearest_size(width * scale), capabilities.nearest_size(height * scale)


def _source_photo(data, capabilities):
    """The photo to edit as an RGB image of its fitted size; ProviderError if it is none."""
    if not data:
        raise ProviderError(
            "local_diffusers: an edit came without its source photo.", try_next=False
        )
    try:
        image = Image.open(io.BytesIO(data), formats=SOURCE_FORMATS)
        size = fit_photo_size(image.width, image.height, capabilities)
        # A JPEG of tens of megapixels decodes at 1/2, 1/4 or 1/8 scale when that is still at
        # least the fitted size: far less memory and time than decoding it whole.
        image.draft("RGB", size)
        if "A" in image.getbands() or "transparency" in image.info:
            # The model sees no alpha: transparent parts become white, not whatever colour the
            # file happens to store under them.
            image = Image.alpha_composite(
                Image.new("RGBA", image.size, "white"), image.convert("RGBA")
            )
        # Decoding happens here: a truncated or corrupt file fails inside this `try`.
        return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    except (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError) as exc:
        # Every provider is sent these same bytes: the next one cannot do better.
        raise ProviderError(
            f"local_diffusers could not read the photo to edit ({type(exc).__name__}: "
            f"{str(exc)[:300]}); {len(data)} bytes starting {data[:16]!r}.",
            user_message=gettext_noop("The photo to edit could not be read."),
            try_next=False,
        ) from exc


def _edit_steps(steps, strength):
    """Steps to ask for so that at least one runs: diffusers runs int(steps × strength)."""
    steps = max(steps, math.ceil(1 / strength))
    while int(steps * strength) < 1:  # 1 / strength may round below its true value
        steps += 1
    return steps


def _takes(pipeline, name):
    return name in inspect.signature(pipeline.__call__).parameters


def _is_out_of_memory(torch, exc):
    out_of_memory = getattr(torch, "OutOfMemoryError", ())
    return isinstance(exc, out_of_memory) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _run(torch, pipeline, arguments, size):
    """Call a pipeline, one call per process at a time, and return its image (a PIL image).

    Running out of memory is Unavailable (the next provider may have more), an image the
    model's safety checker flagged is PromptRejected, anything else a ProviderError.
    """
    try:
        with _generate_lock:
            output = pipeline(**arguments)
    except Exception as exc:
        if _is_out_of_memory(torch, exc):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise Unavailable(
                f"local_diffusers ran out of memory at {size[0]}×{size[1]}: {str(exc)[:500]}",
                retryable=False,
                try_next=True,
            ) from exc
        raise ProviderError(
            f"local_diffusers failed: {type(exc).__name__}: {str(exc)[:500]}"
        ) from exc
    # Pipelines with a safety checker answer flagged images with a black square.
    if any(getattr(output, "nsfw_content_detected", None) or ()):
        raise PromptRejected("local_diffusers: the model's safety checker flagged the image.")
    images = getattr(output, "images", None)
    if not images or not hasattr(images[0], "save"):
        raise ProviderError(f"local_diffusers: the pipeline returned no image ({output!r:.200})")
    return images[0]


class LocalDiffusersProvider(ImageProvider):
    """Runs LOCAL_MODEL with diffusers on LOCAL_DEVICE, in this process."""

    name = "local_diffusers"
    capabilities = Capabilities(
        min_size=256,
        max_size=1024,
        size_step=64,
        negative_prompt=True,
        seed=True,
        steps=(1, 100),
        guidance=(0.0, 20.0),
        default_steps=28,
        default_guidance=4.5,
        tasks=frozenset({TEXT, EDIT}),
    )

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return import_problem()

    def __init__(self) -> None:
        problem = import_problem()
        if problem:
            raise ImproperlyConfigured(problem)

    @property
    def model(self) -> str:
        return settings.LOCAL_MODEL

    def generate(self, request: GenerationRequest) -> ProviderResult:
        import torch

        if request.task not in self.tasks():
            raise TaskUnsupported(f"local_diffusers does not do the {request.task!r} task.")
        model = settings.LOCAL_MODEL
        steps = request.steps or self.capabilities.default_steps
        arguments = {
            "prompt": request.prompt,
            "num_inference_steps": steps,
            # 0.0 is a valid guidance (no guidance), so only None falls back to the default.
            "guidance_scale": (
                self.capabilities.default_guidance if request.guidance is None else request.guidance
            ),
            # A CPU generator gives the same starting noise for a seed on every device;
            # diffusers moves the noise to the pipeline's device itself.
            "generator": torch.Generator(device="cpu").manual_seed(request.seed),
        }
        if request.negative_prompt:
            arguments["negative_prompt"] = request.negative_prompt
        if request.task == EDIT:
            # Read before loading anything: a photo that is not one fails without the model.
            photo = _source_photo(request.source, self.capabilities)
            size = photo.size
            pipeline = _load_edit_pipeline(
                _load_pipeline(model, settings.LOCAL_DEVICE, settings.LOCAL_DTYPE)
            )
            strength = settings.LOCAL_EDIT_STRENGTH
            arguments |= {
                "image": photo,
                "strength": strength,
                "num_inference_steps": _edit_steps(steps, strength),
            }
            # Some image-to-image pipelines (Stable Diffusion 3, FLUX) resize the photo to their
            # default square unless told its size; others take the size from the photo alone.
            if _takes(pipeline, "width") and _takes(pipeline, "height"):
                arguments |= {"width": size[0], "height": size[1]}
        else:
            size = (request.width, request.height)
            pipeline = _load_pipeline(model, settings.LOCAL_DEVICE, settings.LOCAL_DTYPE)
            arguments |= {"width": size[0], "height": size[1]}
        image = _run(torch, pipeline, arguments, size)
        return ProviderResult(image=encode_png(image), model=model, seed=request.seed)

    def photo_result_size(self, task: str, width: int, height: int) -> tuple[int, int] | None:
        return fit_photo_size(width, height, self.capabilities) if task == EDIT else None

    def configuration_problems(self) -> list[tuple[str, str]]:
        """Missing packages or a LOCAL_MODEL folder that is not there; imports nothing."""
        problem = import_problem()
        if problem:
            return [(problem, "pip install -r requirements-local.txt")]
        model = settings.LOCAL_MODEL
        if _looks_like_path(model) and not os.path.isdir(os.path.expanduser(model)):
            return [(f"LOCAL_MODEL={model} is not a folder.", LOAD_FIX)]
        return []

    def check(self) -> list[tuple[str, str]]:
        """Problems an operator must fix, as (problem, fix). Imports PyTorch: worker-side only."""
        if import_problem():
            return [
                (
                    "PyTorch and diffusers are not installed.",
                    "Run .venv/bin/pip install -r requirements-local.txt.",
                )
            ]
        problems = []
        model, device, dtype = settings.LOCAL_MODEL, settings.LOCAL_DEVICE, settings.LOCAL_DTYPE
        if device not in DEVICES:
            problems.append(
                (f"LOCAL_DEVICE={device!r} is not a device.", f"Set it to {', '.join(DEVICES)}.")
            )
        if dtype not in DTYPES:
            problems.append(
                (f"LOCAL_DTYPE={dtype!r} is not a dtype.", f"Set it to {', '.join(DTYPES)}.")
            )
        if device in ("cuda", "mps"):
            import torch

            problem = _device_problem(torch, device)
            if problem:
                problems.append(problem)
        folder = os.path.expanduser(model)
        if _looks_like_path(model):
            if not os.path.isdir(folder):
                problems.append(
                    (
                        f"LOCAL_MODEL={model!r} is a path, but no such folder exists.",
                        "Set LOCAL_MODEL to a diffusers pipeline folder or a Hugging Face id.",
                    )
                )
            elif not os.path.isfile(os.path.join(folder, "model_index.json")):
                problems.append(
                    (
                        f"LOCAL_MODEL={model!r} has no model_index.json: not a diffusers pipeline.",
                        "Point LOCAL_MODEL at a folder written by a pipeline's save_pretrained().",
                    )
                )
        return problems
