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
3. All marks on one photo-like 1024² PNG (marking.mark_result: decode, watermark, label,
   encode, sign) against what storing a result costs today (images.check_image and
   stored_bytes), best of several rounds; the steps one by one; the labelled copy; and the
   manifest with the library's default thumbnail against ours.
Results go into bench/README.md between the MARKS markers.
"""

import io
import os
import statistics
import sys
import tempfile
import time
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
    """CPU seconds of one call: the best of `rounds` (the least disturbed)."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return min(times)


def bench_marking():
    data = images.stored_bytes(
        images.check_image(encoded(photo_like(11, SIZE, SIZE), compress_level=1)),
        "Jeju at sunrise\nSteps: 28, Seed: 7",
    )
    provenance = credentials.Provenance(
        provider="demo", model="travelfit-demo-postcard", when=django.utils.timezone.now()
    )
    credentials.sign(data, "image/png", provenance)  # makes the local certificate once
    source = marking.open_image(data, "image/png")
    marked_image = watermark.embed(source, 123)
    labelled_image = label.burn_label(marked_image, "ko")
    final = marking.encode_like(labelled_image, source, "image/png")
    original = marking.mark_result(data, "image/png", mark_id=123, provenance=provenance).data
    steps = {
        "today: check_image + stored_bytes (the baseline)": lambda: images.stored_bytes(
            images.check_image(data), "parameters"
        ),
        "all marks, no label (mark_result)": lambda: marking.mark_result(
            data, "image/png", mark_id=123, provenance=provenance
        ),
        "all marks and the label (mark_result)": lambda: marking.mark_result(
            data, "image/png", mark_id=123, provenance=provenance, label_language="ko"
        ),
        "· decode the PNG": lambda: marking.open_image(data, "image/png"),
        "· watermark": lambda: watermark.embed(source, 123),
        "· label": lambda: label.burn_label(marked_image, "ko"),
        "· encode PNG (level 1, run-length)": lambda: marking.encode_like(
            labelled_image, source, "image/png"
        ),
        "· sign (256 px thumbnail)": lambda: credentials.sign(final, "image/png", provenance),
        "labelled copy of a marked original": lambda: marking.labelled_copy(
            original, "image/png", language="en", provenance=provenance
        ),
    }
    measured = {name: best(function) for name, function in steps.items()}
    thumbnails = {}
    for size in (256, 1024):
        settings.C2PA_THUMBNAIL_SIZE = size
        signed = credentials.sign(final, "image/png", provenance)
        thumbnails[size] = (
            best(lambda: credentials.sign(final, "image/png", provenance)),
            len(signed) - len(final),
        )
    settings.C2PA_THUMBNAIL_SIZE = 256
    return {"bytes": len(data), "steps": measured, "thumbnails": thumbnails}


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
    baseline = marks["steps"]["today: check_image + stored_bytes (the baseline)"]
    lines += [
        f"All marks on one photo-like {SIZE}² PNG ({marks['bytes'] / 1e6:.1f} MB), CPU, best of "
        f"{ROUNDS}:",
        "",
        "| step | CPU | ÷ baseline |",
        "|---|---|---|",
    ]
    for name, seconds in marks["steps"].items():
        lines.append(f"| {name} | {seconds * 1000:.0f} ms | {seconds / baseline:.1f} |")
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
