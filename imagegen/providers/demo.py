"""The offline `demo` provider: a postcard-like landscape drawn with Pillow, no token or network.

The picture is a pure function of (prompt, seed, size), so the same request gives the same
image, and a few words in the prompt (night, sunset, snow, beach, desert…) steer the scene.
It does the photo tasks too, visibly from the photos: an edit recolours the photo in the
prompt's mood and writes the prompt under it; a try-on lays the garment over the person's
middle. Every result says DEMO.
"""

import hashlib
import io
import random
import time

from django.conf import settings
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

from ..images import encode_png
from .base import (
    EDIT,
    TASKS,
    TRY_ON,
    Capabilities,
    GenerationRequest,
    ImageProvider,
    ProviderResult,
)

# The longer side of an edit or a try-on, at most (the photo's own size when smaller).
PHOTO_RESULT_SIZE = 1024

# (sky top, sky at the horizon, sun, far hills, near hills, ground or sea)
PALETTES = {
    "dawn": ((96, 122, 190), (250, 196, 170), (255, 236, 200), (132, 120, 168), (70, 84, 120)),
    "noon": ((64, 140, 220), (190, 225, 250), (255, 250, 225), (110, 150, 170), (60, 110, 90)),
    "sunset": ((58, 48, 110), (250, 150, 90), (255, 210, 120), (120, 70, 110), (60, 40, 70)),
    "night": ((10, 16, 40), (44, 60, 110), (236, 236, 250), (40, 50, 90), (20, 26, 50)),
    "winter": ((150, 180, 215), (235, 240, 248), (255, 255, 245), (170, 185, 210), (225, 232, 242)),
    "desert": ((90, 160, 225), (250, 225, 180), (255, 245, 210), (214, 150, 90), (200, 120, 70)),
}
KEYWORDS = {
    "night": ("night", "star", "moon", "밤", "별", "야경"),
    "sunset": ("sunset", "evening", "dusk", "golden hour", "노을", "저녁"),
    "winter": ("snow", "winter", "ski", "glacier", "눈", "겨울"),
    "desert": ("desert", "sahara", "dune", "사막"),
    "dawn": ("dawn", "sunrise", "morning", "새벽", "아침", "일출"),
    "noon": ("noon", "midday", "daylight", "낮"),
}
SEA_WORDS = ("sea", "beach", "ocean", "island", "coast", "harbor", "lake", "바다", "해변", "섬")


def _blend(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def _font(size):
    return ImageFont.load_default(size=max(10, size))


def _ridge(rng, width, base, roughness):
    """A mountain ridge as a list of y values, by midpoint displacement."""
    points = [base + rng.uniform(-roughness, roughness) for _ in range(2)]
    spread = roughness
    while len(points) < width // 4 + 2:
        spread *= 0.55
        refined = []
        for left, right in zip(points, points[1:], strict=False):
            refined += [left, (left + right) / 2 + rng.uniform(-spread, spread)]
        points = refined + [points[-1]]
    step = width / (len(points) - 1)
    return [(round(i * step), round(y)) for i, y in enumerate(points)]


def _mentions(text, words):
    return any(word in text for word in words)


def draw_postcard(
    prompt: str, seed: int, width: int, height: int, negative_prompt: str = ""
) -> Image.Image:
    """Draw the demo scene for (prompt, negative prompt, seed, size) as an RGB image.

    The negative prompt is honoured as the real models do, roughly: a mood, the sea or the
    birds it names are left out.
    """
    digest = hashlib.sha256(f"{prompt}\x00{negative_prompt}\x00{seed}".encode()).digest()
    rng = random.Random(digest)
    lowered, avoid = prompt.lower(), negative_prompt.lower()
    allowed = [
        name for name in PALETTES if not _mentions(avoid, KEYWORDS.get(name, (name,)))
    ] or list(PALETTES)
    mood = next(
        (name for name in allowed if _mentions(lowered, KEYWORDS.get(name, (name,)))),
        rng.choice([name for name in ("dawn", "noon", "sunset") if name in allowed] or allowed),
    )
    sky_top, sky_low, sun, far, near = PALETTES[mood]
    seaside = not _mentions(avoid, SEA_WORDS) and (
        _mentions(lowered, SEA_WORDS) or rng.random() < 0.35
    )

    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = round(height * rng.uniform(0.55, 0.68))
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=_blend(sky_top, sky_low, min(1, y / horizon)))

    if mood == "night":
        for _ in range(width * height // 2500):
            x, y = rng.randrange(width), rng.randrange(horizon)
            r = rng.choice([1, 1, 1, 2])
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 240))

    radius = round(min(width, height) * rng.uniform(0.07, 0.11))
    cx, cy = round(width * rng.uniform(0.2, 0.8)), round(horizon * rng.uniform(0.35, 0.7))
    glow = Image.new("RGBA", (width, height))
    glow_draw = ImageDraw.Draw(glow)
    for ring in range(6, 0, -1):
        r = radius + ring * radius // 3
        glow_draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(*sun, 18))
    glow_draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(*sun, 255))
    image.paste(glow, (0, 0), glow)

    layers = 3
    for layer in range(layers):
        depth = layer / (layers - 1)
        color = _blend(_blend(far, sky_low, 0.45), near, depth)
        base = horizon - height * (0.16 - 0.06 * layer)
        ridge = _ridge(rng, width, base, height * (0.12 - 0.025 * layer))
        draw.polygon([(0, height), *ridge, (width, height)], fill=color)

    if seaside:
        water_top, water_low = _blend(sky_low, far, 0.35), _blend(sky_top, near, 0.5)
        for y in range(horizon, height):
            draw.line(
                [(0, y), (width, y)],
                fill=_blend(water_top, water_low, (y - horizon) / max(1, height - horizon)),
            )
        for _ in range(40):
            y = rng.randrange(horizon + 2, height)
            spread = radius * (1 + (y - horizon) / max(1, height - horizon))
            x = cx + rng.uniform(-spread, spread)
            length = rng.uniform(0.3, 1.0) * radius
            draw.line([(x - length / 2, y), (x + length / 2, y)], fill=sun, width=1)
    else:
        ground = _ridge(rng, width, horizon + height * 0.08, height * 0.03)
        draw.polygon([(0, height), *ground, (width, height)], fill=_blend(near, (30, 30, 30), 0.3))

    for _ in range(0 if _mentions(avoid, ("bird", "새")) else rng.randrange(2, 6)):
        bx, by = rng.uniform(0.1, 0.9) * width, rng.uniform(0.15, 0.45) * horizon
        span = max(4, width // 60)
        draw.line(
            [(bx - span, by - span / 2), (bx, by), (bx + span, by - span / 2)],
            fill=_blend(sky_top, (20, 20, 30), 0.7),
            width=max(1, width // 400),
        )

    image = image.filter(ImageFilter.SMOOTH)
    _frame(image, width, height)
    return image


def _frame(image, width, height):
    """A white postcard border and a 'DEMO' stamp, so nobody mistakes this for a real model."""
    draw = ImageDraw.Draw(image)
    border = max(6, min(width, height) // 40)
    draw.rectangle([0, 0, width - 1, height - 1], outline=(250, 248, 242), width=border)
    font = _font(min(width, height) // 18)
    text = "DEMO"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = border
    box = [
        width - border * 2 - (right - left) - pad * 2,
        border * 2,
        width - border * 2,
        border * 2 + (bottom - top) + pad * 2,
    ]
    draw.rectangle(box, fill=(250, 248, 242), outline=(196, 60, 60), width=max(2, border // 3))
    draw.text((box[0] + pad - left, box[1] + pad - top), text, fill=(196, 60, 60), font=font)
    caption = "TravelFit demo image"
    small = _font(min(width, height) // 32)
    left, top, right, bottom = draw.textbbox((0, 0), caption, font=small)
    draw.text(
        (border * 2 - left, height - border * 2 - (bottom - top) - top),
        caption,
        fill=(255, 255, 255),
        font=small,
        stroke_width=1,
        stroke_fill=(40, 40, 40),
    )


def photo_size(width: int, height: int) -> tuple[int, int]:
    """The size of an edit or a try-on of a `width`×`height` photo: the photo's own, scaled
    down (never up) until its longer side is at most PHOTO_RESULT_SIZE."""
    scale = min(1.0, PHOTO_RESULT_SIZE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _photo(data):
    image = Image.open(io.BytesIO(data))
    size = photo_size(*image.size)
    image.draft("RGB", size)  # a JPEG decodes at a fraction of its size when that is enough
    image = image.convert("RGB")
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _mood_of(prompt, seed):
    lowered = prompt.lower()
    chosen = [name for name in PALETTES if _mentions(lowered, KEYWORDS.get(name, (name,)))]
    return chosen[0] if chosen else random.Random(f"{prompt}\x00{seed}").choice(list(PALETTES))


# Fonts that have Hangul, where Linux distributions put them (Debian's fonts-nanum, Noto CJK);
# without one, Pillow's own font draws Korean captions as boxes.
HANGUL_FONTS = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


def _caption_font(size):
    for path in HANGUL_FONTS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return _font(size)


def _caption(image, text):
    """The prompt in a band across the bottom of the picture, above the line where _frame
    writes "TravelFit demo image"."""
    draw = ImageDraw.Draw(image)
    width, height = image.size
    line = max(24, height // 12)
    font = _caption_font(max(12, height // 28))
    draw.rectangle([0, height - 2 * line, width, height], fill=(20, 24, 34))
    words = text if len(text) <= 60 else text[:59] + "…"
    draw.text((line // 2, height - 2 * line + line // 4), words, fill=(250, 248, 242), font=font)


def edit_photo(source: bytes, prompt: str, seed: int) -> Image.Image:
    """The photo recoloured in the prompt's mood (sunset, night, snow…), the prompt under it."""
    photo = _photo(source)
    sky_top, sky_low, sun, far, near = PALETTES[_mood_of(prompt, seed)]
    toned = ImageOps.colorize(
        ImageOps.grayscale(photo), black=_blend(sky_top, (0, 0, 0), 0.5), white=sun, mid=sky_low
    )
    image = Image.blend(photo, toned, 0.6)
    _caption(image, prompt)
    _frame(image, *image.size)
    return image


def try_on(person: bytes, garment: bytes, description: str) -> Image.Image:
    """The garment laid over the person's middle: its own background (the colour of its
    corners) left out, scaled to half the person's width."""
    image = _photo(person)
    piece = _photo(garment)
    corner = Image.new("RGB", piece.size, piece.getpixel((0, 0)))
    mask = ImageChops.difference(piece, corner).convert("L").point(lambda v: 255 if v > 40 else 0)
    target_width = max(1, image.width // 2)
    scale = target_width / piece.width
    size = (target_width, max(1, round(piece.height * scale)))
    piece, mask = piece.resize(size), mask.resize(size).filter(ImageFilter.GaussianBlur(1))
    left = (image.width - size[0]) // 2
    top = max(0, min(image.height - size[1], round(image.height * 0.35)))
    image.paste(piece, (left, top), mask)
    _caption(image, description or "try-on")
    _frame(image, *image.size)
    return image


class DemoProvider(ImageProvider):
    """Draws locally with Pillow; needs no token or network. Does every task."""

    name = "demo"
    model = "travelfit-demo-postcard"
    capabilities = Capabilities(
        min_size=256,
        max_size=1024,
        size_step=64,
        steps=None,
        guidance=None,
        tasks=frozenset(TASKS),
    )

    def generate(self, request: GenerationRequest) -> ProviderResult:
        # A short pause makes the queued → running → done progression visible, as with a model.
        time.sleep(settings.IMAGEGEN_DEMO_DELAY)
        if request.task == EDIT:
            image = edit_photo(request.source, request.prompt, request.seed)
        elif request.task == TRY_ON:
            image = try_on(request.source, request.garment, request.prompt)
        else:
            image = draw_postcard(
                request.prompt,
                request.seed,
                request.width,
                request.height,
                negative_prompt=request.negative_prompt,
            )
        return ProviderResult(image=encode_png(image), model=self.model, seed=request.seed)

    def photo_result_size(self, task: str, width: int, height: int) -> tuple[int, int] | None:
        return photo_size(width, height)
