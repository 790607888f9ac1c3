"""Checking untrusted image bytes before anything is stored."""

import io
import struct
import zlib

import pytest
from PIL import Image

from imagegen.images import ImageRejected, check_image, png_bytes, thumbnail_bytes


def encode(image, fmt="PNG"):
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def png_header_claiming(width, height):
    """A tiny PNG whose header claims a huge size (a decompression bomb's calling card)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepted_formats_decode_to_rgb(fmt):
    image = check_image(encode(Image.new("RGBA", (64, 48), "teal").convert("RGB"), fmt))
    assert (image.mode, image.size) == ("RGB", (64, 48))


@pytest.mark.parametrize(
    ("data", "user_message"),
    [
        (b"", "empty image"),
        (b'{"error": "Model is loading"}', "not an image"),
        (encode(Image.new("RGB", (8, 8)), "GIF"), "not an image"),
        (encode(Image.new("RGB", (64, 64), "red"))[:60], "damaged"),
    ],
)
def test_unusable_bytes_are_rejected_with_a_message_for_the_user(data, user_message):
    with pytest.raises(ImageRejected) as raised:
        check_image(data)
    assert user_message in raised.value.user_message


def test_size_is_checked_before_decoding(settings):
    settings.IMAGEGEN_MAX_PIXELS = 1_000_000
    with pytest.raises(ImageRejected) as raised:
        check_image(png_header_claiming(50_000, 50_000))
    assert "too large" in raised.value.user_message
    assert "2500000000 pixels" in raised.value.detail


def test_an_image_over_our_limit_but_under_pillows_is_rejected_before_decoding(settings):
    settings.IMAGEGEN_MAX_PIXELS = 100 * 100
    with pytest.raises(ImageRejected) as raised:
        check_image(png_header_claiming(200, 200))
    assert "too large" in raised.value.user_message
    assert "200×200" in raised.value.detail


def test_wrong_size_is_rejected_when_a_size_was_asked_for():
    data = encode(Image.new("RGB", (512, 512)))
    assert check_image(data, expected_size=(512, 512)).size == (512, 512)
    with pytest.raises(ImageRejected, match="Asked for 512×768, got 512×512"):
        check_image(data, expected_size=(512, 768))


def test_png_carries_the_parameters_and_the_thumbnail_is_small_webp(settings):
    settings.IMAGEGEN_THUMBNAIL_SIZE = 100
    image = Image.new("RGB", (400, 200), "orange")
    stored = Image.open(io.BytesIO(png_bytes(image, "a prompt\nSeed: 1")))
    assert stored.info["parameters"] == "a prompt\nSeed: 1"
    thumb = Image.open(io.BytesIO(thumbnail_bytes(image)))
    assert (thumb.format, thumb.size) == ("WEBP", (100, 50))
