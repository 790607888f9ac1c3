"""Checking untrusted image bytes before anything is stored."""

import io
import struct
import zlib

import pytest
from PIL import Image

from imagegen.images import ImageRejected, check_image, stored_bytes, with_png_text


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


@pytest.mark.parametrize(("fmt", "extension"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_accepted_formats_are_kept_as_the_provider_sent_them(fmt, extension):
    data = encode(Image.new("RGB", (64, 48), "teal"), fmt)
    checked = check_image(data)
    assert (checked.format, checked.extension, checked.size) == (fmt, extension, (64, 48))
    assert checked.data is data
    if fmt != "PNG":  # JPEG and WebP keep their parameters beside them, in the row
        assert stored_bytes(checked, "a prompt") is data


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


def chunks(png):
    """[(type, body)] of a PNG stream."""
    found, position = [], 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        found.append((png[position + 4 : position + 8], png[position + 8 : position + 8 + length]))
        position += 12 + length
    return found


def photo_like(size=(400, 200)):
    return Image.merge("RGB", [Image.effect_noise(size, 40)] * 2 + [Image.new("L", size, 90)])


def test_a_png_gets_its_parameters_without_its_pixels_being_compressed_again(settings):
    settings.IMAGEGEN_THUMBNAIL_SIZE = 100
    original = encode(photo_like())
    checked = check_image(original, expected_size=(400, 200))
    stored = stored_bytes(checked, "제주 일출, watercolor\nSeed: 1")
    reopened = Image.open(io.BytesIO(stored))
    assert reopened.info["parameters"] == "제주 일출, watercolor\nSeed: 1"  # A1111 readers
    # The image data chunks are the provider's, byte for byte; only our chunk was added.
    assert [c for c in chunks(stored) if c[0] == b"IDAT"] == [
        c for c in chunks(original) if c[0] == b"IDAT"
    ]
    assert len(stored) - len(original) < 100
    reopened.load()  # every CRC right
    thumb = Image.open(io.BytesIO(checked.thumbnail))
    assert (thumb.format, thumb.size) == ("WEBP", (100, 50))


def test_a_parameters_chunk_already_in_the_png_is_replaced_not_doubled():
    once = with_png_text(encode(Image.new("RGB", (8, 8))), "parameters", "first")
    twice = with_png_text(once, "parameters", "second")
    texts = [body for kind, body in chunks(twice) if kind in (b"tEXt", b"iTXt")]
    assert len(texts) == 1 and texts[0].endswith(b"second")


def test_a_jpeg_gets_a_thumbnail_of_the_thumbnail_size(settings):
    settings.IMAGEGEN_THUMBNAIL_SIZE = 128
    checked = check_image(encode(photo_like((1024, 1024)), "JPEG"))
    assert Image.open(io.BytesIO(checked.thumbnail)).size == (128, 128)
