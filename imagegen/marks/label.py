"""The visible label: "AI 생성" / "AI-generated" burnt into a corner of an image.

White bold text on a dark plate at 70 % opacity, so it reads on any background (at least 8:1
over white, 21:1 over black). Its size follows the image: the text is 3.2 % of the longer side,
at most 5 % of the width, so that on a phone showing the image 390 px wide it is still at least
12 px tall.

The font ships with the app (fonts/TravelFitLabel-Bold.ttf, 16 KB): the glyphs of both labels cut
from NanumGothic Bold (SIL OFL 1.1, renamed as that licence asks, fonts/OFL.txt). Containers have
no fonts, and Pillow's own has no Hangul; a subset draws sharp at every size, which pre-rendered
label images would not, and it is a sixtieth of the whole font.
"""

import functools
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path(__file__).with_name("fonts") / "TravelFitLabel-Bold.ttf"
LABELS = {"ko": "AI 생성", "en": "AI-generated"}
TEXT_OF_LONGER_SIDE = 0.032
TEXT_OF_WIDTH = 0.05
SMALLEST_TEXT = 11
PLATE = (0, 0, 0, 178)
INK = (255, 255, 255, 255)


def label_text(language: str) -> str:
    """The label in `language` (a code like "ko" or "en-GB"); English for any other."""
    return LABELS.get((language or "").split("-")[0].lower(), LABELS["en"])


def text_size(width: int, height: int) -> int:
    """The label's font size in pixels for an image of this size."""
    return max(
        SMALLEST_TEXT,
        round(min(TEXT_OF_LONGER_SIDE * max(width, height), TEXT_OF_WIDTH * width)),
    )


def label_box(width: int, height: int, language: str) -> tuple[int, int, int, int]:
    """Where the plate goes (left, top, right, bottom): the bottom-right corner."""
    size = text_size(width, height)
    left, top, right, bottom = _font(size).getbbox(label_text(language))
    pad, margin = round(size * 0.45), round(size * 0.6)
    plate_width = right - left + 2 * pad
    plate_height = bottom - top + 2 * pad
    right_edge, bottom_edge = width - margin, height - margin
    return (right_edge - plate_width, bottom_edge - plate_height, right_edge, bottom_edge)


def burn_label(image: Image.Image, language: str) -> Image.Image:
    """A copy of `image` with the label in its bottom-right corner (mode kept: RGB or RGBA)."""
    text = label_text(language)
    size = text_size(image.width, image.height)
    font = _font(size)
    box = label_box(image.width, image.height, language)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rounded_rectangle(box, radius=round(size * 0.3), fill=PLATE)
    left, top, _, _ = font.getbbox(text)
    pad = round(size * 0.45)
    draw.text((box[0] + pad - left, box[1] + pad - top), text, font=font, fill=INK)
    base = image.convert("RGBA")
    base.alpha_composite(overlay)
    return base if image.mode == "RGBA" else base.convert(image.mode)


@functools.lru_cache(maxsize=32)
def _font(size):
    return ImageFont.truetype(str(FONT), size)
