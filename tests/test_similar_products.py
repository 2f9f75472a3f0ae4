"""products_similar_to_product: HNSW through pgvector, with stock and gender filters that hold."""

import numpy as np
import pytest
from django.db import connection, transaction

from catalog.models import Gender, Product
from recommendations.models import ProductEmbedding
from recommendations.selectors import products_similar_to_product
from tests.factories import EmbeddedProductFactory, ProductFactory

pytestmark = pytest.mark.django_db

DIM = 1280


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def near(base: np.ndarray, noise: float, rng) -> np.ndarray:
    return unit(base + noise * rng.normal(size=DIM))


def test_returns_the_nearest_in_stock_compatible_products_and_never_itself(exact_vector_search):
    rng = np.random.default_rng(7)
    base = unit(rng.normal(size=DIM))
    query = EmbeddedProductFactory(embedding=base, gender=Gender.MEN)
    closest = EmbeddedProductFactory(embedding=near(base, 0.01, rng), gender=Gender.MEN)
    unisex = EmbeddedProductFactory(embedding=near(base, 0.02, rng), gender=Gender.UNISEX)
    sold_out = EmbeddedProductFactory(embedding=near(base, 0.005, rng), gender=Gender.MEN, stock_quantity=0)
    inactive = EmbeddedProductFactory(embedding=near(base, 0.005, rng), gender=Gender.MEN, is_active=False)
    womens = EmbeddedProductFactory(embedding=near(base, 0.005, rng), gender=Gender.WOMEN)
    other_model = EmbeddedProductFactory(embedding=unit(rng.normal(size=2048)), embedding__model="resnet50/v1")
    far = EmbeddedProductFactory(embedding=near(base, 0.08, rng), gender=Gender.MEN)

    results = products_similar_to_product(product=query, k=10)

    assert [p.pk for p in results] == [closest.pk, unisex.pk, far.pk]
    excluded = {query.pk, sold_out.pk, inactive.pk, womens.pk, other_model.pk}
    assert not excluded & {p.pk for p in results}
    assert results[0].distance < results[1].distance < results[2].distance


def test_a_product_without_an_embedding_has_no_similar_products():
    EmbeddedProductFactory()
    query = ProductFactory()  # its photo is not embedded yet: no row
    assert products_similar_to_product(product=query) == []


@pytest.fixture
def large_catalog():
    """3,000 products in 30 visual clusters; 3% are boys' products, a selective filter."""
    rng = np.random.default_rng(42)
    centres = [unit(rng.normal(size=DIM)) for _ in range(30)]
    genders = rng.choice([Gender.WOMEN, Gender.MEN, Gender.BOYS], p=[0.62, 0.35, 0.03], size=3000)
    products = ProductFactory.build_batch(3000)
    for index, product in enumerate(products):
        product.gender = genders[index]
        product.stock_quantity = int(rng.random() < 0.7) * 5
    products = Product.objects.bulk_create(products, batch_size=500)
    ProductEmbedding.objects.bulk_create(
        [ProductEmbedding(product=product, vector=near(centres[index % 30], 0.6, rng), model="efficientnet_lite0/v1",
                          status="done") for index, product in enumerate(products)],
        batch_size=500,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
        cursor.execute("ANALYZE recommendations_productembedding")
    return Product.objects.filter(gender=Gender.BOYS).first()


def test_a_very_selective_filter_still_fills_k(large_catalog):
    # 3% boys: PostgreSQL rightly prefers the gender index and an exact sort here.
    results = products_similar_to_product(product=large_catalog, k=12)
    assert len(results) == 12
    assert all(p.gender in (Gender.BOYS, Gender.UNISEX) and p.stock_quantity > 0 for p in results)
    eligible = Product.objects.filter(gender=Gender.BOYS, stock_quantity__gt=0).exclude(pk=large_catalog.pk)
    query = large_catalog.embedding.vector.to_numpy().astype(np.float32)
    eligible = eligible.select_related("embedding")
    exact = sorted(eligible, key=lambda p: -float(p.embedding.vector.to_numpy().astype(np.float32) @ query))[:12]
    assert [p.pk for p in results] == [p.pk for p in exact]


def captured_similarity_sql(run) -> tuple[str, list]:
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        run()
    return next((sql, params) for sql, params in captured if "<=>" in sql)


def test_the_query_can_walk_the_hnsw_index_and_iterative_scans_fill_k(large_catalog, settings):
    """The query's ORDER BY and WHERE match the encoder's partial HNSW index.

    At 3,000 rows PostgreSQL may still prefer an exact sort (on the 24,717-product H&M catalog it
    takes the index for women and men), so the plan is forced here. Men in stock are about a
    quarter of the rows: with ef_search 10 an index scan alone yields about 10 candidates, of
    which about 3 pass the filters; iterative scans keep walking until all 40 are found.
    """
    settings.HNSW_EF_SEARCH = 10
    query = Product.objects.filter(gender=Gender.MEN).first()
    results = products_similar_to_product(product=query, k=40)
    assert len(results) == 40
    assert all(p.gender in (Gender.MEN, Gender.UNISEX) and p.stock_quantity > 0 for p in results)

    sql, params = captured_similarity_sql(lambda: products_similar_to_product(product=query, k=40))

    def run(iterative: str) -> tuple[str, int]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")  # only the HNSW index yields rows in order
            cursor.execute("SET LOCAL hnsw.ef_search = 10")
            cursor.execute(f"SET LOCAL hnsw.iterative_scan = {iterative}")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute(sql, params)
            return plan, len(cursor.fetchall())

    plan, found = run("relaxed_order")
    # One walk per gender asked for (men, unisex), each on that gender's own index.
    assert "Index Scan using productembedding_hnsw_efficientnet_lite0_v1_men" in plan, plan
    assert "Index Scan using productembedding_hnsw_efficientnet_lite0_v1_unisex" in plan, plan
    assert found == 40
    _, found_without = run("off")
    assert found_without < 40  # without iterative scans the filters starve the list


def test_every_encoder_has_its_hnsw_index_for_each_gender():
    """Migrations create each encoder's partial indexes (one per gender) as frozen SQL: a new encoder
    (or version) in the registry needs a migration, and this test fails until it exists."""
    from recommendations.encoders import REGISTRY
    from recommendations.vector_index import hnsw_index_names

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'recommendations_productembedding'"
        )
        indexes = dict(cursor.fetchall())
    for encoder in REGISTRY.values():
        for gender, name in hnsw_index_names(encoder).items():
            definition = indexes[name]
            assert f"halfvec({encoder.dim})" in definition and encoder.model_key() in definition
            assert f"gender)::text = '{gender}'::text" in definition, definition
    # The whole-catalog index of each encoder is gone: the per-gender ones replace it.
    assert not [name for name in indexes if name.endswith(("lite0_v1", "resnet50_v1"))]


def test_the_embeddings_gender_follows_its_products_so_a_search_finds_it_under_the_new_one(large_catalog):
    """The copy of the gender that routes a search to an index is the database's to keep: set from
    the product when an embedding is written (whatever the application sends), moved when the
    product's gender changes, by an ORM save or a bulk UPDATE alike."""
    boy = large_catalog
    embedding = ProductEmbedding.objects.get(product=boy)
    assert embedding.gender == Gender.BOYS
    embedding.gender = Gender.WOMEN  # the application cannot set it: the trigger puts it back
    embedding.save()
    assert ProductEmbedding.objects.get(product=boy).gender == Gender.BOYS

    twin = Product.objects.filter(gender=Gender.WOMEN, stock_quantity__gt=0).first()
    ProductEmbedding.objects.filter(product=twin).update(
        vector=unit(boy.embedding.vector.to_numpy().astype(np.float32))
    )
    assert twin.pk not in {p.pk for p in products_similar_to_product(product=boy, k=5)}

    Product.objects.filter(pk=twin.pk).update(gender=Gender.BOYS)  # a bulk UPDATE, as the importer's
    assert ProductEmbedding.objects.get(product=twin).gender == Gender.BOYS
    assert products_similar_to_product(product=boy, k=5)[0].pk == twin.pk

    twin.refresh_from_db()
    twin.gender = Gender.MEN  # an ORM save, as the admin's
    twin.save()
    assert ProductEmbedding.objects.get(product=twin).gender == Gender.MEN
    assert twin.pk not in {p.pk for p in products_similar_to_product(product=boy, k=5)}


def test_every_gender_searched_at_once_is_the_nearest_of_the_whole_catalog(large_catalog):
    """genders=None merges one walk per gender into the catalog's nearest k, in order. The walks are
    exact here (index scans off), so the test is of the merge, not of HNSW's approximation: these
    near-equidistant random vectors are the hardest case for it (13 of 15 found in one run)."""
    from recommendations.selectors import products_similar_to_vector

    query = large_catalog.embedding.vector.to_numpy().astype(np.float32)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        found = products_similar_to_vector(
            vector=query, genders=None, exclude_ids=(large_catalog.pk,), k=15, ids_only=True
        )
    eligible = (
        ProductEmbedding.objects.filter(product__stock_quantity__gt=0).exclude(product=large_catalog)
        .values_list("product_id", "vector")
    )  # fmt: skip
    exact = sorted(eligible, key=lambda row: -float(row[1].to_numpy().astype(np.float32) @ query))[:15]
    assert [pid for pid, _ in found] == [pid for pid, _ in exact]
    assert {Product.objects.get(pk=pid).gender for pid, _ in found} >= {Gender.WOMEN, Gender.MEN}


@pytest.mark.django_db
def test_the_sweep_queues_trending_products_first_then_the_newest(django_capture_on_commit_callbacks):
    """Issue 41: "Looks similar" was missing on 5 of the 12 trending products while the workers
    embedded the catalog in id order. Read back from the real queue in Redis."""
    import base64
    import json
    from datetime import timedelta

    from django.utils import timezone

    from recommendations.models import TrendingScore
    from recommendations.services.embedding import embedding_sweep
    from workers import celery_app

    old, newest, hot, hotter = ProductFactory.create_batch(4)
    Product.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    Product.objects.filter(pk=newest.pk).update(created_at=timezone.now() + timedelta(minutes=1))
    TrendingScore.objects.bulk_create([TrendingScore(product=hot, score=1.0), TrendingScore(product=hotter, score=5.0)])
    celery_app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):
        assert embedding_sweep() == 4
    with celery_app.connection_for_write() as connection_:
        messages = connection_.default_channel.client.lrange("embeddings", 0, -1)
    celery_app.control.purge()
    [message] = messages  # one task of EMBEDDING_TASK_BATCH (64)
    args, _, _ = json.loads(base64.b64decode(json.loads(message)["body"]))
    assert args[0] == [hotter.pk, hot.pk, newest.pk, old.pk]
