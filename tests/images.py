"""Real image files, made with Pillow, for the upload tests."""

import io

from PIL import Image


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (16, 12), *, gps: bool = False, mode: str = "RGB") -> bytes:
    """An image in the given format; with gps=True a JPEG carries EXIF with a GPS position and a camera."""
    image = Image.new(mode, size, "orange" if mode != "RGBA" else (255, 128, 0, 128))
    out = io.BytesIO()
    if gps:
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x0110] = "PhoneModel X"  # Model
        exif[0x8825] = {1: "N", 2: (28.0, 42.0, 0.0), 3: "E", 4: (104.0, 30.0, 0.0)}  # GPSInfo
        image.save(out, format=fmt, exif=exif)
    else:
        image.save(out, format=fmt)
    return out.getvalue()
