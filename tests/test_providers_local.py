"""The local_diffusers provider runs a real diffusers pipeline in this process, offline.

The pipeline is a tiny, randomly initialised Stable Diffusion built here and saved to a temporary
folder, so every test goes through `DiffusionPipeline.from_pretrained` and a real denoising loop
without downloading anything. CI installs requirements-local.txt, so none of this is skipped.
"""

import gc
import io
import json
import os
import socket
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest
import torch
from diffusers import (
    AutoencoderKL,
    AutoPipelineForImage2Image,
    DDIMScheduler,
    DiffusionPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from django.core.exceptions import ImproperlyConfigured
from PIL import Image, ImageChops, ImageDraw, ImageStat
from tokenizers.pre_tokenizers import ByteLevel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from imagegen.providers import local_diffusers
from imagegen.providers.base import (
    EDIT,
    TEXT,
    TRY_ON,
    GenerationRequest,
    Misconfigured,
    ProviderError,
    TaskUnsupported,
    Unavailable,
)
from imagegen.providers.local_diffusers import (
    LocalDiffusersProvider,
    fit_photo_size,
    import_problem,
)

ROOT = Path(__file__).resolve().parent.parent


def write_tokenizer(folder):
    """A CLIP tokenizer whose vocabulary is the 256 byte-level symbols, alone and word-final.

    With no merges every word splits into single bytes, so any text, Korean included,
    tokenizes to known ids.
    """
    folder.mkdir()
    symbols = sorted(ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in symbols + [f"{symbol}</w>" for symbol in symbols]:
        vocab[symbol] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer.from_pretrained(folder, model_max_length=77)


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """A folder holding a tiny Stable Diffusion pipeline: 4 MB, a few ms per step at 256×256."""
    base = tmp_path_factory.mktemp("local-diffusers")
    tokenizer = write_tokenizer(base / "tokenizer")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            sample_size=32,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=8,
        )
        # Four blocks make the usual 8× latent scale, so 256×256 denoises a 32×32 latent.
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(8, 8, 8, 8),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=1,
            norm_num_groups=4,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    folder = base / "tiny"
    pipeline.save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def internet_attempts(monkeypatch):
    """Refuse, and record, every connection or name look-up beyond this machine.

    Redis and PostgreSQL on loopback stay reachable for the shared fixtures. A test that
    expects an attempt empties the list; any other attempt fails the test.
    """
    attempts = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def is_local(host):
        host = host.decode() if isinstance(host, bytes) else str(host)
        return host.startswith("127.") or host in ("::1", "localhost")

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            attempts.append(address)
            raise OSError(f"the test refused a connection to {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not is_local(host):
            attempts.append(host)
            raise socket.gaierror(f"the test refused to look up {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"tried to reach the network: {attempts}"


@pytest.fixture
def provider(settings, tiny_pipeline):
    settings.LOCAL_MODEL = str(tiny_pipeline)
    settings.LOCAL_DEVICE = "cpu"
    settings.LOCAL_DTYPE = "auto"
    return LocalDiffusersProvider()


def draw(provider, **changes):
    request = GenerationRequest(
        **{
            "prompt": "Jeju beach at sunset",
            "negative_prompt": "",
            "width": 256,
            "height": 256,
            "seed": 1,
            "steps": 2,
        }
        | changes
    )
    result = provider.generate(request)
    return result, Image.open(io.BytesIO(result.image))


def same(a, b):
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_draws_a_png_of_the_size_asked_for(provider, tiny_pipeline):
    result, image = draw(provider)
    assert (image.format, image.size) == ("PNG", (256, 256))
    assert (result.model, result.seed) == (str(tiny_pipeline), 1)
    assert provider.model == str(tiny_pipeline)
    # Random weights draw noise, not a blank: the channels vary across the image.
    assert min(ImageStat.Stat(image.convert("RGB")).stddev) > 5


def test_same_seed_same_bytes_other_seed_other_pixels(provider):
    (first, a), (second, _) = draw(provider), draw(provider)
    assert first.image == second.image
    assert not same(a, draw(provider, seed=2)[1])


def test_korean_prompt_and_negative_prompt_steer_the_picture(provider):
    _, base = draw(provider)
    _, image = draw(provider, prompt="제주도 바다의 노을")
    assert image.size == (256, 256)
    assert not same(base, image)
    assert not same(base, draw(provider, negative_prompt="흐림, blurry")[1])


def test_pipeline_is_loaded_once_per_process_even_by_two_threads(provider, monkeypatch):
    monkeypatch.setattr(local_diffusers, "_pipeline", None)
    monkeypatch.setattr(local_diffusers, "_pipeline_key", None)
    loads = []
    real_from_pretrained = DiffusionPipeline.from_pretrained

    def counted(cls, *args, **kwargs):
        loads.append(args)
        return real_from_pretrained(*args, **kwargs)

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(counted))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(draw(LocalDiffusersProvider())[0]))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(results) == 2 and results[0].image == results[1].image
    draw(provider)
    assert len(loads) == 1


def test_missing_model_folder_is_misconfigured_and_names_the_setting(provider, settings, tmp_path):
    settings.LOCAL_MODEL = str(tmp_path / "no-such-model")
    with pytest.raises(Misconfigured) as caught:
        draw(provider)
    assert "LOCAL_MODEL" in caught.value.detail
    assert str(tmp_path / "no-such-model") in caught.value.detail
    assert caught.value.try_next


def test_folder_that_is_not_a_pipeline_is_misconfigured(provider, settings, tmp_path):
    settings.LOCAL_MODEL = str(tmp_path)
    with pytest.raises(Misconfigured) as caught:
        draw(provider)
    assert "LOCAL_MODEL" in caught.value.detail
    assert "model_index.json" in caught.value.detail


def test_hub_id_without_internet_is_misconfigured(provider, settings, internet_attempts):
    settings.LOCAL_MODEL = "travelfit-tests/no-such-model"
    with pytest.raises(Misconfigured) as caught:
        draw(provider)
    assert "LOCAL_MODEL='travelfit-tests/no-such-model'" in caught.value.detail
    # It did try the Hub (refused here), which is how an operator would see it fail.
    assert internet_attempts
    internet_attempts.clear()


def test_out_of_memory_is_unavailable_other_failures_are_provider_errors(provider, monkeypatch):
    def fail_with(exc):
        def call(self, *args, **kwargs):
            raise exc

        monkeypatch.setattr(StableDiffusionPipeline, "__call__", call)

    fail_with(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    with pytest.raises(Unavailable) as caught:
        draw(provider)
    assert caught.value.try_next and not caught.value.retryable
    assert "out of memory" in caught.value.detail

    fail_with(ValueError("height must be divisible by 8"))
    with pytest.raises(ProviderError) as caught:
        draw(provider)
    assert type(caught.value) is ProviderError
    assert "height must be divisible by 8" in caught.value.detail


def test_check_reports_cuda_without_a_gpu(provider, settings, monkeypatch):
    assert provider.check() == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    settings.LOCAL_DEVICE = "cuda"
    problems = provider.check()
    assert len(problems) == 1
    problem, fix = problems[0]
    assert "LOCAL_DEVICE=cuda" in problem and "no CUDA GPU" in problem
    assert "LOCAL_DEVICE=cpu" in fix


def test_generating_on_a_missing_gpu_is_misconfigured_before_loading(
    provider, settings, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loads = []
    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", lambda *args, **kw: loads.append(1))
    settings.LOCAL_DEVICE = "cuda"
    with pytest.raises(Misconfigured, match="no CUDA GPU.*LOCAL_DEVICE=cpu"):
        draw(provider)
    # A real model takes minutes to load: the device is checked first.
    assert loads == []


def test_check_reports_bad_settings_and_missing_folders(provider, settings, tmp_path):
    settings.LOCAL_DEVICE, settings.LOCAL_DTYPE = "gpu", "float8"
    settings.LOCAL_MODEL = str(tmp_path / "missing")
    problems = " ".join(problem for problem, _ in provider.check())
    assert "LOCAL_DEVICE='gpu'" in problems
    assert "LOCAL_DTYPE='float8'" in problems
    assert "no such folder" in problems
    settings.LOCAL_DEVICE, settings.LOCAL_DTYPE = "cpu", "auto"
    settings.LOCAL_MODEL = str(tmp_path)
    assert "model_index.json" in provider.check()[0][0]
    # A hub id cannot be checked without downloading it, so it passes.
    settings.LOCAL_MODEL = "stabilityai/stable-diffusion-3.5-large"
    assert provider.check() == []


def test_without_torch_or_diffusers_it_says_what_to_install(monkeypatch):
    assert import_problem() is None
    # A None entry in sys.modules is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, "diffusers", None)
    message = "local_diffusers needs PyTorch and diffusers: pip install -r requirements-local.txt"
    assert import_problem() == message
    with pytest.raises(ImproperlyConfigured, match="requirements-local.txt"):
        LocalDiffusersProvider()


def test_building_it_imports_neither_torch_nor_diffusers():
    # A fresh interpreter: this one imported torch to build the tiny pipeline.
    code = (
        "import sys\n"
        "from imagegen.providers.local_diffusers import LocalDiffusersProvider\n"
        "provider = LocalDiffusersProvider()\n"
        "assert provider.capabilities.default_steps == 28\n"
        "print(sorted({'torch', 'diffusers', 'transformers'} & set(sys.modules)))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- The `edit` task: the image-to-image pipeline made from the loaded one ---------------------


def photo(width, height, *, image_format="PNG", turned=False):
    """A photo's bytes with something to keep: a vertical gradient and a yellow disc."""
    image = Image.new("RGB", (width, height))
    pen = ImageDraw.Draw(image)
    for y in range(height):
        shade = y * 255 // height
        pen.line([(0, y), (width, y)], fill=(shade, 120, 255 - shade))
    pen.ellipse([width // 5, height // 5, width // 2, height * 3 // 4], fill=(250, 220, 30))
    if turned:
        image = image.transpose(Image.Transpose.ROTATE_180)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def edit(provider, source, **changes):
    size = Image.open(io.BytesIO(source)).size
    return draw(provider, task=EDIT, source=source, width=size[0], height=size[1], **changes)


def mean_difference(a, b):
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


@pytest.mark.parametrize(
    "width, height",
    [
        (1200, 800),
        (800, 1200),
        (4032, 3024),
        (3024, 4032),
        (1024, 1024),
        (1000, 700),
        (640, 480),
        (300, 200),
        (257, 255),
        (6000, 1000),
        (1000, 6000),
        (100, 40),
    ],
)
def test_a_photo_is_fitted_to_accepted_sides_keeping_its_shape(provider, width, height):
    capabilities = provider.capabilities
    fitted_width, fitted_height = fit_photo_size(width, height, capabilities)
    assert capabilities.accepts_size(fitted_width) and capabilities.accepts_size(fitted_height)
    assert fitted_width % 64 == 0 and fitted_height % 64 == 0
    # Landscape stays landscape, portrait portrait.
    assert (fitted_width >= fitted_height) == (width >= height)
    longer, shorter = max(width, height), min(width, height)
    fitted_longer, fitted_shorter = (
        max(fitted_width, fitted_height),
        min(fitted_width, fitted_height),
    )
    half_step = capabilities.size_step / 2
    if longer >= capabilities.max_size:
        assert fitted_longer == capabilities.max_size
    elif shorter >= capabilities.min_size:
        # A photo that already fits is not enlarged, only snapped to a step.
        assert abs(fitted_longer - longer) <= half_step
    if fitted_shorter > capabilities.min_size:
        # The shape is kept to within half a step on the shorter side.
        assert abs(fitted_shorter - fitted_longer * shorter / longer) <= half_step
    else:
        # Too narrow to keep: the shorter side is the least accepted, the longer the most
        # that keeps the shape (or the most accepted).
        assert fitted_shorter == capabilities.min_size
        ideal_longer = min(capabilities.max_size, capabilities.min_size * longer / shorter)
        assert abs(fitted_longer - ideal_longer) <= half_step


@pytest.mark.parametrize(
    "width, height, image_format", [(1200, 800, "JPEG"), (400, 600, "PNG"), (200, 120, "JPEG")]
)
def test_edit_returns_a_png_of_the_photo_fitted_size(
    provider, tiny_pipeline, width, height, image_format
):
    result, image = edit(provider, photo(width, height, image_format=image_format))
    assert image.format == "PNG"
    assert image.size == fit_photo_size(width, height, provider.capabilities)
    assert (result.model, result.seed) == (str(tiny_pipeline), 1)
    if max(width, height) >= provider.capabilities.max_size:
        assert max(image.size) == provider.capabilities.max_size


def test_edit_same_seed_same_bytes_other_seed_other_pixels(provider):
    source = photo(320, 256)
    (first, a), (second, _) = edit(provider, source), edit(provider, source)
    assert first.image == second.image
    assert not same(a, edit(provider, source, seed=2)[1])


def test_low_strength_keeps_more_of_the_photo_than_high_strength(provider, settings):
    """Two photos edited with the same seed: what differs between the results came from the
    photos. (The tiny model's VAE is random, so not even an untouched photo comes back as it
    was: how much of a photo survives shows here, not in a comparison with the photo itself.)"""
    first, second = photo(320, 256), photo(320, 256, turned=True)

    def surviving(strength):
        settings.LOCAL_EDIT_STRENGTH = strength
        return mean_difference(
            edit(provider, first, steps=4)[1], edit(provider, second, steps=4)[1]
        )

    low, high = surviving(0.25), surviving(1.0)
    assert low > 5
    assert high < low / 5


def test_edit_runs_at_least_one_step_at_any_strength(provider, settings):
    # 2 steps × 0.1 would be no step at all, on which diffusers fails.
    settings.LOCAL_EDIT_STRENGTH = 0.1
    _, image = edit(provider, photo(320, 256), steps=2)
    assert image.size == (320, 256)


def test_edit_pipeline_is_made_once_per_loaded_pipeline(provider, settings, monkeypatch):
    for name in ("_pipeline", "_pipeline_key", "_edit_pipeline", "_edit_source"):
        monkeypatch.setattr(local_diffusers, name, None)
    loads, made = [], []
    real_from_pretrained = DiffusionPipeline.from_pretrained
    real_from_pipe = AutoPipelineForImage2Image.from_pipe

    def counted_load(cls, *args, **kwargs):
        loads.append(args)
        return real_from_pretrained(*args, **kwargs)

    def counted_from_pipe(cls, pipeline, **kwargs):
        made.append(pipeline)
        return real_from_pipe(pipeline, **kwargs)

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(counted_load))
    monkeypatch.setattr(AutoPipelineForImage2Image, "from_pipe", classmethod(counted_from_pipe))
    source = photo(320, 256)
    first = edit(provider, source)[0]
    draw(provider)
    assert edit(provider, source)[0].image == first.image
    # The weights are loaded once; the edit pipeline is made from that pipeline, once.
    assert len(loads) == 1
    assert made == [local_diffusers._pipeline]

    # Other settings load another pipeline; the edit pipeline is made again, from that one.
    old = local_diffusers._pipeline
    settings.LOCAL_DTYPE = "float32"
    assert edit(provider, source)[0].image == first.image
    assert len(loads) == 2
    assert len(made) == 2 and made[1] is local_diffusers._pipeline and made[1] is not old


def test_a_replaced_pipeline_is_let_go_with_its_edit_pipeline(provider, settings, monkeypatch):
    # Two real models may not fit in memory together: the edit pipeline must not keep the
    # previous one alive once other settings have loaded another.
    for name in ("_pipeline", "_pipeline_key", "_edit_pipeline", "_edit_source"):
        monkeypatch.setattr(local_diffusers, name, None)
    edit(provider, photo(320, 256))
    previous = weakref.ref(local_diffusers._pipeline)
    settings.LOCAL_DTYPE = "float32"
    draw(provider)
    gc.collect()
    assert previous() is None


def test_text_after_an_edit_is_unchanged(provider):
    # Both pipelines share one scheduler: an edit must leave no state behind for the next text.
    before = draw(provider)[0].image
    edit(provider, photo(320, 256))
    assert draw(provider)[0].image == before


def test_a_transparent_photo_is_edited_on_white(provider, monkeypatch):
    seen = []
    real_call = StableDiffusionImg2ImgPipeline.__call__

    def call(self, *args, **kwargs):
        seen.append(kwargs["image"])
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionImg2ImgPipeline, "__call__", call)
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 260), (0, 0, 0, 0)).save(buffer, format="PNG")
    edit(provider, buffer.getvalue())
    assert seen[0].mode == "RGB"
    assert seen[0].size == fit_photo_size(300, 260, provider.capabilities)
    assert seen[0].getextrema() == ((255, 255),) * 3


@pytest.mark.parametrize(
    "source", [b"not a photo at all", photo(320, 256, image_format="JPEG")[:600], None]
)
def test_a_source_that_is_not_a_photo_is_a_provider_error(provider, source):
    with pytest.raises(ProviderError) as caught:
        draw(provider, task=EDIT, source=source, width=320, height=256)
    assert type(caught.value) is ProviderError
    assert "photo" in caught.value.detail
    # Every provider would be sent the same bytes: asking the next one cannot help.
    assert not caught.value.try_next


def test_out_of_memory_in_an_edit_is_unavailable(provider, monkeypatch):
    def call(self, *args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(StableDiffusionImg2ImgPipeline, "__call__", call)
    with pytest.raises(Unavailable) as caught:
        edit(provider, photo(1200, 800))
    assert caught.value.try_next and not caught.value.retryable
    width, height = fit_photo_size(1200, 800, provider.capabilities)
    assert f"out of memory at {width}×{height}" in caught.value.detail


def test_a_model_without_an_image_to_image_pipeline_leaves_edits_to_the_next_provider(
    provider, monkeypatch
):
    monkeypatch.setattr(local_diffusers, "_edit_pipeline", None)
    monkeypatch.setattr(local_diffusers, "_edit_source", None)

    def no_such_pipeline(cls, pipeline, **kwargs):
        raise ValueError(f"AutoPipeline can't find a pipeline linked to {type(pipeline).__name__}")

    monkeypatch.setattr(AutoPipelineForImage2Image, "from_pipe", classmethod(no_such_pipeline))
    with pytest.raises(TaskUnsupported) as caught:
        edit(provider, photo(320, 256))
    assert caught.value.try_next
    assert "StableDiffusionPipeline" in caught.value.detail
    # Text still works with the same model.
    assert draw(provider)[1].size == (256, 256)


def test_it_does_text_and_edit_but_not_try_on(provider, monkeypatch):
    assert provider.tasks() == frozenset({TEXT, EDIT})
    loads = []
    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", lambda *args, **kw: loads.append(1))
    monkeypatch.setattr(local_diffusers, "_pipeline_key", None)
    with pytest.raises(TaskUnsupported):
        draw(provider, task=TRY_ON, source=photo(320, 256), garment=photo(256, 256))
    assert loads == []
