"""The offline demo provider draws a real, deterministic picture."""

import io

from PIL import Image, ImageChops, ImageStat

from imagegen.providers.base import GenerationRequest
from imagegen.providers.demo import DemoProvider


def draw(**changes):
    request = GenerationRequest(
        **{"prompt": "Jeju beach", "negative_prompt": "", "width": 512, "height": 320, "seed": 1}
        | changes
    )
    result = DemoProvider().generate(request)
    return result, Image.open(io.BytesIO(result.image))


def same(a, b):
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_same_request_same_picture():
    (first, a), (second, b) = draw(), draw()
    assert first.image == second.image
    assert same(a, b)


def test_seed_prompt_and_negative_prompt_each_change_the_picture():
    _, base = draw()
    for changes in ({"seed": 2}, {"prompt": "Jeju beach at night"}, {"negative_prompt": "sea"}):
        assert not same(base, draw(**changes)[1]), changes


def test_it_is_the_size_asked_for_and_not_flat():
    result, image = draw(width=768, height=256)
    assert (image.format, image.size) == ("PNG", (768, 256))
    assert result.model == "travelfit-demo-postcard"
    assert result.seed == 1
    # A picture, not a blank: the channels vary across the image.
    assert min(ImageStat.Stat(image.convert("RGB")).stddev) > 10


def test_korean_prompts_draw_too():
    _, image = draw(prompt="제주도 바다의 밤")
    assert image.size == (512, 320)
