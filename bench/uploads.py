"""The cost of checking an uploaded photo, and of issue 28's crafted JPEG, before and after.

    python bench/uploads.py [--quick]

Every figure is a ratio against the baseline, a 12-megapixel phone-like JPEG (4032×3024,
quality 90, EXIF with GPS and an orientation, a few MB) going through `clean_photo`, measured in
the same run:

- CPU: `time.process_time()` of one call, best of ROUNDS, in this process.
- Peak memory: each case runs once in a forked child, and the child's peak RSS (`wait4`'s
  `ru_maxrss`) less the RSS the child started with is what the case itself added.

The cases:
1. the phone photo's check (the baseline);
2. the crafted JPEG (690 bytes declaring 6000×6000, `tests.photos.jpeg_declaring`) as main
   handled it before the fix: Pillow opens and decodes it (libjpeg fills the missing data in
   with grey) and `uploads.reencode` re-encodes it, which is what `clean_photo` did;
3. the same bytes through today's `clean_photo`, which refuses them before decoding;
4. sixteen phone photos checked at once by sixteen threads, with IMAGEGEN_DECODES_AT_ONCE = 2
   (the default) and 16 (no bound in effect): the peak memory of the process.

Writes its table into bench/README.md between `<!-- RESULTS uploads -->` and
`<!-- /RESULTS uploads -->`.
"""

import io
import os
import re
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from PIL import Image  # noqa: E402

from imagegen import uploads  # noqa: E402
from tests import photos  # noqa: E402

QUICK = "--quick" in sys.argv or os.environ.get("BENCH_QUICK") == "1"
ROUNDS = 3 if QUICK else 7
AT_ONCE = 16


def phone_photo():
    """A 12 MP JPEG with a phone's texture (noise over a gradient, so it compresses as a
    photo does, to a few MB) and a phone's EXIF."""
    width, height = 4032, 3024
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 12)
    picture = Image.merge("RGB", (gradient, noise, Image.blend(gradient, noise, 0.5)))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90, exif=photos.exif_with_gps(orientation=6).tobytes())
    return buffer.getvalue()


def as_main_did(data):
    """What `clean_photo` did with any JPEG before the fix: decode it whole, re-encode it."""
    image = Image.open(io.BytesIO(data), formats=uploads.FORMATS)
    image.load()
    return uploads.reencode(image)


def refused_now(data):
    try:
        uploads.clean_photo(data)
    except uploads.UploadRefused as refusal:
        return refusal.code
    raise AssertionError("the crafted JPEG was accepted")


def cpu_seconds(function, data):
    """The least CPU time one call took, of ROUNDS."""
    times = []
    for _ in range(ROUNDS):
        start = time.process_time()
        function(data)
        times.append(time.process_time() - start)
    return min(times)


def rss_now_kb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_added_mb(function):
    """The memory `function()` adds at its peak, in MB, measured in a forked child."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, str(rss_now_kb()).encode())
        os.close(write)
        try:
            function()
        finally:
            os._exit(0)
    os.close(write)
    started_kb = int(os.read(read, 64).decode())
    os.close(read)
    _pid, _status, usage = os.wait4(child, 0)
    return max(0, usage.ru_maxrss - started_kb) / 1024


def many_at_once(data, slots, refused):
    """Check AT_ONCE copies of the photo in as many threads, IMAGEGEN_DECODES_AT_ONCE = slots;
    writes into `refused` (a pipe) how many were refused as busy, and the seconds all took."""
    settings.IMAGEGEN_DECODES_AT_ONCE = slots
    busy = []

    def check():
        try:
            uploads.clean_photo(data)
        except uploads.UploadRefused as refusal:
            busy.append(refusal.code)

    started = time.perf_counter()
    threads = [threading.Thread(target=check) for _ in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.write(refused, f"{len(busy)} {time.perf_counter() - started:.1f}".encode())


def at_once(data, slots):
    """(peak memory added in MB, photos refused as busy, seconds) of `many_at_once`, run in a
    child."""
    read, write = os.pipe()
    memory = peak_added_mb(lambda: many_at_once(data, slots, write))
    os.close(write)
    refused, seconds = os.read(read, 64).decode().split()
    os.close(read)
    return memory, int(refused), float(seconds)


def main():
    phone = phone_photo()
    crafted = photos.jpeg_declaring(6000, 6000)
    uploads.clean_photo(phone)  # warm: imports, ICC and codec set-up
    assert refused_now(crafted) == "incomplete"

    cpu = {
        "phone": cpu_seconds(uploads.clean_photo, phone),
        "before": cpu_seconds(as_main_did, crafted),
        "after": cpu_seconds(refused_now, crafted),
    }
    memory = {
        "phone": peak_added_mb(lambda: uploads.clean_photo(phone)),
        "before": peak_added_mb(lambda: as_main_did(crafted)),
        "after": peak_added_mb(lambda: refused_now(crafted)),
    }
    crowd = {"bounded": at_once(phone, 2), "unbounded": at_once(phone, AT_ONCE)}
    write(phone, crafted, cpu, memory, crowd)


def write(phone, crafted, cpu, memory, crowd):
    base_cpu, base_memory = cpu["phone"], memory["phone"] or 1.0
    rows = [
        ("12 MP phone JPEG checked (baseline)", "phone", len(phone)),
        ("crafted 6000×6000 JPEG, as main decoded it", "before", len(crafted)),
        ("crafted 6000×6000 JPEG, refused now", "after", len(crafted)),
    ]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"{'--quick, ' if QUICK else ''}best of {ROUNDS} for CPU, one forked child per memory "
        f"figure. Python {sys.version.split()[0]}, Pillow {Image.__version__}.",
        "",
        "| case | bytes | CPU | ÷ baseline | peak memory added | ÷ baseline |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, size in rows:
        lines.append(
            f"| {label} | {size:,} | {cpu[key] * 1000:.3g} ms | {cpu[key] / base_cpu:.3g} | "
            f"{memory[key]:.3g} MB | {memory[key] / base_memory:.3g} |"
        )
    lines += [
        "",
        f"{AT_ONCE} phone photos checked at once by {AT_ONCE} threads of one process:",
        "",
        "| IMAGEGEN_DECODES_AT_ONCE | peak memory added | ÷ one photo's | refused as busy | "
        "all done in |",
        "|---|---|---|---|---|",
    ]
    for slots, key in ((2, "bounded"), (AT_ONCE, "unbounded")):
        added, refused, seconds = crowd[key]
        name = f"{slots} (the default)" if slots == 2 else f"{slots} (no bound in effect)"
        lines.append(
            f"| {name} | {added:.0f} MB | {added / base_memory:.2g} | {refused} | {seconds} s |"
        )
    table = "\n".join(lines) + "\n"
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = "<!-- RESULTS uploads -->\n", "<!-- /RESULTS uploads -->"
    if start not in text:
        text += f"\n{start}{end}\n"
    text = re.sub(
        f"({re.escape(start)}).*?({re.escape(end)})",
        lambda m: m.group(1) + table + m.group(2),
        text,
        flags=re.S,
    )
    readme.write_text(text)
    print(table)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
