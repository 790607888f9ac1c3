"""The marks on every image (issue 30): how well the watermark survives, and what all marks cost.

    .venv/bin/python bench/marks.py [--quick]

1. The watermark's read-back share on 100 varied 1024² results (every other one a demo-provider
   postcard, the others photo-like: colour fields, shapes, blur and noise, smooth to busy):
   untouched; after JPEG quality 75; after a 50 % downscale (bicubic) resized back before
   reading; after a 10 % crop (5 % off each edge), as it is and resized back. A wrong id is
   counted apart (it must be 0), and so are the same 100 pictures unmarked (must read nothing).
   Where the `invisible-watermark` library is installed (requirements-dev.txt), its own decoder
   reads the same JPEG copies, for comparison with its hard vote.
2. CPU per image (process time, so other load on the machine counts less): our embedding
   against the library's dwtDctSvd encoder on the same pictures, in the same process.
3. All marks on one photo-like 1024² PNG as the worker makes them (images.check_image decodes,
   the thumbnail in a thread beside marking.mark_decoded: watermark, encode with lib/png, the
   manifest's thumbnail from the pixels, sign) against what storing a result cost before the
   marks (check_image, its thumbnail and stored_bytes), CPU and wall, best of several rounds;
   the steps one by one; the labelled copy from memory and from the file; Pillow's encoder for
   comparison; and the manifest with the library's default thumbnail against ours.
Results go into bench/README.md between the MARKS markers.
"""

import concurrent.futures
import io
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from PIL import Image  # noqa: E402

from imagegen import images  # noqa: E402
from imagegen.marks import credentials, label, marking, watermark  # noqa: E402
from tests.marks_images import encoded, photo_like, varied  # noqa: E402

SIZE = 1024
ROUNDS = 5
BASELINE = "before the marks: check, thumbnail, stored_bytes (the baseline)"
ATTACKS = ("untouched", "JPEG 75", "50 % downscale", "10 % crop", "10 % crop, resized back")


def attacked(image, attack):
    if attack == "JPEG 75":
        return Image.open(io.BytesIO(encoded(image, "JPEG", quality=75)))
    if attack == "50 % downscale":
        half = image.resize((SIZE // 2, SIZE // 2), Image.Resampling.BICUBIC)
        return half.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    if attack.startswith("10 % crop"):
        edge = round(SIZE * 0.05)
        cropped = image.crop((edge, edge, SIZE - edge, SIZE - edge))
        if "back" in attack:
            return cropped.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        return cropped
    return image


def reference_library():
    try:
        import imwatermark
    except ImportError:
        return None
    return imwatermark


def bgr(image):
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def bench_watermark(count):
    reference = reference_library()
    read = dict.fromkeys(ATTACKS, 0)
    wrong = unmarked_found = reference_jpeg = 0
    ours_cpu, theirs_cpu = [], []
    for number in range(count):
        image = varied(number, SIZE)
        mark_id = (number * 2_654_435_761) % (watermark.MAX_MARK_ID + 1)
        start = time.process_time()
        marked = watermark.embed(image, mark_id)
        ours_cpu.append(time.process_time() - start)
        for attack in ATTACKS:
            found = watermark.read(attacked(marked, attack))
            read[attack] += found == mark_id
            wrong += found is not None and found != mark_id
        unmarked_found += watermark.read(image) is not None
        if reference:
            decoder = reference.WatermarkDecoder("bits", watermark.PAYLOAD_BITS)
            bits = decoder.decode(bgr(attacked(marked, "JPEG 75")), "dwtDctSvd")
            reference_jpeg += watermark.mark_id_of(bits) == mark_id
            if number < 10:
                encoder = reference.WatermarkEncoder()
                encoder.set_watermark("bits", watermark.payload_bits(mark_id).tolist())
                start = time.process_time()
                encoder.encode(bgr(image), "dwtDctSvd")
                theirs_cpu.append(time.process_time() - start)
    return {
        "count": count,
        "read": read,
        "wrong": wrong,
        "unmarked_found": unmarked_found,
        "reference_jpeg": reference_jpeg if reference else None,
        "ours_cpu": statistics.median(ours_cpu),
        "theirs_cpu": statistics.median(theirs_cpu) if theirs_cpu else None,
    }


def best(function, rounds=ROUNDS):
    """(CPU seconds, wall seconds) of one call: the best of `rounds` each (the least
    disturbed). CPU counts every thread of this process, wall only the caller's wait."""
    cpu, wall = [], []
    for _ in range(rounds):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        function()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu), min(wall)


def bench_marking():
    provider_png = encoded(photo_like(11, SIZE, SIZE), compress_level=1)
    text = {"parameters": "Jeju at sunrise\nSteps: 28, Seed: 7"}
    provenance = credentials.Provenance(
        provider="demo", model="travelfit-demo-postcard", when=django.utils.timezone.now()
    )
    checked = images.check_image(provider_png)
    source = checked.decoded
    marked_image = watermark.embed(source, 123)
    labelled_image = label.burn_label(marked_image, "ko")
    final = marking.encode_like(labelled_image, source, "image/png", text=text)
    thumbnail = credentials.thumbnail_of(labelled_image)
    credentials.sign(final, "image/png", provenance)  # makes the local certificate once
    marked = marking.mark_decoded(
        source, "image/png", mark_id=123, provenance=provenance, text=text
    )

    def before_marks():
        check = images.check_image(provider_png)
        images.stored_bytes(check, text["parameters"])
        return check.thumbnail

    def with_marks():
        # As the worker does it: the thumbnail in a thread of its own, beside the marks.
        check = images.check_image(provider_png)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            thumb = pool.submit(lambda: check.thumbnail)
            marking.mark_decoded(
                check.decoded, "image/png", mark_id=123, provenance=provenance, text=text
            )
            thumb.result()

    steps = {
        BASELINE: before_marks,
        "all marks, as the worker makes them (check, thumbnail, mark_decoded)": with_marks,
        "· decode and check (check_image)": lambda: images.check_image(provider_png),
        "· watermark": lambda: watermark.embed(source, 123),
        "· label (downloads and shares)": lambda: label.burn_label(marked_image, "ko"),
        "· encode PNG (lib/png)": lambda: marking.encode_like(
            labelled_image, source, "image/png", text=text
        ),
        "· the manifest's thumbnail from the pixels": lambda: credentials.thumbnail_of(
            labelled_image
        ),
        "· sign, with that thumbnail": lambda: credentials.sign(
            final, "image/png", provenance, thumbnail=thumbnail
        ),
        "labelled copy, from the marked pixels in memory (the worker)": lambda: (
            marking.labelled_copy(
                marked.data, "image/png", language="en", provenance=provenance, marked=marked
            )
        ),
        "labelled copy, from the stored file (a download before the worker)": lambda: (
            marking.labelled_copy(marked.data, "image/png", language="en", provenance=provenance)
        ),
        "for comparison: Pillow's PNG encoder at level 1, run-length": lambda: encoded(
            labelled_image, compress_level=1, compress_type=zlib.Z_RLE
        ),
    }
    measured = {name: best(function) for name, function in steps.items()}
    thumbnails = {}
    for size in (256, 1024):
        settings.C2PA_THUMBNAIL_SIZE = size
        signed = credentials.sign(final, "image/png", provenance)
        thumbnails[size] = (
            best(lambda: credentials.sign(final, "image/png", provenance))[0],
            len(signed) - len(final),
        )
    settings.C2PA_THUMBNAIL_SIZE = 256
    return {"bytes": len(provider_png), "steps": measured, "thumbnails": thumbnails}


def table(watermarks, marks):
    count = watermarks["count"]
    lines = [
        f"Watermark read back, {count} varied {SIZE}² results (40-bit payload):",
        "",
        "| after | read back | share |",
        "|---|---|---|",
    ]
    for attack, number in watermarks["read"].items():
        lines.append(f"| {attack} | {number}/{count} | {number / count:.0%} |")
    lines += [
        "",
        f"Wrong ids read: {watermarks['wrong']} of {count * len(ATTACKS)} reads; unmarked "
        f"pictures read as marked: {watermarks['unmarked_found']}/{count}.",
    ]
    if watermarks["reference_jpeg"] is not None:
        lines.append(
            f"The library's own decoder (hard vote) on the same JPEG 75 copies: "
            f"{watermarks['reference_jpeg']}/{count}."
        )
    cpu = f"Embedding CPU per image: {watermarks['ours_cpu'] * 1000:.0f} ms (median)"
    if watermarks["theirs_cpu"]:
        ratio = watermarks["ours_cpu"] / watermarks["theirs_cpu"]
        cpu += (
            f"; the library's dwtDctSvd encoder {watermarks['theirs_cpu'] * 1000:.0f} ms on "
            f"the same pictures: {ratio:.2f}×"
        )
    lines += ["", cpu + ".", ""]
    baseline_cpu, baseline_wall = marks["steps"][BASELINE]
    lines += [
        f"All marks on one photo-like {SIZE}² PNG ({marks['bytes'] / 1e6:.1f} MB), in process, "
        f"best of {ROUNDS} (CPU counts every thread; wall is what the caller waits):",
        "",
        "| step | CPU | wall | CPU ÷ baseline |",
        "|---|---|---|---|",
    ]
    for name, (cpu, wall) in marks["steps"].items():
        lines.append(
            f"| {name} | {cpu * 1000:.0f} ms | {wall * 1000:.0f} ms | {cpu / baseline_cpu:.1f} |"
        )
    (small_time, small_bytes), (big_time, big_bytes) = marks["thumbnails"].values()
    lines += [
        "",
        f"Manifest thumbnail: 256 px {small_time * 1000:.0f} ms and {small_bytes / 1000:.0f} KB "
        f"of manifest; the library's 1024 px {big_time * 1000:.0f} ms and "
        f"{big_bytes / 1000:.0f} KB ({big_time / small_time:.1f}× the time).",
    ]
    return "\n".join(lines)


def write_results(text):
    readme = ROOT / "bench" / "README.md"
    content = readme.read_text()
    start, end = "<!-- MARKS -->", "<!-- /MARKS -->"
    block = f"{start}\n{text}\n{end}"
    if start in content:
        before, rest = content.split(start, 1)
        content = before + block + rest.split(end, 1)[1]
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(content)


def main():
    quick = "--quick" in sys.argv
    settings.DATA_DIR = Path(tempfile.mkdtemp(prefix="travelfit-bench-marks-"))
    watermarks = bench_watermark(20 if quick else 100)
    marks = bench_marking()
    text = table(watermarks, marks)
    print(text)
    if not quick:
        write_results(text)


if __name__ == "__main__":
    main()
