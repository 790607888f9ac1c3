"""The lookbook's contact sheet: one image of the whole trip, a tile per day (its picture, date,
weather and outfit words) under the destination and dates, with room at the bottom for the
visible "AI-generated" label that imagegen.services.trip_sheet burns in before signing it.

Pure drawing with Pillow: the words come in already written in the reader's language. The font
ships with the app (fonts/TravelFitSheet-Regular.woff, 224 KB, cut from NanumGothic, SIL OFL
1.1, fonts/make_sheet_font.py): containers have no fonts and Pillow's own has no Hangul. It
covers ASCII, Latin-1 letters, the 2,350 common Hangul syllables of KS X 1001 and a few signs
(`drawable`); any other character is drawn as "?" rather than as an empty box.
"""

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

FONT = Path(__file__).with_name("fonts") / "TravelFitSheet-Regular.woff"
SIGNS = "°·–—…↑↓×’“”"
# The Latin-1 letters and signs NanumGothic has (make_sheet_font.py prints them).
LATIN_1 = "\xa0¡¢£¤¥§¨©ª«¬\xad®°±²³´¶·¸¹º»¼½¾¿ÀÁÂÆÇÈÉÊËÍÎÏÐÑÓÔ×ØÙÚÛÜÞßàáâäæçèéêëíîïðñóôö÷øùúûüþ"
COLUMNS = 3
# A day's picture is fitted into this box: 3:4, as the lookbook's portrait pictures are.
PICTURE_WIDTH, PICTURE_HEIGHT = 384, 512
CAPTION = 150  # the words under it: date, weather, up to three lines of outfit
GAP = 20
MARGIN = 32
HEADER = 112
# The label (imagegen.marks.label) is at most 5 % of the width tall with its padding and
# margin about 2.5 times that: the footer leaves it that room below the last tile.
FOOTER_OF_WIDTH = 0.13
BACKGROUND = (250, 248, 244)
TILE = (255, 255, 255)
EMPTY = (226, 222, 214)
INK = (28, 28, 30)
MUTED = (92, 92, 100)
OUTFIT_LINES = 3


@dataclass(frozen=True)
class SheetDay:
    """One tile: its words, and its picture (None: a placeholder saying `missing`)."""

    date: str
    weather: str
    outfit: tuple[str, ...]  # garment names, in the order they are worn
    picture: Image.Image | None
    note: str = ""  # where the weather came from: 예보, 평년, typed


@dataclass(frozen=True)
class Sheet:
    """The whole trip: a title (the destination), a subtitle (the dates), the days, a footer
    (the weather's credit), and what an empty tile says."""

    title: str
    subtitle: str
    days: tuple[SheetDay, ...]
    footer: str = ""
    missing: str = "No picture yet"


@dataclass(frozen=True)
class Layout:
    """Where things go on a sheet of `size`: each day's picture box, in day order."""

    size: tuple[int, int]
    pictures: tuple[tuple[int, int, int, int], ...]


def layout(days: int) -> Layout:
    """The sheet's size and its picture boxes (left, top, right, bottom) for `days` tiles:
    three to a row (fewer when the trip is shorter)."""
    columns = max(1, min(COLUMNS, days))
    rows = max(1, math.ceil(days / columns))
    width = 2 * MARGIN + columns * PICTURE_WIDTH + (columns - 1) * GAP
    tiles_height = rows * (PICTURE_HEIGHT + CAPTION) + (rows - 1) * GAP
    height = HEADER + tiles_height + round(FOOTER_OF_WIDTH * width) + MARGIN // 2
    boxes = []
    for number in range(days):
        row, column = divmod(number, columns)
        left = MARGIN + column * (PICTURE_WIDTH + GAP)
        top = HEADER + row * (PICTURE_HEIGHT + CAPTION + GAP)
        boxes.append((left, top, left + PICTURE_WIDTH, top + PICTURE_HEIGHT))
    return Layout(size=(width, height), pictures=tuple(boxes))


def drawable(text: str) -> str:
    """`text` with every character the sheet's font lacks replaced by "?"."""
    return "".join(char if _covered(char) else "?" for char in text)


def _covered(char):
    if " " <= char <= "~" or char in LATIN_1 or char in SIGNS:
        return True
    if "\uac00" <= char <= "\ud7a3":
        try:
            return len(char.encode("euc_kr")) == 2  # one of KS X 1001's 2,350
        except UnicodeEncodeError:
            return False
    return False


def fully_drawable(text: str) -> bool:
    """Whether the font has every character of `text`."""
    return all(_covered(char) for char in text)


def draw(sheet: Sheet) -> Image.Image:
    """The contact sheet (RGB)."""
    plan = layout(len(sheet.days))
    image = Image.new("RGB", plan.size, BACKGROUND)
    pen = ImageDraw.Draw(image)
    pen.text((MARGIN, 28), _fit(sheet.title, _font(34), plan.size[0] - 2 * MARGIN), INK, _font(34))
    pen.text((MARGIN, 72), drawable(sheet.subtitle), MUTED, _font(20))
    for day, box in zip(sheet.days, plan.pictures, strict=True):
        _tile(image, pen, day, box, sheet.missing)
    if sheet.footer:
        footer_top = plan.size[1] - round(FOOTER_OF_WIDTH * plan.size[0]) + 8
        pen.text((MARGIN, footer_top), drawable(sheet.footer), MUTED, _font(16))
    return image


def _tile(image, pen, day, box, missing):
    left, top, right, bottom = box
    pen.rectangle((left, top, right - 1, bottom + CAPTION - 1), fill=TILE)
    if day.picture is None:
        pen.rectangle((left, top, right - 1, bottom - 1), fill=EMPTY)
        text = drawable(missing)
        width = _font(20).getlength(text)
        middle = (left + (PICTURE_WIDTH - width) / 2, top + PICTURE_HEIGHT / 2 - 12)
        pen.text(middle, text, MUTED, _font(20))
    else:
        fitted = ImageOps.contain(day.picture.convert("RGB"), (PICTURE_WIDTH, PICTURE_HEIGHT))
        pen.rectangle((left, top, right - 1, bottom - 1), fill=EMPTY)
        x = left + (PICTURE_WIDTH - fitted.width) // 2
        image.paste(fitted, (x, top + (PICTURE_HEIGHT - fitted.height) // 2))
    inner = PICTURE_WIDTH - 24
    y = bottom + 12
    date = drawable(day.date)
    pen.text((left + 12, y), _fit(date, _font(22), inner), INK, _font(22))
    if day.note:
        note = drawable(day.note)
        x = left + 12 + _font(22).getlength(date) + 10
        if x + _font(16).getlength(note) <= right - 12:
            pen.text((x, y + 5), note, MUTED, _font(16))
    pen.text((left + 12, y + 34), _fit(drawable(day.weather), _font(18), inner), INK, _font(18))
    for number, line in enumerate(_wrap(day.outfit, _font(17), inner)):
        pen.text((left + 12, y + 64 + number * 24), line, MUTED, _font(17))


def _wrap(words, font, width):
    """The garment names joined with " · " in up to OUTFIT_LINES lines of `width` px; a name
    is never cut in two (one too long for a line is shortened with "…")."""
    lines, line = [], ""
    for word in (drawable(word) for word in words):
        candidate = f"{line} · {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = _fit(word, font, width)
    if line:
        lines.append(line)
    if len(lines) > OUTFIT_LINES:
        lines = lines[:OUTFIT_LINES]
        lines[-1] = _fit(lines[-1] + " …", font, width)
    return lines


def _fit(text, font, width):
    text = drawable(text)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


@functools.lru_cache(maxsize=16)
def _font(size):
    return ImageFont.truetype(str(FONT), size)
