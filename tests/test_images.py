import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.images import ImageRejected, image_decode
from catalog.validators import validate_product_photo
from tests.factories import photo_bytes


def upload(data: bytes, name="x.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def test_a_good_photo_passes():
    validate_product_photo(upload(photo_bytes()))
    assert image_decode(io.BytesIO(photo_bytes(fmt="PNG"))).size == (200, 300)


def test_a_non_image_is_rejected():
    with pytest.raises(ValidationError, match="not an image"):
        validate_product_photo(upload(b"%PDF-1.4 this is not a photo"))


def test_a_truncated_jpeg_is_rejected():
    data = photo_bytes(size=(400, 600))
    with pytest.raises(ValidationError, match="corrupt or truncated"):
        validate_product_photo(upload(data[: len(data) // 2]))


def test_a_corrupt_body_is_rejected():
    data = bytearray(photo_bytes(size=(400, 600)))
    data[400:2000] = b"\xff" * 1600  # a valid header followed by garbage
    with pytest.raises(ImageRejected):
        image_decode(io.BytesIO(bytes(data)))


def test_an_oversized_upload_is_rejected(settings):
    settings.MAX_IMAGE_UPLOAD_BYTES = 1000
    with pytest.raises(ValidationError, match="the limit is"):
        validate_product_photo(upload(photo_bytes()))


def test_an_empty_file_is_rejected():
    with pytest.raises(ValidationError, match="empty"):
        validate_product_photo(upload(b""))


def test_a_decompression_bomb_is_rejected_before_decoding():
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, "PNG")  # a few kB that decode to 144 megapixels
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(ValidationError, match="decompression bomb"):
        validate_product_photo(upload(buffer.getvalue(), "bomb.png"))


def test_an_unsupported_format_is_rejected():
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "BMP")
    with pytest.raises(ValidationError, match="BMP images are not accepted"):
        validate_product_photo(upload(buffer.getvalue(), "x.bmp"))
