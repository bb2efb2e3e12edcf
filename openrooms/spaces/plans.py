"""Plan images: what an uploaded file really is, whether it may become a floor's plan, and the
clean copy that is stored.

A file is judged by decoding it with Pillow, never by its name or the browser's content type:
a PNG renamed .svg is a PNG, an SVG renamed .png is refused (SVG can carry script, and it would
be served from our own origin). The pixel cap and the aspect bound are checked on the header,
before the image is decoded, so a small file that inflates to gigabytes (a decompression bomb)
is refused cheaply. What is stored is the decoded pixels encoded again, turned upright as its
EXIF orientation says: no EXIF (a camera's GPS position, an author), no text chunks, no
trailing bytes reach the members the plan is served to.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow format name -> the extension and content type a stored plan gets.
FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
}
CONTENT_TYPES = {extension: content_type for extension, content_type in FORMATS.values()}
# The longest side at most this many times the shortest: a floor, not a strip of pixels.
MAX_ASPECT_RATIO = 20
# How each format is encoded again: lossless stays lossless, photos keep their quality.
SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "PNG": {"optimize": True},
    "JPEG": {"quality": 90},
    "WEBP": {"quality": 90},
}


class PlanImageError(ValueError):
    """An upload that cannot be a plan image; the message is shown to the administrator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PlanImage:
    """A checked plan image: its format, its upright size and its clean encoding."""

    format: str
    width: int
    height: int
    content: bytes

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    def storage_name(self) -> str:
        """A fresh name for each upload, so browsers and CDNs never show a stale plan."""
        return f"{uuid.uuid4().hex}.{self.extension}"


def looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in text


def check_plan_image(file: IO[bytes], *, size: int | None = None) -> PlanImage:
    """Decodes `file` and returns it as a plan image, encoded again; PlanImageError if it may
    not be a plan. `size` is the upload's byte size when known (Django's UploadedFile.size)."""
    max_bytes = settings.PLAN_IMAGE_MAX_BYTES
    max_pixels = settings.PLAN_IMAGE_MAX_PIXELS
    if size is None:
        file.seek(0, 2)
        size = file.tell()
    if size == 0:
        raise PlanImageError("The file is empty.")
    if size > max_bytes:
        raise PlanImageError(
            f"The image is {filesizeformat(size)}; a plan image can be at most "
            f"{filesizeformat(max_bytes)}."
        )
    file.seek(0)
    if looks_like_svg(file.read(512)):
        raise PlanImageError(
            "SVG images are not accepted because they can carry script. "
            "Export the plan as PNG, JPEG or WebP."
        )
    file.seek(0)
    try:
        # `formats` limits the decoders Pillow tries: nothing but these three is parsed.
        with Image.open(file, formats=list(FORMATS)) as image:
            # Image.open reads only the header: the size is known, nothing is decoded yet.
            width, height = image.size
            if width * height > max_pixels:
                raise PlanImageError(too_many_pixels(width, height, max_pixels))
            if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
                raise PlanImageError(too_narrow(width, height))
            image_format = image.format or ""
            if image_format not in FORMATS:
                raise PlanImageError("This file is not a PNG, JPEG or WebP image.")
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
            content, (width, height) = encoded_upright(image, image_format)
    except PlanImageError:
        raise
    except Image.DecompressionBombError:
        # Pillow's own guard (above twice Image.MAX_IMAGE_PIXELS), raised inside Image.open
        # when PLAN_IMAGE_MAX_PIXELS is set higher than Pillow allows.
        raise PlanImageError("The image has far too many pixels to be a plan image.") from None
    except UnidentifiedImageError:
        raise PlanImageError(
            "This file is not a PNG, JPEG or WebP image. Export the plan in one of those."
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise PlanImageError(f"The image could not be read ({error}).") from None
    return PlanImage(image_format, width, height, content)


def encoded_upright(image: Image.Image, image_format: str) -> tuple[bytes, tuple[int, int]]:
    """The first frame, turned as its EXIF orientation says, encoded again with none of the
    file's metadata but its colour profile (which only says how to show the colours) and a
    palette's transparent colour."""
    upright = (ImageOps.exif_transpose(image) or image).copy()
    kept = {key: image.info[key] for key in ("icc_profile", "transparency") if key in image.info}
    upright.info = {}  # Pillow writes some of it again (a JPEG's comment, a PNG's profile)
    output = io.BytesIO()
    upright.save(output, format=image_format, **SAVE_OPTIONS[image_format], **kept)
    return output.getvalue(), upright.size


def too_narrow(width: int, height: int) -> str:
    return (
        f"The image is {width} x {height} pixels: one side is more than {MAX_ASPECT_RATIO} "
        "times the other, which is not a floor plan. Crop it to the floor and upload it again."
    )


def too_many_pixels(width: int, height: int, max_pixels: int) -> str:
    return (
        f"The image is {width} x {height} pixels ({width * height / 1e6:.1f} megapixels); "
        f"a plan image can have at most {max_pixels / 1e6:.0f} megapixels. "
        "Scale it down and upload it again."
    )
