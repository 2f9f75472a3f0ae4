from django import forms

from catalog.validators import validate_product_photo


class ProductPhotoField(forms.FileField):
    """An upload field that says exactly what is wrong with a photo (too big, truncated, a
    decompression bomb...) instead of Django's generic "upload a valid image"."""

    widget = forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})

    def to_python(self, data):
        upload = super().to_python(data)
        if upload is not None:
            validate_product_photo(upload)
        return upload
