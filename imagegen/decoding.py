"""Decoding untrusted image bytes at a cost the bytes can pay for: photos users upload and
images providers send.

Two guards stand before Pillow decodes any pixel:

- **The data must reach the end of the image.** Pillow refuses a PNG, WebP or HEIF whose data
  stops early, and a JPEG without its end marker, as long as `ImageFile.LOAD_TRUNCATED_IMAGES`
  is off (imagegen's system check fails while anything turned it on). But libjpeg fills a
  JPEG whose entropy-coded data ends early with grey and says nothing: a 690-byte file
  declaring 6000×6000 decoded to 36 million pixels and cost seconds of CPU and hundreds of MB
  to decode and re-encode. `check_jpeg_complete` reads the JPEG's markers first (no decoding)
  and refuses a file that ends before its end-of-image marker, or whose scans hold less than
  one bit for each 8×8 block of each component: Huffman coding spends at least one bit on
  every block's DC coefficient, so such a file cannot hold its image. Arithmetic-coded JPEGs,
  which no camera or phone writes and which browsers do not show, are refused, since that
  bound does not hold for them.
- **At most IMAGEGEN_DECODES_AT_ONCE decodes run at once in one process** (`decode_slot`),
  so that a burst of large pictures takes turns instead of sharing the CPU and adding up
  their memory; one that waits SLOT_WAIT_SECONDS without a turn is refused as busy.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from PIL import ImageFile

JPEG_START = b"\xff\xd8\xff"
END_OF_IMAGE = 0xD9
START_OF_SCAN = 0xDA
# Markers without a length: the restart markers, and TEM.
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# Start-of-frame markers: Huffman-coded (baseline, extended, progressive, lossless) ...
HUFFMAN_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3})
# ... and the others: hierarchical (libjpeg reads none) and arithmetic-coded.
OTHER_FRAMES = frozenset({0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# The next marker after a scan's entropy-coded data: 0xFF not followed by 0x00 (a stuffed
# byte), a restart marker (part of the scan) or another 0xFF (fill before a marker).
MARKER_AFTER_SCAN = re.compile(rb"\xff(?![\x00\xd0-\xd7\xff])")
# A marker: 0xFF, any fill bytes (more 0xFF), and a code that is neither 0x00 nor 0xFF.
MARKER = re.compile(rb"\xff+([^\x00\xff])")

# How long a decode waits for its turn before it is refused as busy.
SLOT_WAIT_SECONDS = 20.0


class Incomplete(Exception):
    """The bytes end before the image does (truncated, or far too few for its size)."""


class Unsupported(Exception):
    """A JPEG coding we do not decode (arithmetic or hierarchical)."""


class Busy(Exception):
    """Every decode slot of this process stayed taken for SLOT_WAIT_SECONDS."""


@dataclass(frozen=True)
class JpegLayout:
    """What a JPEG's markers say: its size, how many 8×8 blocks its components have, and how
    many bytes of entropy-coded data its scans carry."""

    width: int
    height: int
    blocks: int
    scan_bytes: int


def check_jpeg_complete(data: bytes) -> JpegLayout | None:
    """The JPEG's layout if its data can hold its image; None for bytes that are no JPEG.

    Raises Incomplete for a JPEG that ends before its end-of-image marker or whose scans are
    too short for its size, Unsupported for arithmetic or hierarchical coding. Reads markers
    only, in time proportional to the file: nothing is decoded.
    """
    if not data.startswith(JPEG_START):
        return None
    frame, scan_bytes, position = None, 0, 2
    while True:
        marker, position = _next_marker(data, position)
        if marker == END_OF_IMAGE:
            break
        if marker in STANDALONE:
            continue
        if position + 2 > len(data):
            raise Incomplete("The data ends inside a marker.")
        length = int.from_bytes(data[position : position + 2], "big")
        segment = data[position + 2 : position + length]
        if length < 2 or position + length > len(data):
            raise Incomplete("The data ends inside a segment.")
        position += length
        if marker in OTHER_FRAMES:
            raise Unsupported(f"JPEG coding process {marker:#04x} (arithmetic or hierarchical).")
        if marker in HUFFMAN_FRAMES:
            frame = _frame(segment)
        if marker == START_OF_SCAN:
            following = MARKER_AFTER_SCAN.search(data, position)
            if following is None:
                raise Incomplete("The data ends inside a scan.")
            scan_bytes += following.start() - position
            position = following.start()
    if frame is None:
        raise Incomplete("The JPEG has no frame header.")
    width, height, blocks = frame
    if scan_bytes * 8 < blocks:
        raise Incomplete(
            f"{scan_bytes} bytes of scans cannot hold {width}×{height} ({blocks} blocks)."
        )
    return JpegLayout(width=width, height=height, blocks=blocks, scan_bytes=scan_bytes)


def _next_marker(data, position):
    """(marker, position after it): the next marker from `position`, past fill bytes and any
    stray bytes before it (which libjpeg skips too, with a warning)."""
    found = MARKER.search(data, position)
    if found is None:
        raise Incomplete("The data ends before its end-of-image marker.")
    return found[1][0], found.end()


def _frame(segment):
    """(width, height, 8×8 blocks of all components) from a start-of-frame segment."""
    if len(segment) < 6:
        raise Incomplete("The frame header is cut short.")
    height = int.from_bytes(segment[1:3], "big")
    width = int.from_bytes(segment[3:5], "big")
    count = segment[5]
    sampling = [
        (segment[6 + 3 * n + 1] >> 4, segment[6 + 3 * n + 1] & 0x0F)
        for n in range(count)
        if len(segment) >= 6 + 3 * n + 3
    ]
    if not width or not height or not sampling or len(sampling) != count:
        raise Incomplete("The frame header names no size or no components.")
    most_h = max(h for h, _v in sampling) or 1
    most_v = max(v for _h, v in sampling) or 1
    blocks = sum(
        _ceil(_ceil(width * h, most_h), 8) * _ceil(_ceil(height * v, most_v), 8)
        for h, v in sampling
    )
    return width, height, blocks


def _ceil(numerator, denominator):
    return -(-numerator // denominator)


_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None
_slots_size = 0


def _semaphore():
    """This process's decode slots, IMAGEGEN_DECODES_AT_ONCE of them (made again if the
    setting changed, as tests change it)."""
    global _slots, _slots_size
    wanted = settings.IMAGEGEN_DECODES_AT_ONCE
    with _slots_lock:
        if _slots is None or _slots_size != wanted:
            _slots, _slots_size = threading.BoundedSemaphore(wanted), wanted
        return _slots


@contextlib.contextmanager
def decode_slot() -> Iterator[None]:
    """Hold one of this process's decode slots for the block; Busy if none frees up in time."""
    slots = _semaphore()
    if not slots.acquire(timeout=SLOT_WAIT_SECONDS):
        raise Busy(f"{settings.IMAGEGEN_DECODES_AT_ONCE} decodes ran for {SLOT_WAIT_SECONDS} s.")
    try:
        yield
    finally:
        slots.release()


def truncated_images_refused() -> bool:
    """Whether Pillow refuses truncated data, as every check here relies on (something that
    sets `ImageFile.LOAD_TRUNCATED_IMAGES` would make it fill the rest in silently)."""
    return not ImageFile.LOAD_TRUNCATED_IMAGES
