"""Querysets compiled once (common.compiled) read what the ORM reads; the cache backend's shared client."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pgvector import HalfVector

from catalog.cards import card_version
from catalog.models import Gender, Product
from common.compiled import IDS, CompiledQuery, id_literal, ids_in
from recommendations.models import Interaction, ProductEmbedding, Visitor
from recommendations.selectors.shopper import shopper_load
from recommendations.selectors.sources import ProductFacts, product_facts
from recommendations.services.visitors import visitor_from_token, visitor_token
from tests.factories import EmbeddedProductFactory, ProductFactory

pytestmark = pytest.mark.django_db

PLACEHOLDER = uuid.UUID("00000000-0000-4000-8000-00000000abcd")


def history(visitor_id):
    return (
        Interaction.objects.filter(visitor_id=visitor_id)
        .order_by("-created_at", "-pk")
        .values_list("product_id", "kind", "created_at", "product__name", "price")
    )


def test_a_compiled_query_reads_the_rows_the_orm_reads_for_each_value():
    products = ProductFactory.create_batch(3)
    now = timezone.now()
    visitors = [Visitor.objects.create(), Visitor.objects.create()]
    for n, product in enumerate(products):
        for visitor in visitors[: n % 2 + 1]:
            Interaction.objects.create(visitor=visitor, product=product, kind="purchase",
                                       created_at=now - timedelta(minutes=n), price=Decimal("12.50") + n)  # fmt: skip
    compiled = CompiledQuery(history, visitor_id=PLACEHOLDER)
    for visitor in [*visitors, Visitor()]:  # the last has no events
        rows = compiled.rows("default", visitor_id=visitor.pk)
        assert rows == list(history(visitor.pk))
        assert all(
            type(a) is type(b)
            for row, orm in zip(rows, history(visitor.pk), strict=False)
            for a, b in zip(row, orm, strict=False)
        )
    assert len(compiled.rows("default", visitor_id=visitors[0].pk)) == 3


def test_a_compiled_query_applies_the_orms_converters_and_takes_an_id_array():
    vector = np.zeros(1280)
    vector[7] = 1.0
    embedded = EmbeddedProductFactory(embedding=vector)
    other = EmbeddedProductFactory()
    ProductFactory()  # no embedding

    def vectors(ids):
        return (
            ProductEmbedding.objects.filter(product_id__in=ids_in(ids))
            .order_by("product_id")
            .values_list("product_id", "vector")
        )

    compiled = CompiledQuery(vectors, ids=IDS)
    rows = compiled.rows("default", ids=id_literal([embedded.pk, other.pk, 10**9]))
    orm = list(vectors(id_literal([embedded.pk, other.pk, 10**9])))
    assert [pk for pk, _ in rows] == [embedded.pk, other.pk]
    # pgvector's field turns the text PostgreSQL sends into a HalfVector: the same converter ran.
    assert type(rows[0][1]) is type(orm[0][1]) is HalfVector
    assert np.array_equal(rows[0][1].to_numpy(), orm[0][1].to_numpy()) and rows[0][1].to_numpy()[7] == 1.0
    assert compiled.rows("default", ids=id_literal([])) == []


def test_a_compiled_query_is_compiled_once_and_refuses_a_placeholder_it_cannot_find():
    built = []

    def build(visitor_id):
        built.append(visitor_id)
        return history(visitor_id)

    compiled = CompiledQuery(build, visitor_id=PLACEHOLDER)
    for _ in range(3):
        compiled.rows("default", visitor_id=uuid.uuid4())
    assert built == [PLACEHOLDER]
    # A placeholder that does not reach the SQL's parameters (a filter that ignores it) cannot be swapped.
    ignored = CompiledQuery(
        lambda visitor_id: Interaction.objects.filter(Q()).values_list("pk"), visitor_id=PLACEHOLDER
    )
    with pytest.raises(ValueError, match="visitor_id"):
        ignored.rows("default", visitor_id=uuid.uuid4())


@pytest.mark.django_db(transaction=True)
def test_a_compiled_query_runs_on_each_threads_own_connection():
    product = ProductFactory()
    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=product, kind="view", created_at=timezone.now())
    compiled = CompiledQuery(history, visitor_id=PLACEHOLDER)
    compiled.rows("default", visitor_id=visitor.pk)  # compiled on this thread
    found, errors = [], []

    def other_thread():
        try:
            found.append(compiled.rows("default", visitor_id=visitor.pk))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert not errors and [row[0] for row in found[0]] == [product.pk]


def test_the_visitor_and_their_history_are_read_in_one_query_each_and_as_the_orm_reads_them():
    product = ProductFactory(name="Striped tee")
    visitor = Visitor.objects.create(gender_preference="women")
    Interaction.objects.create(visitor=visitor, product=product, kind="purchase", price=Decimal("9.99"),
                               created_at=timezone.now())  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        found, issued = visitor_from_token(token=visitor_token(visitor), user_id=None)
        shopper = shopper_load(user_id=None, visitor=found)
    assert len(queries) == 2
    assert not issued and found.pk == visitor.pk and found.gender_preference == "women"
    assert not found._state.adding and found._state.db == "default"
    [event] = shopper.recent
    assert (event.product_id, event.kind, event.name, event.price) == (
        product.pk,
        "purchase",
        "Striped tee",
        Decimal("9.99"),
    )
    assert shopper.purchased == {product.pk}


def test_the_filter_facts_read_through_a_compiled_query_are_each_products_own():
    """Annotated and plain columns in one values_list: the compiled SQL's columns are in the asked order."""
    on = ProductFactory(gender=Gender.MEN, article_type="Sweater", stock_quantity=3)
    off = ProductFactory(gender=Gender.WOMEN, article_type="T-shirt", stock_quantity=0)
    facts = product_facts({on.pk, off.pk, 10**9}, None)  # the last: no such product
    versions = dict(Product.objects.annotate(v=card_version()).values_list("pk", "v"))
    assert facts == {
        on.pk: ProductFacts(True, Gender.MEN, "Sweater", versions[on.pk]),
        off.pk: ProductFacts(False, Gender.WOMEN, "T-shirt", versions[off.pk]),
    }


def test_the_cache_keeps_one_redis_client_per_pool_and_still_reads_and_writes():
    client = cache._cache.get_client()
    assert cache._cache.get_client() is client and cache._cache.get_client(write=True) is client
    cache.set("compiled-test", {"a": 1}, 30)
    assert cache.get("compiled-test") == {"a": 1}
