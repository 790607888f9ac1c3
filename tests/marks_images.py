"""Pictures for the marks' tests and bench: the demo provider's postcards and photo-like ones."""

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from imagegen.providers.demo import draw_postcard

PROMPTS = (
    "Jeju at sunrise",
    "Seoul by night",
    "snow on the glacier",
    "a beach on an island",
    "dunes in the desert",
    "Lisbon at noon",
    "harbor at sunset",
    "winter ski slope",
)


def photo_like(seed, width=1024, height=1024):
    """Colour fields, shapes at many scales, blur and sensor-like noise: a photo's statistics,
    different for each seed (smooth skies to busy textures)."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(5, 60))):
        x, y = rng.integers(0, width), rng.integers(0, height)
        radius = int(rng.integers(8, max(width, height) // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
        else:
            draw.rectangle([x - radius, y - radius // 2, x + radius, y + radius // 2], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 6))))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(1, 12), (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def varied(number, size=1024):
    """The number-th of a varied set: even ones photo-like, odd ones demo postcards."""
    if number % 2 == 0:
        return photo_like(number, size, size)
    return draw_postcard(f"{PROMPTS[number // 2 % len(PROMPTS)]} {number}", number, size, size)


def encoded(image, kind="PNG", **options):
    """`image` as bytes in `kind` (PNG, JPEG, WEBP)."""
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()
