from django.core.exceptions import ValidationError
from django.core.files import File

from catalog.images import ImageRejected, ImageTooLarge, image_check_size, image_decode


def validate_product_photo(file: File) -> None:
    """Form and API validator: size first (cheap), then a full decode."""
    try:
        image_check_size(file.size)
        file.seek(0)
        image_decode(file)
    except ImageRejected as exc:
        code = "too_large" if isinstance(exc, ImageTooLarge) else "invalid_image"
        raise ValidationError(str(exc), code=code) from None
    finally:
        file.seek(0)
