"""The invisible watermark: round trips, attacks it must survive, wrong reads refused, and the
published DWT-DCT-SVD algorithm (the `invisible-watermark` library itself, and the algorithm's
definition written out block by block) reading our marks and ours reading its."""

import io

import numpy as np
import pytest
import pywt
from PIL import Image

from imagegen.marks import watermark
from tests.marks_images import encoded, photo_like, varied

MARK_ID = 0xA5C3E1


def test_crc8_is_the_standard_crc8_with_polynomial_07():
    # The catalogue's check value of CRC-8 (poly 0x07, init 0, no reflection) over "123456789".
    assert watermark.crc8(b"123456789") == 0xF4


def test_payload_is_tag_then_id_then_check_most_significant_bit_first():
    bits = watermark.payload_bits(0x123456)
    data = np.packbits(bits).tobytes()
    assert len(bits) == 40
    assert data[:4] == bytes([0x54, 0x12, 0x34, 0x56])
    assert data[4] == watermark.crc8(bytes([0x54, 0x12, 0x34, 0x56]))
    assert watermark.mark_id_of(bits) == 0x123456


@pytest.mark.parametrize("mark_id", [-1, 1 << 24])
def test_a_mark_id_outside_24_bits_is_refused(mark_id):
    with pytest.raises(ValueError):
        watermark.payload_bits(mark_id)


def test_any_single_flipped_bit_is_detected_not_read_as_another_id():
    bits = watermark.payload_bits(MARK_ID)
    for position in range(len(bits)):
        flipped = bits.copy()
        flipped[position] ^= 1
        assert watermark.mark_id_of(flipped) is None, position


def scores_for(mark_id, certainty=0.4):
    return 0.5 + np.where(watermark.payload_bits(mark_id) == 1, certainty, -certainty)


def test_one_bit_left_near_the_edge_is_read_the_other_way():
    scores = scores_for(MARK_ID)
    scores[7] = 1 - 0.45 if scores[7] > 0.5 else 0.55  # wrong, but only just
    assert watermark.mark_id_from_scores(scores) == MARK_ID


def test_a_confidently_wrong_bit_or_two_weak_ones_read_as_not_found():
    confident = scores_for(MARK_ID)
    confident[7] = 1 - confident[7]
    assert watermark.mark_id_from_scores(confident) is None
    two = scores_for(MARK_ID)
    for position in (7, 20):
        two[position] = 0.45 if two[position] > 0.5 else 0.55
    assert watermark.mark_id_from_scores(two) is None


def test_flat_reads_carry_no_tag():
    assert watermark.mark_id_of(np.zeros(40, np.uint8)) is None
    assert watermark.mark_id_of(np.ones(40, np.uint8)) is None


@pytest.mark.parametrize("number", [0, 1, 2, 3])
def test_round_trip_on_photos_and_postcards(number):
    image = varied(number, 512)
    marked = watermark.embed(image, MARK_ID)
    assert marked.size == image.size and marked.mode == "RGB"
    assert watermark.read(marked) == MARK_ID
    # Invisible: the picture barely changes (PSNR over 38 dB).
    error = np.mean((np.asarray(marked, float) - np.asarray(image, float)) ** 2)
    assert 10 * np.log10(255**2 / error) > 38


def test_survives_jpeg_75_and_a_50_percent_downscale_resized_back():
    # A photo-like picture: flat postcards fail JPEG 75 more often (bench/README.md, Marks).
    marked = watermark.embed(varied(0, 1024), MARK_ID)
    jpeg = Image.open(io.BytesIO(encoded(marked, "JPEG", quality=75)))
    assert watermark.read(jpeg) == MARK_ID
    small = marked.resize((512, 512), Image.Resampling.BICUBIC)
    assert watermark.read(small.resize((1024, 1024), Image.Resampling.BICUBIC)) == MARK_ID


@pytest.mark.parametrize("seed", range(12))
def test_unmarked_pictures_read_as_not_found(seed):
    assert watermark.read(varied(seed, 512)) is None


def test_random_noise_and_flat_pictures_read_as_not_found():
    rng = np.random.default_rng(7)
    for _ in range(10):
        noise = Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))
        assert watermark.read(noise) is None
    for colour in ((0, 0, 0), (255, 255, 255), (30, 120, 200)):
        assert watermark.read(Image.new("RGB", (512, 512), colour)) is None


def test_alpha_is_kept_and_the_mark_read_through_it():
    image = photo_like(3, 400, 300).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((400, 300)))
    marked = watermark.embed(image, 77)
    assert marked.mode == "RGBA"
    assert marked.getchannel("A").tobytes() == image.getchannel("A").tobytes()
    assert watermark.read(marked) == 77


def test_too_small_to_carry_a_mark():
    with pytest.raises(ValueError):
        watermark.embed(Image.new("RGB", (255, 255)), 1)
    assert watermark.read(Image.new("RGB", (200, 200))) is None


# --- The published algorithm, from its definition ----------------------------------------------

# The orthonormal 4-point DCT-II (what OpenCV's cv2.dct computes on a 4×4 block).
DCT4 = np.array(
    [
        [np.sqrt((1 if k == 0 else 2) / 4) * np.cos(np.pi * (2 * n + 1) * k / 8) for n in range(4)]
        for k in range(4)
    ]
)


def definition_block_positions(image):
    """Each block's s0 mod 36 as the published algorithm defines it: BGR→YUV (U), one Haar
    level, 4×4 blocks of the approximation in rows, DCT of the block, SVD, s0."""
    rgb = np.asarray(image.convert("RGB"), np.float64)
    rows, cols = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    red, green, blue = (rgb[:rows, :cols, channel] for channel in range(3))
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    chroma_u = 0.492 * (blue - luma) + 128
    approximation, _ = pywt.dwt2(chroma_u, "haar")
    positions = []
    for i in range(approximation.shape[0] // 4):
        for j in range(approximation.shape[1] // 4):
            block = approximation[i * 4 : i * 4 + 4, j * 4 : j * 4 + 4]
            singular = np.linalg.svd(DCT4 @ block @ DCT4.T, compute_uv=False)
            positions.append(singular[0] % 36)
    return np.array(positions)


def test_the_approximation_band_is_pywavelets_haar_of_u():
    rgb = np.random.default_rng(5).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    as_float = rgb.astype(np.float64)
    luma = as_float @ [0.299, 0.587, 0.114]
    chroma_u = 0.492 * (as_float[..., 2] - luma) + 128
    expected, _ = pywt.dwt2(chroma_u, "haar")
    assert np.allclose(watermark.chroma_approximation(rgb), expected, atol=1e-3)


def test_a_marked_pixel_moves_by_half_the_bands_change_as_pywavelets_inverts_it():
    picture = varied(4, 256)
    marked = np.asarray(watermark.embed(picture, MARK_ID), np.float64)
    before = np.asarray(picture, np.float64)
    # Only blue and green move, red never; and the moves within a 2×2 cell are equal (one
    # Haar level inverted from its approximation band alone), up to rounding and clipping.
    assert np.array_equal(marked[..., 0], before[..., 0])
    blue = (marked - before)[..., 2]
    assert np.abs(blue).max() > 0
    cells = blue.reshape(128, 2, 128, 2)
    unclipped = (before[..., 2].reshape(128, 2, 128, 2).min(axis=(1, 3)) > 20) & (
        before[..., 2].reshape(128, 2, 128, 2).max(axis=(1, 3)) < 235
    )
    spread = cells.max(axis=(1, 3)) - cells.min(axis=(1, 3))
    assert spread[unclipped].max() == 0


def test_the_algorithms_definition_reads_our_mark_with_its_own_votes():
    marked = watermark.embed(varied(2, 256), MARK_ID)
    positions = definition_block_positions(marked)
    # Embedding puts s0 at a quarter (a zero) or three quarters (a one) of its 36-wide step;
    # rounding to 8-bit pixels moves it only a little.
    distance = np.minimum(np.abs(positions - 9), np.abs(positions - 27))
    assert np.median(distance) < 1.5
    votes = (positions > 18).astype(float)
    slot = np.arange(len(votes)) % watermark.PAYLOAD_BITS
    majority = np.bincount(slot, votes) / np.bincount(slot) > 0.5
    assert watermark.mark_id_of(majority) == MARK_ID


# --- The `invisible-watermark` library itself (a test-only requirement) ------------------------


@pytest.fixture
def reference():
    pytest.importorskip("cv2")
    return pytest.importorskip("imwatermark")


def bgr(image):
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


@pytest.mark.parametrize("number", [0, 1])
def test_the_reference_decoder_reads_our_mark(reference, number):
    marked = watermark.embed(varied(number, 512), MARK_ID)
    decoder = reference.WatermarkDecoder("bits", watermark.PAYLOAD_BITS)
    bits = decoder.decode(bgr(marked), "dwtDctSvd")
    assert watermark.mark_id_of(bits) == MARK_ID


@pytest.mark.parametrize("number", [0, 1])
def test_we_read_the_reference_encoders_mark(reference, number):
    encoder = reference.WatermarkEncoder()
    encoder.set_watermark("bits", watermark.payload_bits(MARK_ID).tolist())
    theirs = encoder.encode(bgr(varied(number, 512)), "dwtDctSvd")
    assert watermark.read(Image.fromarray(np.ascontiguousarray(theirs[:, :, ::-1]))) == MARK_ID
