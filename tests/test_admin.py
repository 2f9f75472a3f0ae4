"""Staff manage the catalog in the Django admin."""

from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Gender, Product, ProductImage
from catalog.services import file_checksum
from recommendations.models import EmbeddingStatus, ProductEmbedding
from tests.factories import (
    EmbeddedProductFactory,
    ProductFactory,
    ProductImageFactory,
    admin_product_form,
    photo_bytes,
    photo_upload,
)

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:catalog_product_changelist")


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_the_product_list_shows_thumbnails_status_and_embedding_progress(staff, django_assert_max_num_queries):
    for _ in range(3):
        ProductImageFactory(product=EmbeddedProductFactory())
    failed = ProductFactory()
    ProductImageFactory(product=failed)
    ProductEmbedding.objects.create(product=failed, status=EmbeddingStatus.FAILED, error="bad file")
    with django_assert_max_num_queries(12):  # no query per row: photos are prefetched
        response = staff.get(CHANGELIST)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('<img src="/media/products/') == 4
    assert "3</strong> of 4 active products done" in page
    assert 'title="bad file"' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"gender__exact": "men"}, {"men-1"}),
        ({"stock": "out"}, {"sold-out"}),
        ({"stock": "in", "gender__exact": "women"}, {"women-1"}),
        ({"embedding_status": "failed"}, {"sold-out"}),
        ({"colour": "Red"}, {"men-1"}),
        ({"category": "Shoes"}, {"women-1"}),
        ({"q": "sneaker"}, {"women-1"}),
    ],
)
def test_filters_and_search(staff, query, expected):
    ProductFactory(external_id="men-1", gender=Gender.MEN, colour="Red")
    ProductFactory(external_id="women-1", gender=Gender.WOMEN, category="Shoes", name="Canvas sneaker")
    sold_out = ProductFactory(external_id="sold-out", stock_quantity=0)
    ProductEmbedding.objects.create(product=sold_out, status=EmbeddingStatus.FAILED)
    response = staff.get(CHANGELIST, query)
    assert response.status_code == 200
    shown = {p.external_id for p in response.context["cl"].result_list}
    assert shown == expected


def test_staff_upload_a_photo_and_embedding_is_queued(staff, django_capture_on_commit_callbacks):
    product = ProductFactory()
    url = reverse("admin:catalog_product_change", args=[product.pk])
    form = admin_product_form(product, photo_upload())
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff.post(url, form)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    product.refresh_from_db()
    assert product.images.get().checksum
    assert product.photo_version == 1 and product.edited_by_staff
    assert len(callbacks) == 1  # the photo is announced to the recommender once the admin commits


def test_a_corrupt_upload_is_refused_with_a_clear_message(staff):
    product = ProductFactory()
    truncated = photo_bytes(size=(600, 900))
    url = reverse("admin:catalog_product_change", args=[product.pk])
    form = admin_product_form(product, SimpleUploadedFile("half.jpg", truncated[: len(truncated) // 3]))
    response = staff.post(url, form)
    assert response.status_code == 200
    assert "corrupt or truncated" in response.content.decode(), response.context["errors"]
    assert not product.images.exists()


def test_the_re_embed_action_queues_the_selection(staff, django_capture_on_commit_callbacks):
    products = [EmbeddedProductFactory() for _ in range(3)]
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff.post(
            CHANGELIST, {"action": "re_embed", "_selected_action": [p.pk for p in products[:2]]}, follow=True
        )
    assert "Queued 2 products for embedding." in response.content.decode()
    assert len(callbacks) == 1
    versions = dict(Product.objects.values_list("pk", "photo_version"))
    assert [versions[p.pk] for p in products] == [1, 1, 0]  # the first two are behind their embedding now


class _FormFields(HTMLParser):
    """What a browser submits from a page's form: inputs (checked boxes only), selects, textareas."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name, value):
        self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("file", "submit", "button", "image"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self._add(name, a.get("value") or ("on" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea][-1] += data


def change_form(staff, product) -> tuple[str, dict]:
    """The admin's change page for the product, and what pressing Save on it unchanged submits."""
    url = reverse("admin:catalog_product_change", args=[product.pk])
    parser = _FormFields()
    parser.feed(staff.get(url).content.decode())
    return url, {name: values if len(values) > 1 else values[0] for name, values in parser.fields.items()}


def test_staff_save_a_product_that_has_a_photo_unchanged(staff):
    """Issue 16: pressing Save on any product with a photo answered 500 ("seek of closed file")."""
    product = ProductFactory(name="Strap top")
    photo = ProductImageFactory(product=product)
    with photo.image.open("rb") as handle:  # as the import stores it
        ProductImage.objects.filter(pk=photo.pk).update(checksum=file_checksum(handle))
    url, form = change_form(staff, product)
    assert form["images-INITIAL_FORMS"] == "1" and form["images-0-id"] == str(photo.pk)
    response = staff.post(url, {**form, "name": "Strap top, ribbed"})
    assert response.status_code == 302, response.context["errors"] if response.context else response
    product.refresh_from_db()
    assert product.name == "Strap top, ribbed" and product.edited_by_staff
    assert list(product.images.values_list("image", flat=True)) == [photo.image.name]
    assert product.photo_version == 0  # the photo did not change, so nothing is re-embedded


def test_staff_add_a_second_photo_to_a_product_that_has_one(staff, django_capture_on_commit_callbacks):
    product = ProductFactory()
    first = ProductImageFactory(product=product)
    url, form = change_form(staff, product)
    row = int(form["images-TOTAL_FORMS"]) - 1  # the inline's empty row, after the existing photo
    assert row == 1 and f"images-{row}-is_primary" not in form
    form.update({f"images-{row}-image": photo_upload(colour=(0, 90, 200)), f"images-{row}-position": "1"})
    with django_capture_on_commit_callbacks(execute=False):
        response = staff.post(url, form)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    images = list(product.images.order_by("id"))
    assert len(images) == 2 and images[0].pk == first.pk and images[0].is_primary
    assert images[1].checksum and not images[1].is_primary


def test_staff_cannot_add_a_corrupt_second_photo(staff):
    product = ProductFactory()
    ProductImageFactory(product=product)
    url, form = change_form(staff, product)
    row = int(form["images-TOTAL_FORMS"]) - 1
    form[f"images-{row}-image"] = SimpleUploadedFile("half.jpg", photo_bytes(size=(600, 900))[:2000])
    form.pop(f"images-{row}-is_primary", None)
    response = staff.post(url, form)
    assert response.status_code == 200
    assert "corrupt or truncated" in response.content.decode()
    assert product.images.count() == 1


@pytest.mark.parametrize("field", ["embedding_status", "gender__exact", "category__exact", "colour__exact"])
def test_a_nul_byte_in_an_admin_list_filter_is_a_400_not_a_500(staff, field):
    """Issue 40: PostgreSQL text cannot hold NUL, and the filters answered 500 (DataError)."""
    ProductFactory()
    assert staff.get(f"{CHANGELIST}?{field}=%00").status_code == 400
    assert staff.get(f"{CHANGELIST}?{field}=x").status_code in (200, 302)
