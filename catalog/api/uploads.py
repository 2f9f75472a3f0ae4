"""One translation of a refused photo for every API endpoint that takes one (staff uploads, search
by photo): the admin's own validator decides (size limit, full decode), the API answers 413 or 400."""

from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.exceptions import APIException


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


@contextmanager
def photo_refusals(field: str = "image"):
    """Turn catalog.validators.validate_product_photo's errors into a 413 (over the upload limit)
    or a 400 (not a usable photo), naming ``field``."""
    try:
        yield
    except DjangoValidationError as exc:
        if exc.code == "too_large":
            raise PayloadTooLarge({field: exc.messages}) from None
        raise serializers.ValidationError({field: exc.messages}) from None
