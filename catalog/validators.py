from django.core.exceptions import ValidationError
from django.core.files import File

from catalog.images import ImageRejected, image_check_size, image_decode


def validate_product_photo(file: File) -> None:
    """Form and API validator: size first (cheap), then a full decode."""
    try:
        image_check_size(file.size)
        file.seek(0)
        image_decode(file)
    except ImageRejected as exc:
        raise ValidationError(str(exc), code="invalid_image") from None
    finally:
        file.seek(0)
