"""The embedding service in-process, on real photos and a real pgvector column."""

import numpy as np
import pytest
from django.core.files.base import ContentFile

from catalog.models import Product
from catalog.services import product_image_add, product_primary_image_changed
from recommendations.models import EmbeddingStatus, ProductEmbedding
from recommendations.services import embedding_batch_compute, embedding_request, embedding_sweep
from tests.factories import ProductFactory, ProductImageFactory, photo_upload

pytestmark = pytest.mark.django_db


def product_with_photo(path=None, **kwargs) -> Product:
    product = ProductFactory(**kwargs)
    image = ProductImageFactory(product=product)
    if path is not None:
        image.image.save(path.name, ContentFile(path.read_bytes()))
    return product


def embedding_of(product: Product) -> ProductEmbedding | None:
    return ProductEmbedding.objects.filter(product=product).first()


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
    assert embedding_of(corrupt).status == EmbeddingStatus.FAILED
    assert "corrupt or truncated" in embedding_of(corrupt).error
    assert embedding_of(no_photo).error == "The product has no photo."
    stored = embedding_of(good[0])
    assert stored.status == EmbeddingStatus.DONE
    assert stored.model == "efficientnet_lite0/v1"
    vector = stored.vector.to_numpy().astype(np.float32)
    assert vector.shape == (1280,)
    assert abs(np.linalg.norm(vector) - 1) < 1e-2  # halfvec keeps about 3 significant digits
    # Two colourways of the same strap top look more alike than a strap top and another article.
    vectors = [embedding_of(p).vector.to_numpy().astype(np.float32) for p in good]
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_running_a_batch_twice_is_idempotent():
    product = product_with_photo()
    assert embedding_batch_compute(product_ids=[product.pk]).embedded == [product.pk]
    first = embedding_of(product).embedded_at
    again = embedding_batch_compute(product_ids=[product.pk])
    assert again.embedded == [] and again.skipped == [product.pk]
    assert embedding_of(product).embedded_at == first


def test_a_photo_changed_while_the_worker_ran_is_not_overwritten(monkeypatch):
    product = product_with_photo()
    from recommendations.services import embedding as services

    original = services._store_vectors

    def change_photo_then_store(*args, **kwargs):
        Product.objects.filter(pk=product.pk).update(photo_version=product.photo_version + 1)
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "_store_vectors", change_photo_then_store)
    result = embedding_batch_compute(product_ids=[product.pk])
    assert result.embedded == [] and result.skipped == [product.pk]
    assert embedding_of(product) is None or embedding_of(product).vector is None


def test_a_gone_product_id_is_skipped_quietly():
    assert embedding_batch_compute(product_ids=[987654321]).skipped == [987654321]


def test_adding_a_photo_announces_it_after_commit_and_the_request_marks_it_pending(
    django_capture_on_commit_callbacks, monkeypatch
):
    """The catalog bumps photo_version and, after commit, sends photos_changed by name; that
    task's service marks the product pending and queues its embedding, after commit too."""
    from celery import current_app

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args, **options: sent.append((name, args)))
    product = ProductFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        product_image_add(product=product, file=photo_upload())
        product.refresh_from_db()
        assert product.photo_version == 1 and sent == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert sent == [("recommendations.tasks.photos_changed", [[product.pk]])]
    with django_capture_on_commit_callbacks(execute=True):
        embedding_request(product_ids=[product.pk])
    assert embedding_of(product).status == EmbeddingStatus.PENDING
    assert sent[-1] == ("recommendations.tasks.embed_products", [[product.pk]])


def test_the_sweep_requeues_lost_and_stale_embeddings(django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    def row(product, **fields):
        ProductEmbedding.objects.create(product=product, photo_version=product.photo_version, **fields)

    lost = product_with_photo()
    row(lost, requested_at=timezone.now() - timedelta(hours=1))
    just_queued = product_with_photo()
    row(just_queued, requested_at=timezone.now())
    old_model = product_with_photo()
    row(old_model, status="done", model="resnet50/v1")
    failed = product_with_photo()
    row(failed, status="failed")
    never_announced = product_with_photo()  # the catalog's message was lost: no row at all
    behind = product_with_photo()
    row(behind, status="done", model="efficientnet_lite0/v1")
    Product.objects.filter(pk=behind.pk).update(photo_version=behind.photo_version + 1)  # a newer photo
    current = product_with_photo()
    row(current, status="done", model="efficientnet_lite0/v1")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert embedding_sweep() == 4
    assert len(callbacks) == 1
    recent = ProductEmbedding.objects.filter(status="pending", requested_at__gt=timezone.now() - timedelta(minutes=1))
    assert set(recent.values_list("product_id", flat=True)) == {
        lost.pk,
        just_queued.pk,
        old_model.pk,
        never_announced.pk,
        behind.pk,
    }
    assert embedding_of(failed).status == "failed" and embedding_of(current).status == "done"


def test_changing_the_photo_makes_the_embedding_stale():
    product = product_with_photo()
    embedding_batch_compute(product_ids=[product.pk])
    product_primary_image_changed(product_ids=[product.pk])
    product.refresh_from_db()
    assert embedding_of(product).photo_version < product.photo_version
    assert embedding_batch_compute(product_ids=[product.pk]).embedded == [product.pk]
    assert embedding_of(product).photo_version == product.photo_version


def test_a_failure_never_overwrites_a_vector_stored_for_the_same_photo():
    """Two deliveries of one task: the first stored the vector, the second failed to read the file
    (say a flaky disk). The product keeps its vector."""
    from recommendations.services.embedding import _store_failures

    product = product_with_photo()
    embedding_batch_compute(product_ids=[product.pk])
    _store_failures({product.pk: "The photo file is missing."}, {product.pk: product.photo_version})
    assert embedding_of(product).status == EmbeddingStatus.DONE and embedding_of(product).vector is not None
    unembedded = product_with_photo()
    _store_failures({unembedded.pk: "The photo file is missing."}, {unembedded.pk: unembedded.photo_version})
    assert embedding_of(unembedded).status == EmbeddingStatus.FAILED
