"""The invisible watermark: this site's tag and a generation's mark id, hidden in the colour.

The method is DWT-DCT-SVD, as published by the `invisible-watermark` library (`dwtDctSvd`, the
one Stable Diffusion's scripts use), written here on PyWavelets and NumPy alone:
1. the picture's chroma U (the analogue YUV of BT.601, as OpenCV's BGR2YUV computes it) goes
   through one level of the Haar wavelet transform; only the approximation band is touched;
2. that band is cut into 4×4 blocks in rows; block n carries payload bit n mod 40;
3. in each block the largest singular value s0 is moved to the middle of a quarter of its
   SCALE-wide step: (⌊s0 / SCALE⌋ + 0.25 + 0.5·bit)·SCALE;
4. reading takes s0 mod SCALE of every block (over half the step: a one), and each payload bit
   is the majority of its blocks.
The reference transforms each block with a DCT before its SVD. The DCT is orthonormal, so the
singular values of DCT(B) are those of B, and changing s0 in the DCT domain then inverting is the
same as changing it in B: we skip the transform, and the reference's decoder reads our marks and
ours reads its (tests/test_marks_watermark.py proves both ways with the library itself).

A block of chroma is a matrix of positive numbers (U stays within about 17–239 for any RGB), so
its top singular vectors are positive and unique (Perron–Frobenius): power iteration from the
all-ones vector finds them for all blocks at once, far faster than 16,384 small SVDs; the few
blocks it leaves unsettled get an exact SVD.

One Haar level's approximation band is each 2×2 cell's sum over 2, and changing that band alone
changes each of its four pixels by half the change: both are computed so, straight from the 8-bit
pixels (the same numbers as PyWavelets' dwt2/idwt2, a fifth of the time, and no float copy of the
whole picture); the test checks the band against PyWavelets.

The payload is 40 bits: the site tag 0x54 ("T"), the mark id (24 bits, big-endian) and a CRC-8
(polynomial 0x07, initial value 0) of those four bytes. A read whose tag or check does not match
is "not found", never a wrong id. The least certain bit may be tried both ways, so a random
picture passes by chance once in 32,768 reads; a flat one (every bit alike) never carries the tag.
"""

import numpy as np
from PIL import Image

SITE_TAG = 0x54
MARK_ID_BITS = 24
MAX_MARK_ID = (1 << MARK_ID_BITS) - 1
PAYLOAD_BITS = 8 + MARK_ID_BITS + 8
# The reference's strength for U; a bigger step survives more, a smaller one shows less.
SCALE = 36.0
BLOCK = 4
# The reference refuses pictures under 256×256: too few blocks per bit to be read back.
MIN_PIXELS = 256 * 256
POWER_STEPS = 24
# A bit whose score is this close to ½ may be read the other way (see mark_id_from_scores).
UNSURE = 0.15

# OpenCV's BGR2YUV / YUV2BGR coefficients (BT.601, analogue U and V).
# U = 0.492·(B − Y) + 128 with Y = 0.299·R + 0.587·G + 0.114·B.
_U_WEIGHTS = (0.492 * (np.array([0.0, 0.0, 1.0]) - np.array([0.299, 0.587, 0.114]))).astype(
    np.float32
)
_B_FROM_U, _G_FROM_U = 2.032, -0.395


def crc8(data: bytes) -> int:
    """CRC-8 with polynomial x⁸+x²+x+1 (0x07), initial value 0, no reflection."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def payload_bits(mark_id: int) -> np.ndarray:
    """The 40 bits written for `mark_id`: tag, id, check, most significant bit first."""
    if not 0 <= mark_id <= MAX_MARK_ID:
        raise ValueError(f"a mark id is 0–{MAX_MARK_ID}, got {mark_id}")
    head = bytes([SITE_TAG]) + mark_id.to_bytes(3, "big")
    return np.unpackbits(np.frombuffer(head + bytes([crc8(head)]), dtype=np.uint8))


def mark_id_of(bits) -> int | None:
    """The mark id the 40 bits carry, or None when the tag or the check does not match."""
    data = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    if len(data) != PAYLOAD_BITS // 8 or data[0] != SITE_TAG or crc8(data[:4]) != data[4]:
        return None
    return int.from_bytes(data[1:4], "big")


def embed(image: Image.Image, mark_id: int) -> Image.Image:
    """`image` with `mark_id` written into it (RGB, or RGBA with its alpha kept)."""
    if image.width * image.height < MIN_PIXELS:
        raise ValueError("too small to carry a watermark (under 256×256)")
    mode = "RGBA" if "A" in image.getbands() else "RGB"
    pixels = np.array(image if image.mode == mode else image.convert(mode))
    embed_pixels(pixels, mark_id)
    return Image.fromarray(pixels, mode)


def embed_pixels(pixels: np.ndarray, mark_id: int) -> None:
    """Write `mark_id` into 8-bit RGB or RGBA `pixels` (height × width × 3 or 4), in place;
    an alpha channel is left as it is. (In stripes on two threads it took 19 ms instead of 21
    for 60 % more CPU: its many small NumPy steps hold the GIL between them. So, one thread.)"""
    if pixels.shape[0] * pixels.shape[1] < MIN_PIXELS:
        raise ValueError("too small to carry a watermark (under 256×256)")
    height, width = pixels.shape[0] // 4 * 4, pixels.shape[1] // 4 * 4
    _embed_region(pixels[:height, :width, :3], payload_bits(mark_id))


def _embed_region(region, bits):
    """Mark the blocks of `region` (8-bit RGB, height and width multiples of 4, changed in
    place)."""
    approximation = chroma_approximation(region)
    blocks = _blocks(approximation)
    left, strength, right = _top_singular(blocks)
    wanted = bits[np.arange(len(blocks)) % PAYLOAD_BITS]
    moved = (np.floor(strength / SCALE) + 0.25 + 0.5 * wanted) * SCALE
    change = (moved - strength)[:, None, None] * (left[:, :, None] * right[:, None, :])
    band_change = np.zeros(approximation.shape, np.float32)
    _unblock(band_change, change)
    # The band's change alone, transformed back, moves each of a cell's 4 pixels by half of
    # it; U's change moves B and G by their YUV2BGR weights. Each plane is an integer, so
    # rounding the change alone is rounding the sum.
    rows, cols = region.shape[0] // 2, region.shape[1] // 2
    for channel, weight in ((2, _B_FROM_U), (1, _G_FROM_U)):
        step = np.rint(band_change * np.float32(weight / 2)).astype(np.int16)
        plane = region[:, :, channel].reshape(rows, 2, cols, 2)
        moved_plane = plane + step[:, None, :, None]
        plane[...] = np.clip(moved_plane, 0, 255, out=moved_plane)


def bit_scores(image: Image.Image, bits: int = PAYLOAD_BITS) -> np.ndarray:
    """For each payload bit, the share of its blocks that read a one (0.5: no information)."""
    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[0] // 4 * 4, pixels.shape[1] // 4 * 4
    _, strength, _ = _top_singular(_blocks(chroma_approximation(pixels[:height, :width])))
    # A soft vote: 1 or 0 where s0 sits on a one's or a zero's mark, ½ on the edge between, so
    # blocks that an attack pushed near the edge count little (the reference votes 1 or 0,
    # which read 93 of 100 bench pictures after JPEG 75 against 98 of 100 for this).
    votes = 0.5 - 0.5 * np.sin(2 * np.pi * np.mod(strength, SCALE) / SCALE)
    slot = np.arange(len(strength)) % bits
    return np.bincount(slot, votes, bits) / np.bincount(slot, None, bits)


def read(image: Image.Image) -> int | None:
    """The mark id this site wrote into `image`, or None when there is none to be read."""
    if image.width * image.height < MIN_PIXELS:
        return None
    return mark_id_from_scores(bit_scores(image))


def mark_id_from_scores(scores) -> int | None:
    """The mark id the bits' scores carry. When tag or check fail, the one least certain bit,
    if it is close to the edge, is tried the other way: JPEG's usual damage is a single bit left
    near ½ (every failed read of the bench), and a second candidate only doubles the chance of
    a false find on an unmarked picture, to one in 32,768."""
    scores = np.asarray(scores, dtype=np.float64)
    bits = scores > 0.5
    found = mark_id_of(bits)
    weakest = int(np.argmin(np.abs(scores - 0.5)))
    if found is None and abs(scores[weakest] - 0.5) < UNSURE:
        bits[weakest] = not bits[weakest]
        found = mark_id_of(bits)
    return found


def chroma_approximation(pixels):
    """The Haar approximation band of U for 8-bit RGB `pixels` of even height and width: each
    2×2 cell's sum of U over 2 (U = pixel · weights + 128), in float32."""
    cells = pixels[0::2, 0::2].astype(np.uint16)
    cells += pixels[0::2, 1::2]
    cells += pixels[1::2, 0::2]
    cells += pixels[1::2, 1::2]
    return cells.astype(np.float32) @ (_U_WEIGHTS / np.float32(2)) + np.float32(256)


def _blocks(band):
    rows, cols = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    grid = band[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
    return grid.transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK).astype(np.float64)


def _unblock(band, blocks):
    rows, cols = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    grid = blocks.reshape(rows, cols, BLOCK, BLOCK).transpose(0, 2, 1, 3)
    band[: rows * BLOCK, : cols * BLOCK] = grid.reshape(rows * BLOCK, cols * BLOCK)


def _top_singular(blocks):
    """(u, s, v) of each block's largest singular value, by power iteration on BᵀB."""
    gram = np.matmul(blocks.transpose(0, 2, 1), blocks)
    right = np.full((len(blocks), BLOCK), 0.5)
    for step in range(POWER_STEPS):
        previous = right
        right = np.einsum("njk,nk->nj", gram, right)
        right /= _lengths(right)[:, None]
        if step % 3 == 2 and np.abs(right - previous).max() < 1e-12:
            break
    image_of = np.einsum("nij,nj->ni", blocks, right)
    strength = _lengths(image_of)
    left = image_of / strength[:, None]
    # A block whose two largest singular values are close converges slowly: settle it exactly.
    back = np.einsum("nij,ni->nj", blocks, left)
    residual = _lengths(back - strength[:, None] * right)
    slow = np.flatnonzero(residual > 1e-9 * strength)
    if len(slow):
        u, s, vh = np.linalg.svd(blocks[slow])
        left[slow], strength[slow], right[slow] = u[:, :, 0], s[:, 0], vh[:, 0, :]
    return left, strength, right


def _lengths(rows):
    """The Euclidean length of each row (np.linalg.norm's, at a third of its time here)."""
    return np.sqrt(np.einsum("ni,ni->n", rows, rows))
