"""The product page's three lists (other colours, "Customers who bought this also bought", "Looks
similar"), with one hard-filter query for all three: the candidates of each are known beforehand
(the product's group, the ALS item neighbours kept per process, the stored visual neighbours), so
one query over their union reads which pass and their card versions."""

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from catalog.cards import ProductCard, card_version, product_cards
from catalog.gender import compatible_genders
from catalog.models import Product
from recommendations.selectors.collaborative import also_bought_ids, serving_model
from recommendations.selectors.similar import LooksSimilar, hard_filters, similar_candidates, similar_from
from recommendations.vectors import id_array


@dataclass
class ProductPageLists:
    colours: list[ProductCard] = field(default_factory=list)
    also_bought: list[ProductCard] = field(default_factory=list)
    similar: LooksSimilar = field(default_factory=LooksSimilar)


def product_page_lists(*, product: Product, k: int | None = None) -> ProductPageLists:
    """The same lists as other_colours, customers_also_bought and looks_similar, each product in stock,
    of a compatible gender and never the product itself."""
    k = k or settings.SIMILAR_PRODUCTS_K
    model = serving_model()
    also = also_bought_ids(model, product.pk) if model is not None else ()
    neighbours, photo_failed = similar_candidates(product)
    wanted = Q(pk__in=id_array({*also, *(pid for pid, _ in neighbours or ())}))
    if product.product_group:
        wanted |= Q(product_group=product.product_group)
    rows = (
        Product.objects.filter(hard_filters(genders=compatible_genders(product.gender), exclude=(product.pk,)))
        .filter(wanted)
        .annotate(version=card_version())
        .values_list("pk", "product_group", "version")
    )
    passing: dict[int, str] = {}
    group: list[int] = []
    for pk, product_group, version in rows:
        passing[pk] = version
        if product.product_group and product_group == product.product_group:
            group.append(pk)
    colours = sorted(group)[:k]
    bought = [pid for pid in also if pid in passing][:k]
    cards = product_cards(versions={pid: passing[pid] for pid in {*colours, *bought}})
    similar = (
        LooksSimilar(photo_failed=photo_failed)
        if neighbours is None
        else similar_from(product, neighbours, {pid: passing[pid] for pid, _ in neighbours if pid in passing}, k=k)
    )
    return ProductPageLists(
        colours=[cards[pid] for pid in colours if pid in cards],
        also_bought=[cards[pid] for pid in bought if pid in cards],
        similar=similar,
    )
