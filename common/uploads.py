"""Every uploaded photo goes through `photo_clean`: decoded, bounded, re-encoded, stripped of its metadata.

Nothing a client uploads is stored as it came, so nothing it uploads can be served back as
a page or a script, and no photo carries the GPS position or the device of whoever took it.
"""

import io
import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import models
from django.db.models.fields.files import FieldFile
from django.http import FileResponse
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

# What phones' cameras and galleries produce; the first frame of a GIF is taken.
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# Stored photos are no larger than this on their longer side: enough for a report, light for a phone.
STORED_SIDE_PX = 2560


class PhotoRejected(ValidationError):
    """The upload is not a photo this platform takes; `code` says why (`too_large` answers 413)."""


def photo_clean(upload: Any) -> ContentFile:
    """The upload as a fresh JPEG without metadata, or PhotoRejected saying why not."""
    size = getattr(upload, "size", None)
    if size is not None and size > settings.PHOTO_MAX_BYTES:
        raise PhotoRejected(
            _("%(name)s is larger than %(mb).0f MB.")
            % {"name": getattr(upload, "name", _("The photo")), "mb": settings.PHOTO_MAX_BYTES / 2**20},
            code="too_large",
        )
    upload.seek(0)
    try:
        with Image.open(upload, formats=PHOTO_FORMATS) as image:
            width, height = image.size
            # Checked from the header, before a single pixel is decoded.
            if width * height > settings.PHOTO_MAX_PIXELS:
                raise PhotoRejected(
                    _("The photo has more than %(mp)d million pixels.") % {"mp": settings.PHOTO_MAX_PIXELS // 10**6},
                    code="too_many_pixels",
                )
            image.load()
            # The camera's orientation is applied to the pixels, then every tag is left behind.
            upright = ImageOps.exif_transpose(image)
            rgb = _flattened(upright)
    except Image.DecompressionBombError as exc:
        raise PhotoRejected(_("The photo has too many pixels."), code="too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoRejected(
            _("%(name)s is not a JPEG, PNG, WebP or GIF photo.") % {"name": getattr(upload, "name", _("The file"))},
            code="not_a_photo",
        ) from exc
    rgb.thumbnail((STORED_SIDE_PX, STORED_SIDE_PX))
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85, optimize=True)
    return ContentFile(out.getvalue(), name=f"{secrets.token_hex(12)}.jpg")


def _flattened(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency becomes white, as on paper."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def private_storage() -> Any:
    """Uploads are kept where no web server serves them; views hand them out to those who may see them."""
    return storages["private"]


class PhotoFormField(forms.FileField):
    """A form's photo (the admin's included) goes through photo_clean like the API's."""

    def clean(self, data: Any, initial: Any = None) -> Any:
        value = super().clean(data, initial)
        if value and value is not initial and hasattr(value, "seek"):
            try:
                return photo_clean(value)
            except PhotoRejected as exc:
                raise forms.ValidationError(exc.messages[0], code=exc.code) from None
        return value


class PhotoField(models.FileField):
    """A photo, stored privately; any form for it cleans the upload through photo_clean."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("storage", private_storage)
        kwargs.setdefault("max_length", 200)
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": PhotoFormField, **kwargs})


def photo_response(image: FieldFile, *, public: bool = False) -> FileResponse:
    """A stored photo (always a JPEG made by photo_clean) as an answer that no browser runs as a page."""
    response = FileResponse(image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=3600" if public else "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
