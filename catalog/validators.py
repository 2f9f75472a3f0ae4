from django.core.exceptions import ValidationError
from django.core.files import File

from catalog.images import ImageRejected, ImageTooLarge, image_check_size, image_decode


def validate_product_photo(file: File) -> None:
    """Form and API validator: size first (cheap), then a full decode.

    A photo already in storage is not checked again: it passed this validator when it was uploaded
    (or the server stored it itself), and re-reading it is both wasted work and fragile, since the
    admin's change form re-assigns the stored file and Django closes it before the model validates
    (saving any product with a photo answered 500: "seek of closed file")."""
    if getattr(file, "_committed", False):
        return
    try:
        image_check_size(file.size)
        file.seek(0)
        image_decode(file)
    except ImageRejected as exc:
        code = "too_large" if isinstance(exc, ImageTooLarge) else "invalid_image"
        raise ValidationError(str(exc), code=code) from None
    finally:
        file.seek(0)
