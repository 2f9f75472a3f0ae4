"""Search by photo in the store: a shopper uploads a photo (or picks one on a phone) and sees what
looks like it. The photo is checked here with the same refusals as the API (a clear message for a
file that is not a usable photo), then embedded by a Celery worker (selectors.photo_search)."""

import base64
import io

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from PIL import Image, ImageOps

from catalog.models import Product
from catalog.validators import validate_product_photo
from recommendations.selectors.photo_search import PhotoSearchUnavailable, products_similar_to_photo
from recommendations.selectors.similar import looks_similar
from storefront.throttling import PhotoSearchThrottle

RESULTS = 24


class PhotoForm(forms.Form):
    image = forms.FileField(
        label="Your photo", validators=[validate_product_photo],
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text=f"JPEG, PNG or WebP, up to {settings.MAX_IMAGE_UPLOAD_BYTES // (1024 * 1024)} MB.",
    )  # fmt: skip


def photo_search_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"form": PhotoForm(), "products": None}
    status, retry_after = 200, None
    if request.method == "POST" and not _within_rate(request):
        context["unavailable"] = "Too many photo searches from here; wait a minute and try again."
        response = render(request, "storefront/photo_search.html", context, status=429)
        response["Retry-After"] = "60"
        return response
    if request.method == "POST":
        form = PhotoForm(request.POST, request.FILES)
        context["form"] = form
        if not form.is_valid():
            status = 400
        else:
            upload = form.cleaned_data["image"]
            gender = request.visitor.gender_preference or None
            data = upload.read()
            context["uploaded"] = _thumbnail(data)  # the shopper sees what was searched for
            try:
                context["products"] = products_similar_to_photo(data=data, gender=gender, k=RESULTS)
            except PhotoSearchUnavailable as exc:
                context["unavailable"], status = str(exc), 503
                retry_after = exc.retry_after
    elif _product_id(request.GET.get("product", "")):  # "Find similar to this photo" on a product page
        product = get_object_or_404(Product.objects.filter(is_active=True).prefetch_related("images"),
                                    pk=int(request.GET["product"]))  # fmt: skip
        context["source"] = product
        context["products"] = looks_similar(product=product, k=RESULTS).products
    response = render(request, "storefront/photo_search.html", context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
        response._has_been_logged = True  # expected, logged by the selector: not a Django ERROR line
    return response


def _thumbnail(data: bytes) -> str:
    """The uploaded photo, shrunk to a thumbnail, as a data: URL (the page's CSP allows data: images;
    nothing is stored). The upload was validated already, so it decodes."""
    with Image.open(io.BytesIO(data)) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((240, 360))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


class _PhotoSearchPage:
    throttle_scope = PhotoSearchThrottle.scope


def _within_rate(request: HttpRequest) -> bool:
    """PHOTO_SEARCH_PER_MINUTE searches a minute per client address, counted with the API's searches
    (PhotoSearchThrottle): each one holds a worker for up to PHOTO_SEARCH_TIMEOUT_S."""
    return PhotoSearchThrottle().allow_request(request, _PhotoSearchPage())


def _product_id(value: str) -> bool:
    """A product id as a link gives it: ASCII digits that fit PostgreSQL's bigint (else no such product)."""
    return value.isascii() and value.isdigit() and len(value) <= 18
