"""A fake of the stabilityai/stable-diffusion-3.5-large Space: a real Gradio app on 127.0.0.1.

It has the Space's ``/infer`` endpoint with the same eight inputs and two outputs, so
gradio_client talks to it exactly as to the Space (``/config``, ``/gradio_api/info``, the queue,
the SSE stream, the file download):

========================  =====================================================================
prompt                    Text
negative_prompt           Text with no initial value (so gradio_client requires it, as on the
                          Space)
seed                      Slider 0..2147483647 step 1, value 0
randomize_seed            Checkbox, value True
width, height             Slider 512..1024 step 32, value 1024 (the Space's MAX_IMAGE_SIZE)
guidance_scale            Slider 0..7.5 step 0.1, value 4.5
num_inference_steps       Slider 1..50 step 1, value 40
outputs                   Image (webp file) and the seed used (the Slider ``seed``)
========================  =====================================================================

Values out of a slider's range are refused by Gradio itself before ``infer`` runs (the client
raises ``AppError("Value 4096 is greater than maximum value 1024.")``), as on the Space.

The image is drawn with Pillow at width x height. What ``infer`` does is scripted from the test
through the object ``start_gradio_space()`` returns (the app runs in this process, in threads):

===============  ==============================================================================
``ok``           draws the image, returns ``(image, seed)`` (a random seed if randomize_seed)
``wrong-size``   draws it 64 px wider than asked
``gpu-quota``    ``raise gr.Error(GPU_QUOTA_MESSAGE)``: the client raises ``AppError`` with that
                 exact text, as for a ZeroGPU Space out of quota
``crash``        ``raise RuntimeError``: the client raises ``AppError`` with Gradio's generic text
                 (the Space does not set show_error; ``start_gradio_space(show_error=True)`` does)
``slow``         waits ``space.slow_seconds`` (default 10; cut short by ``stop()``), then ``ok``
``echo-token``   ``raise gr.Error`` quoting the ``x-hf-authorization`` header the client sent, as
                 a Space that prints its request in an error would
===============  ==============================================================================

``space.behaviour`` applies to every call; ``space.script("gpu-quota", "ok")`` queues behaviours
that the next calls take in turn first. ``space.calls`` records each call's eight arguments, as
``infer`` received them after Gradio's preprocessing (sliders come as numbers).

Network: Gradio asks api.gradio.app and huggingface.co things at launch unless analytics are off;
this app is built with ``analytics_enabled=False``, listens on 127.0.0.1 only, with no share link,
and makes no outside connection (checked with a socket audit hook). gradio_client's own
telemetry and huggingface_hub's agent look-up are the client's business: run the client with
``GRADIO_ANALYTICS_ENABLED=False`` and ``HF_HUB_DISABLE_TELEMETRY=1`` in the environment (or
``huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY = True``).

What gradio_client 2.7.2 does against it (checked): ``Client(url, download_files=folder,
verbose=False)`` saves each image as ``folder/<sha256 of content>/image.webp`` (equal images share
a path); ``client.close()`` stops only the heartbeat thread, not its thread pools;
``job.result(timeout=N)`` raises ``TimeoutError`` and ``job.cancel()`` frees the Space's queue,
though ``infer``'s thread sleeps on; positional arguments are not checked for count (seven of them
shift into the wrong inputs and come back as a slider's range error); ``start_gradio_space(
queue_max_size=1)`` with one call running and one waiting makes a third raise
``gradio_client.utils.QueueError("Queue is full! Please try again.")``.

Cost: importing gradio takes about 2.5 s and launching about 0.2 s, so start one per test
session and script it per test (``space.reset()``). Output files go to Gradio's cache folder,
``$GRADIO_TEMP_DIR`` (default ``<tmp>/gradio``); the client downloads to the ``download_files=``
folder you give it.

Example::

    @pytest.fixture(scope="session")
    def space():
        space = start_gradio_space()
        yield space
        space.stop()

    def test_quota(space, tmp_path):
        space.reset()
        space.behaviour = "gpu-quota"
        client = gradio_client.Client(space.url, download_files=tmp_path, verbose=False)
        ...
"""

from __future__ import annotations

import random
import socket
import time

import gradio as gr
from PIL import Image, ImageDraw

from tests.fakes.scripting import Scripted

GPU_QUOTA_MESSAGE = "You have exceeded your GPU quota (65s requested vs. 57s left)."
MAX_SEED = 2_147_483_647  # np.iinfo(np.int32).max, as in the Space
MIN_IMAGE_SIZE = 512
MAX_IMAGE_SIZE = 1024
BEHAVIOURS = frozenset({"ok", "wrong-size", "gpu-quota", "crash", "slow", "echo-token"})


class FakeSpace(Scripted):
    """A running fake Space: its URL, the scripting knobs, the calls it received."""

    behaviours = BEHAVIOURS

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.start_seconds = 0.0  # how long the launch took
        self.demo: gr.Blocks | None = None

    def infer(
        self,
        prompt,
        negative_prompt="",
        seed=42,
        randomize_seed=False,
        width=1024,
        height=1024,
        guidance_scale=4.5,
        num_inference_steps=40,
        headers=None,
    ):
        """The Space's ``infer``, drawing instead of diffusing."""
        with self._lock:
            self.calls.append(
                (
                    prompt,
                    negative_prompt,
                    seed,
                    randomize_seed,
                    width,
                    height,
                    guidance_scale,
                    num_inference_steps,
                )
            )
        behaviour = self.next_behaviour()
        if behaviour == "echo-token":
            sent = (headers or {}).get("x-hf-authorization", "")
            raise gr.Error(f"Bad request from {sent}", print_exception=False)
        if behaviour == "gpu-quota":
            raise gr.Error(GPU_QUOTA_MESSAGE, print_exception=False)
        if behaviour == "crash":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if behaviour == "slow" and self._stopping.wait(self.slow_seconds):
            raise gr.Error("The Space is shutting down.")
        if randomize_seed:
            seed = random.randint(0, MAX_SEED)
        width, height = int(width), int(height)
        if behaviour == "wrong-size":
            width += 64
        return draw_image(width, height, prompt, int(seed)), seed

    def stop(self) -> None:
        """Close the app: its port stops answering.

        A call still running then ends, on the gradio_client 2.7.2 side, in
        ``KeyError('unexpected_error')`` (Gradio 6.31 tells it "Server stopped unexpectedly." in a
        message the client does not know). A killed Space process gives ``CancelledError``
        instead: run this module in a subprocess to test that.
        """
        self._stopping.set()
        if self.demo is not None:
            self.demo.close()

    def __enter__(self) -> FakeSpace:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def draw_image(width: int, height: int, label: str = "", seed: int = 0) -> Image.Image:
    """An RGB image of exactly width x height, its colour from the seed, the label on it."""
    colour = (seed * 2654435761) & 0xFFFFFF
    image = Image.new("RGB", (width, height), (colour >> 16, (colour >> 8) & 255, colour & 255))
    if label:
        ImageDraw.Draw(image).text((8, 8), str(label)[:60], fill="white")
    return image


def build_demo(space: FakeSpace) -> gr.Blocks:
    """The Space's layout and event, wired to ``space.infer``."""
    with gr.Blocks(analytics_enabled=False, title="Stable Diffusion 3.5 Large (fake)") as demo:
        with gr.Row():
            prompt = gr.Text(
                label="Prompt",
                show_label=False,
                max_lines=1,
                placeholder="Enter your prompt",
                container=False,
            )
            run_button = gr.Button("Run", scale=0, variant="primary")
        result = gr.Image(label="Result", show_label=False, format="webp")
        with gr.Accordion("Advanced Settings", open=False):
            negative_prompt = gr.Text(
                label="Negative prompt",
                max_lines=1,
                placeholder="Enter a negative prompt",
                visible=False,
            )
            seed = gr.Slider(label="Seed", minimum=0, maximum=MAX_SEED, step=1, value=0)
            randomize_seed = gr.Checkbox(label="Randomize seed", value=True)
            with gr.Row():
                width = gr.Slider(
                    label="Width",
                    minimum=MIN_IMAGE_SIZE,
                    maximum=MAX_IMAGE_SIZE,
                    step=32,
                    value=1024,
                )
                height = gr.Slider(
                    label="Height",
                    minimum=MIN_IMAGE_SIZE,
                    maximum=MAX_IMAGE_SIZE,
                    step=32,
                    value=1024,
                )
            with gr.Row():
                guidance_scale = gr.Slider(
                    label="Guidance scale", minimum=0.0, maximum=7.5, step=0.1, value=4.5
                )
                num_inference_steps = gr.Slider(
                    label="Number of inference steps", minimum=1, maximum=50, step=1, value=40
                )

        def infer(
            prompt,
            negative_prompt="",
            seed=42,
            randomize_seed=False,
            width=1024,
            height=1024,
            guidance_scale=4.5,
            num_inference_steps=40,
            request: gr.Request = None,
        ):
            return space.infer(
                prompt,
                negative_prompt,
                seed,
                randomize_seed,
                width,
                height,
                guidance_scale,
                num_inference_steps,
                headers=dict(request.headers) if request is not None else None,
            )

        gr.on(
            triggers=[run_button.click, prompt.submit],
            fn=infer,
            inputs=[
                prompt,
                negative_prompt,
                seed,
                randomize_seed,
                width,
                height,
                guidance_scale,
                num_inference_steps,
            ],
            outputs=[result, seed],
        )
    return demo


def _free_port() -> int:
    # Gradio refuses server_port=0 (it probes the URL it would serve), so ask the OS for one.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gradio_space(
    *,
    show_error: bool = False,
    queue_max_size: int | None = None,
    auth: tuple[str, str] | None = None,
    attempts: int = 3,
) -> FakeSpace:
    """Launch the fake Space on a free port of 127.0.0.1 and return it, ready to call.

    ``queue_max_size`` bounds Gradio's queue (a call beyond it gets ``QueueError``, "Queue is
    full"); ``show_error=True`` lets a crash's own message through to the client; ``auth`` puts
    the app behind Gradio's log-in, so a client without it gets 401 from ``/config``.
    """
    space = FakeSpace()
    demo = build_demo(space)
    demo.queue(max_size=queue_max_size)
    started = time.monotonic()
    for attempt in range(attempts):
        port = _free_port()
        try:
            demo.launch(
                prevent_thread_lock=True,
                server_name="127.0.0.1",
                server_port=port,
                share=False,
                quiet=True,
                show_error=show_error,
                ssr_mode=False,
                mcp_server=False,
                auth=auth,
            )
            break
        except OSError:  # the port was taken between probe and launch: try another
            if attempt == attempts - 1:
                raise
    space.start_seconds = time.monotonic() - started
    space.demo = demo
    space.url = f"http://127.0.0.1:{port}/"
    return space
