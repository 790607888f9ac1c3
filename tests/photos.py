"""Photos as phones and cameras write them, for the upload tests: EXIF with GPS and an
orientation, XMP, an ICC profile, HEIC, animations, and files that only pretend to be photos."""

import io

from PIL import Image, ImageCms, ImageDraw
from pillow_heif import register_heif_opener

register_heif_opener()

# Gyeongbokgung, Seoul: where the test photos claim to have been taken.
LATITUDE = (37.0, 34.0, 47.0)
LONGITUDE = (126.0, 58.0, 37.0)
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="37,34.78N"/></rdf:RDF></x:xmpmeta>'
)
# What must not survive: EXIF's marker, the GPS IFD's tag, XMP's namespace, the camera's name.
TRACES = (b"Exif", b"GPS", b"http://ns.adobe.com", b"TravelCam 3000", b"37,34.78N")


def picture(width=320, height=240, colour=(200, 80, 40)):
    """A photo-like picture: a colour field with a marked top-left corner (to see rotations)."""
    image = Image.new("RGB", (width, height), colour)
    ImageDraw.Draw(image).rectangle([0, 0, width // 4, height // 4], fill=(20, 200, 60))
    return image


def exif_with_gps(orientation=1):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TravelCam 3000"  # Make
    exif[0x0110] = "TravelCam 3000"  # Model
    exif[0x8825] = {1: "N", 2: LATITUDE, 3: "E", 4: LONGITUDE}
    return exif


def jpeg_with_gps(width=320, height=240, orientation=1):
    """A JPEG with EXIF (GPS, camera, orientation), XMP and a Display P3-like ICC profile."""
    buffer = io.BytesIO()
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture(width, height).save(
        buffer,
        "JPEG",
        quality=92,
        exif=exif_with_gps(orientation).tobytes(),
        xmp=XMP,
        icc_profile=profile,
    )
    return buffer.getvalue()


def encoded(image, format, **options):
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def png_with_alpha(width=200, height=200):
    """A transparent PNG with EXIF (GPS) and XMP in text chunks, as some editors write."""
    from PIL import PngImagePlugin

    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([20, 20, width - 20, height - 20], fill=(30, 60, 200, 255))
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return encoded(image, "PNG", pnginfo=text, exif=exif_with_gps().tobytes())


def heic_with_gps(width=320, height=240):
    return encoded(picture(width, height), "HEIF", exif=exif_with_gps().tobytes())


def webp(width=320, height=240):
    return encoded(picture(width, height), "WEBP", exif=exif_with_gps().tobytes())


def animated_webp():
    frames = [picture(colour=(c, 0, 0)) for c in (50, 150, 250)]
    return encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)


def animated_png():
    frames = [picture(colour=(0, c, 0)) for c in (50, 150, 250)]
    return encoded(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def huge_png(width, height):
    """A PNG of width × height that is only a few kilobytes (one bit per pixel, all white)."""
    return encoded(Image.new("1", (width, height), 1), "PNG", optimize=True)


def has_traces(data: bytes) -> list[bytes]:
    """Which metadata traces the bytes still carry."""
    return [trace for trace in TRACES if trace in data]


def jpeg_declaring(width, height, *, drawn=(16, 16)):
    """A JPEG whose header declares width × height while its data holds a `drawn`-sized
    picture and then its end marker: a few hundred bytes that libjpeg would decode into
    width × height pixels, filling in grey (issue 28's 690-byte "6000×6000" attack)."""
    data = bytearray(encoded(Image.new("RGB", drawn, (90, 140, 200)), "JPEG", quality=90))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)
