"""Safe decoding of product photos, shared by upload validation and the embedding worker."""

import warnings
from typing import BinaryIO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
# The extension a stored photo gets from its detected format; media is served for these only.
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
SERVED_EXTENSIONS = {*FORMAT_EXTENSIONS.values(), ".jpeg"}


class ImageRejected(ValueError):
    """A file that is not a usable product photo; the message is meant for a person."""


class ImageTooLarge(ImageRejected):
    """Larger than MAX_IMAGE_UPLOAD_BYTES (an API answers 413 rather than 400)."""


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def image_check_size(size: int) -> None:
    limit = settings.MAX_IMAGE_UPLOAD_BYTES
    if size > limit:
        raise ImageTooLarge(f"The file is {_megabytes(size)}; the limit is {_megabytes(limit)}.")
    if size == 0:
        raise ImageRejected("The file is empty.")


def image_decode(file: BinaryIO | str) -> Image.Image:
    """Fully decode ``file`` into an RGB image, or raise ImageRejected with a plain reason.

    Checks the declared pixel count before decoding, so a decompression bomb (a small file
    that expands to gigabytes) is refused without allocating it, and decodes every byte, so a
    truncated file is caught here rather than served half grey.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
            if image.format not in ALLOWED_FORMATS:
                raise ImageRejected(f"{image.format} images are not accepted; use JPEG, PNG or WebP.")
            pixels = image.width * image.height
            if pixels > settings.MAX_IMAGE_PIXELS:
                raise ImageRejected(
                    f"The image is {image.width}x{image.height} pixels; the limit is "
                    f"{settings.MAX_IMAGE_PIXELS:,} pixels (a possible decompression bomb)."
                )
            image.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("The file is not an image (expected JPEG, PNG or WebP).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("The image expands to too many pixels (a decompression bomb).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"The image is corrupt or truncated ({exc}).") from None
    return image.convert("RGB") if image.mode != "RGB" else image


def photo_extension(file: BinaryIO) -> str:
    """ ".jpg", ".png" or ".webp" from the file's content (its header), whatever it is called;
    ".bin" (served as nothing) for anything else. Validation has refused such files already."""
    try:
        file.seek(0)
        with Image.open(file) as image:
            detected = image.format
    except (UnidentifiedImageError, OSError, ValueError):
        detected = None
    finally:
        file.seek(0)
    return FORMAT_EXTENSIONS.get(detected, ".bin")
