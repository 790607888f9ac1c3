"""lib/png: the fast PNG writer, read back by Pillow and by libpng (OpenCV's decoder)."""

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from lib import png
from tests.marks_images import encoded, photo_like, varied


def idat_stream(data):
    """The concatenated IDAT bodies of PNG `data`, checking every chunk's CRC on the way."""
    position, stream = len(png.SIGNATURE), b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IDAT":
            stream += body
        position += 12 + length
    return stream


def by_libpng(data):
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    order = [2, 1, 0, 3][: decoded.shape[2]]
    return decoded[:, :, order]


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (37, 61), (300, 257)])
def test_pillow_and_libpng_read_back_the_same_pixels(shape, channels):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1] + channels)
    pixels = rng.integers(0, 256, (*shape, channels), dtype=np.uint8)
    data = png.encode(pixels)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
    assert np.array_equal(by_libpng(data), pixels)


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_any_number_of_parts_is_one_valid_zlib_stream_of_the_filtered_rows(parts):
    pixels = np.asarray(varied(2, 512))
    data = png.encode(pixels, parts=parts)
    # zlib.decompress checks the joined deflate stream and its Adler-32 trailer.
    assert zlib.decompress(idat_stream(data)) == png.average_filtered(pixels)
    assert np.array_equal(by_libpng(data), pixels)


def test_average_filter_is_the_png_definition():
    pixels = np.random.default_rng(3).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    raw = pixels.reshape(5, 12).astype(int)
    filtered = np.frombuffer(png.average_filtered(pixels), np.uint8).reshape(5, 13)
    for y in range(5):
        assert filtered[y, 0] == 3
        for x in range(12):
            left = raw[y, x - 3] if x >= 3 else 0
            up = raw[y - 1, x] if y else 0
            assert filtered[y, x + 1] == (raw[y, x] - (left + up) // 2) % 256


def test_text_chunks_and_the_colour_profile_come_back():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    text = {"parameters": "서울 야경\nSeed: 7", "Software": "TravelFit"}
    data = png.encode(np.zeros((8, 8, 3), np.uint8), text=text, icc_profile=profile)
    image = Image.open(io.BytesIO(data))
    assert image.text == text
    assert image.info["icc_profile"] == profile


def test_photos_compress_as_well_as_pillows_level_1_run_length():
    for seed in (4, 7, 12):
        picture = photo_like(seed, 512, 512)
        ours = png.encode(np.asarray(picture))
        pillows = encoded(picture, "PNG", compress_level=1, compress_type=zlib.Z_RLE)
        assert len(ours) <= len(pillows) * 1.02, seed


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_anything_but_8_bit_rgb_or_rgba_pixels_is_refused(pixels):
    with pytest.raises(ValueError):
        png.encode(pixels)


@pytest.mark.parametrize("keyword", ["", "k" * 80, "키워드"])
def test_a_text_keyword_png_cannot_hold_is_refused(keyword):
    with pytest.raises(ValueError, match="keyword"):
        png.encode(np.zeros((2, 2, 3), np.uint8), text={keyword: "x"})
