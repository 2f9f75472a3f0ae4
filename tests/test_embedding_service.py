"""The embedding service in-process, on real photos and a real pgvector column."""

import numpy as np
import pytest
from django.core.files.base import ContentFile

from catalog.models import EmbeddingStatus, Product
from catalog.services import product_image_add, product_primary_image_changed
from recommendations.services import embedding_batch_compute, embedding_sweep
from tests.factories import ProductFactory, ProductImageFactory, photo_upload

pytestmark = pytest.mark.django_db


def product_with_photo(path=None, **kwargs) -> Product:
    product = ProductFactory(**kwargs)
    image = ProductImageFactory(product=product)
    if path is not None:
        image.image.save(path.name, ContentFile(path.read_bytes()))
    return product


def hm_photo(hm_folder, article_id: str):
    return hm_folder / "images" / article_id[:3] / f"{article_id}.jpg"


def test_a_batch_embeds_good_photos_and_marks_a_corrupt_one_failed(hm_folder):
    good = [product_with_photo(hm_photo(hm_folder, a)) for a in ("0108775015", "0108775044", "0110065001")]
    corrupt = ProductFactory()
    image = ProductImageFactory(product=corrupt)
    image.image.save("broken.jpg", ContentFile(b"\xff\xd8\xff\xe0 not really a jpeg"))
    no_photo = ProductFactory()

    result = embedding_batch_compute(product_ids=[p.pk for p in [*good, corrupt, no_photo]])

    assert sorted(result.embedded) == sorted(p.pk for p in good)
    assert set(result.failed) == {corrupt.pk, no_photo.pk}
    corrupt.refresh_from_db()
    assert corrupt.embedding_status == EmbeddingStatus.FAILED
    assert "corrupt or truncated" in corrupt.embedding_error
    assert Product.objects.get(pk=no_photo.pk).embedding_error == "The product has no photo."
    stored = Product.objects.get(pk=good[0].pk)
    assert stored.embedding_status == EmbeddingStatus.DONE
    assert stored.embedding_model == "efficientnet_lite0/v1"
    vector = stored.embedding.to_numpy().astype(np.float32)
    assert vector.shape == (1280,)
    assert abs(np.linalg.norm(vector) - 1) < 1e-2  # halfvec keeps about 3 significant digits
    # Two colourways of the same strap top look more alike than a strap top and another article.
    vectors = [Product.objects.get(pk=p.pk).embedding.to_numpy().astype(np.float32) for p in good]
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_running_a_batch_twice_is_idempotent():
    product = product_with_photo()
    assert embedding_batch_compute(product_ids=[product.pk]).embedded == [product.pk]
    first = Product.objects.get(pk=product.pk).embedded_at
    again = embedding_batch_compute(product_ids=[product.pk])
    assert again.embedded == [] and again.skipped == [product.pk]
    assert Product.objects.get(pk=product.pk).embedded_at == first


def test_a_photo_changed_while_the_worker_ran_is_not_overwritten(monkeypatch):
    product = product_with_photo()
    from recommendations.services import embedding as services

    original = services._store_vectors

    def change_photo_then_store(*args, **kwargs):
        Product.objects.filter(pk=product.pk).update(embedding_version=product.embedding_version + 1)
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "_store_vectors", change_photo_then_store)
    result = embedding_batch_compute(product_ids=[product.pk])
    assert result.embedded == [] and result.skipped == [product.pk]
    assert Product.objects.get(pk=product.pk).embedding is None


def test_a_gone_product_id_is_skipped_quietly():
    assert embedding_batch_compute(product_ids=[987654321]).skipped == [987654321]


def test_adding_a_photo_queues_embedding_after_commit(django_capture_on_commit_callbacks):
    product = ProductFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        product_image_add(product=product, file=photo_upload())
        product.refresh_from_db()
        assert product.embedding_status == EmbeddingStatus.PENDING
        assert product.embedding_version == 1
    assert len(callbacks) == 1  # the task is queued only once the transaction has committed


def test_the_sweep_requeues_lost_and_stale_embeddings(django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    lost = product_with_photo()
    Product.objects.filter(pk=lost.pk).update(embedding_requested_at=timezone.now() - timedelta(hours=1))
    just_queued = product_with_photo()
    Product.objects.filter(pk=just_queued.pk).update(embedding_requested_at=timezone.now())
    old_model = product_with_photo()
    Product.objects.filter(pk=old_model.pk).update(embedding_status="done", embedding_model="resnet50/v1")
    failed = product_with_photo()
    Product.objects.filter(pk=failed.pk).update(embedding_status="failed")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert embedding_sweep() == 2
    assert len(callbacks) == 1
    assert set(
        Product.objects.filter(
            embedding_status="pending", embedding_requested_at__gt=timezone.now() - timedelta(minutes=1)
        ).values_list("pk", flat=True)
    ) == {lost.pk, just_queued.pk, old_model.pk}
    assert Product.objects.get(pk=failed.pk).embedding_status == "failed"


def test_changing_the_photo_marks_the_embedding_stale():
    product = product_with_photo()
    embedding_batch_compute(product_ids=[product.pk])
    product_primary_image_changed(product_ids=[product.pk])
    product.refresh_from_db()
    assert product.embedding_status == EmbeddingStatus.PENDING
    assert embedding_batch_compute(product_ids=[product.pk]).embedded == [product.pk]
