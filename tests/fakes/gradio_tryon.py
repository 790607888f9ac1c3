"""A fake of the yisol/IDM-VTON virtual try-on Space: a real Gradio app on 127.0.0.1.

It has the Space's ``/tryon`` endpoint with the same seven inputs and two outputs, the same
components in the same order, so gradio_client talks to it exactly as to the Space (``/config``,
``/gradio_api/info``, the upload, the queue, the SSE stream, the file download):

===================  ==========================================================================
dict                 ImageEditor (type="pil"): the person, as ``{"background": file,
                     "layers": [], "composite": None}``; the background arrives as an RGBA
                     image (the editor's image_mode), as on the Space
garm_img             Image (type="pil"): the garment, as an RGB image
garment_des          Textbox: the garment's description ("" allowed)
is_checked           Checkbox, value True: use the auto-generated mask
is_checked_crop      Checkbox, value False: auto-crop and resize
denoise_steps        Number 20..40 step 1, value 30
seed                 Number -1..2147483647 step 1, value 42
outputs              Image (the person wearing the garment) and Image (the mask)
===================  ==========================================================================

Numbers out of range are refused by Gradio itself before ``tryon`` runs (the client raises
``AppError("Value 50 is greater than maximum value 40.")``), as on the Space.

Instead of diffusing, ``tryon`` pastes the garment, scaled to half the person's width, onto the
middle of the person (``composite()``), so a test can tell both photos were used; the mask is
white where the garment went. Both outputs are PNG (the Space's are WebP), so the composite
arrives pixel for pixel. What ``tryon`` does is scripted from the test through the object
``start_gradio_tryon()`` returns (the app runs in this process, in threads):

===============  ==============================================================================
``ok``           returns ``(composite, mask)``
``gpu-quota``    ``raise gr.Error(GPU_QUOTA_MESSAGE)``: the client raises ``AppError`` with that
                 exact text, as for a ZeroGPU Space out of quota
``crash``        ``raise RuntimeError``: the client raises ``AppError`` with Gradio's generic text
``slow``         waits ``space.slow_seconds`` (default 10; cut short by ``stop()``), then ``ok``
``empty``        returns ``(None, None)``: the client hands back no file
===============  ==============================================================================

``space.behaviour`` applies to every call; ``space.script("gpu-quota", "ok")`` queues behaviours
that the next calls take in turn first. ``space.calls`` records each call as a ``TryOnCall``:
the person and the garment as ``tryon`` received them (PIL images, after Gradio's
preprocessing), the description, both flags, the steps and the seed (Numbers as sent: an
int stays an int).

``start_gradio_tryon(signature="old")`` builds a variant whose ``/tryon`` takes the person as a
plain Image and has no ``is_checked_crop``, as an older duplicate might: for the tests of
``check()``'s comparison of parameters.

What gradio_client 2.7.2 reports of it (checked): ``client.view_api(print_info=False,
return_format="dict")["named_endpoints"]["/tryon"]`` has ``parameters``, each a dict with
``parameter_name`` (``dict``, ``garm_img``, ``garment_des``, ``is_checked``,
``is_checked_crop``, ``denoise_steps``, ``seed``), ``component`` (``Imageeditor``, so spelt,
``Image``, ``Textbox``, ``Checkbox``, ``Checkbox``, ``Number``, ``Number``),
``parameter_has_default``, ``parameter_default`` and ``python_type``; and ``returns``, two
dicts with ``component`` ``Image``. A Textbox with no label is labelled ``parameter_<n>``.

Network, launch and cost are as for tests/fakes/gradio_space.py: analytics off, 127.0.0.1 only,
no share link, a free port, about 0.2 s to launch once gradio is imported; start one per test
module or session and script it per test (``space.reset()``).

Example::

    @pytest.fixture(scope="module")
    def tryon_space():
        with start_gradio_tryon() as space:
            yield space

    def test_quota(tryon_space, tmp_path):
        tryon_space.reset()
        tryon_space.behaviour = "gpu-quota"
        client = gradio_client.Client(tryon_space.url, download_files=tmp_path, verbose=False)
        ...
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from PIL import Image

from tests.fakes.gradio_space import GPU_QUOTA_MESSAGE, _free_port
from tests.fakes.scripting import Scripted

__all__ = ["GPU_QUOTA_MESSAGE", "FakeTryOnSpace", "TryOnCall", "composite", "start_gradio_tryon"]

MAX_SEED = 2_147_483_647
BEHAVIOURS = frozenset({"ok", "gpu-quota", "crash", "slow", "empty"})


@dataclass
class TryOnCall:
    """One call of ``/tryon`` as the Space's function received it."""

    person: Image.Image | None
    garment: Image.Image | None
    description: str
    auto_mask: bool
    auto_crop: bool
    steps: int | float
    seed: int | float


class FakeTryOnSpace(Scripted):
    """A running fake try-on Space: its URL, the scripting knobs, the calls (TryOnCall) it
    received."""

    behaviours = BEHAVIOURS

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.demo: gr.Blocks | None = None

    def tryon(self, editor, garment, description, auto_mask, auto_crop, steps, seed):
        """The Space's ``start_tryon``, pasting instead of diffusing."""
        person = (editor or {}).get("background")
        with self._lock:
            self.calls.append(
                TryOnCall(
                    person=person.copy() if person is not None else None,
                    garment=garment.copy() if garment is not None else None,
                    description=description,
                    auto_mask=auto_mask,
                    auto_crop=auto_crop,
                    steps=steps,
                    seed=seed,
                )
            )
        behaviour = self.next_behaviour()
        if behaviour == "gpu-quota":
            raise gr.Error(GPU_QUOTA_MESSAGE, print_exception=False)
        if behaviour == "crash":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if behaviour == "slow" and self._stopping.wait(self.slow_seconds):
            raise gr.Error("The Space is shutting down.")
        if behaviour == "empty":
            return None, None
        return composite(person, garment), garment_mask(person, garment)

    def stop(self) -> None:
        """Close the app: its port stops answering (a running call ends, see gradio_space)."""
        self._stopping.set()
        if self.demo is not None:
            self.demo.close()

    def __enter__(self) -> FakeTryOnSpace:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _garment_box(person: Image.Image, garment: Image.Image) -> tuple[int, int, int, int]:
    """Where the garment goes on the person: half their width, centred, aspect kept."""
    width = max(1, person.width // 2)
    height = max(1, round(garment.height * width / garment.width))
    left, top = (person.width - width) // 2, max(0, (person.height - height) // 2)
    return left, top, width, height


def composite(person: Image.Image, garment: Image.Image) -> Image.Image:
    """The person (RGB) with the garment pasted on: what the fake's ``/tryon`` answers."""
    left, top, width, height = _garment_box(person, garment)
    result = person.convert("RGB")
    result.paste(garment.convert("RGB").resize((width, height)), (left, top))
    return result


def garment_mask(person: Image.Image, garment: Image.Image) -> Image.Image:
    """Black with white where the garment went: the fake's second output."""
    left, top, width, height = _garment_box(person, garment)
    mask = Image.new("L", person.size, 0)
    mask.paste(255, (left, top, left + width, top + height))
    return mask


def build_demo(space: FakeTryOnSpace, signature: str = "idm-vton") -> gr.Blocks:
    """The Space's layout and ``/tryon`` event (or the ``old`` variant), wired to ``space``."""
    with gr.Blocks(analytics_enabled=False, title="IDM-VTON (fake)") as demo:
        with gr.Row():
            with gr.Column():
                if signature == "old":
                    imgs = gr.Image(label="Human", sources="upload", type="pil")
                else:
                    imgs = gr.ImageEditor(
                        sources="upload",
                        type="pil",
                        label="Human. Mask with pen or use auto-masking",
                        interactive=True,
                    )
                is_checked = gr.Checkbox(
                    label="Yes", info="Use auto-generated mask (Takes 5 seconds)", value=True
                )
                is_checked_crop = gr.Checkbox(
                    label="Yes", info="Use auto-crop & resizing", value=False
                )
            with gr.Column():
                garm_img = gr.Image(label="Garment", sources="upload", type="pil")
                prompt = gr.Textbox(
                    placeholder="Description of garment ex) Short Sleeve Round Neck T-shirts",
                    show_label=False,
                )
            with gr.Column():
                image_out = gr.Image(label="Output", format="png")
                masked_img = gr.Image(label="Masked image output", format="png")
        try_button = gr.Button(value="Try-on")
        with gr.Accordion(label="Advanced Settings", open=False), gr.Row():
            denoise_steps = gr.Number(
                label="Denoising Steps", minimum=20, maximum=40, value=30, step=1
            )
            seed = gr.Number(label="Seed", minimum=-1, maximum=MAX_SEED, step=1, value=42)

        if signature == "old":

            def start_tryon(human, garm_img, garment_des, is_checked, denoise_steps, seed):
                editor = {"background": human, "layers": [], "composite": None}
                return space.tryon(
                    editor, garm_img, garment_des, is_checked, False, denoise_steps, seed
                )

            inputs = [imgs, garm_img, prompt, is_checked, denoise_steps, seed]
        else:

            def start_tryon(
                dict, garm_img, garment_des, is_checked, is_checked_crop, denoise_steps, seed
            ):
                # The parameter names are the Space's: they are what view_api reports.
                return space.tryon(
                    dict, garm_img, garment_des, is_checked, is_checked_crop, denoise_steps, seed
                )

            inputs = [imgs, garm_img, prompt, is_checked, is_checked_crop, denoise_steps, seed]
        try_button.click(
            fn=start_tryon, inputs=inputs, outputs=[image_out, masked_img], api_name="tryon"
        )
    return demo


def start_gradio_tryon(
    *,
    signature: str = "idm-vton",
    queue_max_size: int | None = None,
    auth: tuple[str, str] | None = None,
    attempts: int = 3,
) -> FakeTryOnSpace:
    """Launch the fake try-on Space on a free port of 127.0.0.1 and return it, ready to call.

    ``signature="old"`` builds the variant with another ``/tryon`` (see the module docstring);
    ``queue_max_size`` bounds Gradio's queue (with one call running and that many waiting, the
    next gets ``QueueError``, "Queue is full"); ``auth`` puts the app behind Gradio's log-in, so
    a client without it gets 401 from ``/config``, as from a private Space.
    """
    if signature not in ("idm-vton", "old"):
        raise ValueError(f"unknown signature {signature!r}; known: idm-vton, old")
    space = FakeTryOnSpace()
    demo = build_demo(space, signature)
    demo.queue(max_size=queue_max_size)
    for attempt in range(attempts):
        port = _free_port()
        try:
            demo.launch(
                prevent_thread_lock=True,
                server_name="127.0.0.1",
                server_port=port,
                share=False,
                quiet=True,
                ssr_mode=False,
                mcp_server=False,
                auth=auth,
            )
            break
        except OSError:  # the port was taken between probe and launch: try another
            if attempt == attempts - 1:
                raise
    space.demo = demo
    space.url = f"http://127.0.0.1:{port}/"
    return space
