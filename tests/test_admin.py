"""Staff manage the catalog in the Django admin."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Gender, Product
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
