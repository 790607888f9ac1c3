"""The `local_diffusers` provider: a diffusers pipeline run inside the worker process.

It needs the optional packages in requirements-local.txt (PyTorch, diffusers, transformers).
Web processes build providers only to read their capabilities, so nothing heavy is imported
until the first generation; the pipeline is then loaded once per process and kept.

Settings: LOCAL_MODEL (a Hugging Face model id or a folder written by `save_pretrained`),
LOCAL_DEVICE ("cpu", "cuda" or "mps") and LOCAL_DTYPE ("auto", "float32", "float16",
"bfloat16"; "auto" is float16 on a GPU and float32 on the CPU).
"""

import os
import threading
from importlib.util import find_spec

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ..images import encode_png
from .base import (
    Capabilities,
    GenerationRequest,
    ImageProvider,
    Misconfigured,
    PromptRejected,
    ProviderError,
    ProviderResult,
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
# A pipeline is not safe to call from two threads at once (its scheduler keeps per-call state),
# and one GPU gains nothing from two concurrent calls: generations in a process take turns.
_generate_lock = threading.Lock()


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
    global _pipeline, _pipeline_key
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


def _is_out_of_memory(torch, exc):
    out_of_memory = getattr(torch, "OutOfMemoryError", ())
    return isinstance(exc, out_of_memory) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


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

        model = settings.LOCAL_MODEL
        pipeline = _load_pipeline(model, settings.LOCAL_DEVICE, settings.LOCAL_DTYPE)
        arguments = {
            "prompt": request.prompt,
            "width": request.width,
            "height": request.height,
            "num_inference_steps": request.steps or self.capabilities.default_steps,
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
        try:
            with _generate_lock:
                output = pipeline(**arguments)
        except Exception as exc:
            if _is_out_of_memory(torch, exc):
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                raise Unavailable(
                    f"local_diffusers ran out of memory at {request.width}×{request.height}: "
                    f"{str(exc)[:500]}",
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
            raise ProviderError(
                f"local_diffusers: the pipeline returned no image ({output!r:.200})"
            )
        return ProviderResult(image=encode_png(images[0]), model=model, seed=request.seed)

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
