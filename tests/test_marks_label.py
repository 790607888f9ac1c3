"""The visible label: drawn in the corner only, in the reader's language with real Hangul,
large enough on a phone, readable on any background."""

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from imagegen.marks import label
from tests.marks_images import varied

PHONE_WIDTH = 390


def test_the_label_changes_the_bottom_right_corner_and_nothing_else():
    image = varied(1, 1024)
    labelled = label.burn_label(image, "ko")
    assert labelled.size == image.size and labelled.mode == image.mode
    left, top, right, bottom = label.label_box(1024, 1024, "ko")
    assert right > 900 and bottom > 900 and left > 512 and top > 512
    changed = ImageChops.difference(image, labelled).getbbox()
    assert changed is not None
    assert changed[0] >= left and changed[1] >= top
    # getbbox() ends one past the last changed pixel; the plate's edges are drawn in.
    assert changed[2] <= right + 1 and changed[3] <= bottom + 1


@pytest.mark.parametrize(
    "size", [(1024, 1024), (768, 1024), (1024, 576), (576, 1024), (512, 512), (256, 256)]
)
@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_label_is_legible_on_a_phone_showing_the_image_390_px_wide(size, language):
    width, height = size
    scale = PHONE_WIDTH / width
    text_px = label.text_size(width, height)
    assert text_px * scale >= 12  # the font's size, in CSS pixels on the phone
    left, top, right, bottom = label.label_box(width, height, language)
    assert (bottom - top) * scale >= 16  # the plate's height: a clear mark, not a speck
    assert 0 < left < right <= width and 0 < top < bottom <= height
    # The label never covers more than a small corner.
    assert (right - left) * (bottom - top) < 0.06 * width * height


def wcag_contrast(a, b):
    def luminance(rgb):
        channel = np.asarray(rgb, float) / 255
        linear = np.where(channel <= 0.03928, channel / 12.92, ((channel + 0.055) / 1.055) ** 2.4)
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted([luminance(a), luminance(b)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("background", [(255, 255, 255), (0, 0, 0), (250, 210, 40), (90, 140, 220)])
def test_text_and_plate_contrast_on_any_background(background):
    labelled = label.burn_label(Image.new("RGB", (800, 800), background), "en")
    corner = np.asarray(labelled.crop(label.label_box(800, 800, "en"))).reshape(-1, 3)
    brightness = corner.sum(axis=1)
    text, plate = corner[brightness.argmax()], corner[np.median(brightness) == brightness][0]
    assert wcag_contrast(text, plate) >= 4.5


def drawn(text):
    image = Image.new("L", (80, 80))
    ImageDraw.Draw(image).text((8, 8), text, font=ImageFont.truetype(str(label.FONT), 48), fill=255)
    return image.tobytes()


def test_korean_is_drawn_with_hangul_glyphs_not_boxes():
    missing = drawn("한")  # not in the subset: what the font draws for a missing glyph
    for syllable in "생성":
        assert drawn(syllable) != missing
        assert sum(drawn(syllable)) > 255 * 100  # ink, not an empty box
    assert drawn("생") != drawn("성")


@pytest.mark.parametrize(
    ("language", "text"),
    [("ko", "AI 생성"), ("ko-KR", "AI 생성"), ("en", "AI-generated"), ("fr", "AI-generated")],
)
def test_the_label_speaks_the_language_asked_and_english_otherwise(language, text):
    assert label.label_text(language) == text


def test_an_image_with_alpha_keeps_it():
    image = Image.new("RGBA", (400, 300), (10, 200, 30, 90))
    labelled = label.burn_label(image, "en")
    assert labelled.mode == "RGBA"
    assert labelled.getpixel((5, 5)) == (10, 200, 30, 90)
