"""What an evaluation reads from the database, once, into memory: the catalog and the log.

Strategies then run on numpy arrays, so that five strategies, a validation grid and hundreds of
shoppers take seconds; they reuse the serving code's pure parts (the blend, the row assembly,
the visual preference, ALS confidence) so that "as shipped" means the same code.
"""

from dataclasses import dataclass

import numpy as np

from catalog.models import Product
from recommendations.encoders import encoder_class
from recommendations.evaluation.split import Event
from recommendations.services.ranker import embedding_matrix, log_events


@dataclass
class Catalog:
    ids: np.ndarray  # (n,) product ids
    index: dict[int, int]  # product id -> row
    gender: np.ndarray  # (n,) str
    category: list[str]
    article_type: list[str]
    name: list[str]
    description: list[str]
    group: list[str]  # product_group; "" for a product that is a group of its own
    subcategory: list[str]
    department: list[str]
    colour: list[str]
    price: np.ndarray  # (n,) float32; NaN where unknown (0 in the catalog)
    members: dict[str, list[int]]  # product_group -> its product ids, in id order
    available: np.ndarray  # (n,) bool: active and in stock, the serving filter
    vectors: np.ndarray  # (n, dim) float32, unit length; zero rows where not embedded
    embedded: np.ndarray  # (n,) bool
    model_key: str

    def __len__(self) -> int:
        return len(self.ids)


def catalog_load(*, model_key: str | None = None, all_in_stock: bool = False) -> Catalog:
    """Every product, with the vectors of one encoder (default: the store's). ``all_in_stock``
    counts every active product as in stock: the demo's stock is made up, and a real shop's stock
    on the test days is not in the data."""
    cls = encoder_class(model_key.split("/")[0] if model_key else None)
    model_key = model_key or cls.model_key()
    rows = list(
        Product.objects.order_by("pk").values_list(
            "pk",
            "gender",
            "category",
            "article_type",
            "name",
            "is_active",
            "stock_quantity",
            "product_group",
            "subcategory",
            "colour",
            "price",
            "department",
            "description",
        )
    )
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    index = {int(pid): i for i, pid in enumerate(ids)}
    vectors, embedded = embedding_matrix(index, model_key=model_key)
    return Catalog(
        ids=ids, index=index,
        gender=np.array([row[1] for row in rows], dtype=str), category=[row[2] for row in rows],
        article_type=[row[3] for row in rows], name=[row[4] for row in rows],
        description=[row[12] for row in rows], group=[row[7] for row in rows],
        available=np.array([row[5] and (all_in_stock or row[6] > 0) for row in rows], dtype=bool),
        subcategory=[row[8] for row in rows], colour=[row[9] for row in rows], department=[row[11] for row in rows],
        price=np.array([float(row[10]) if row[10] else np.nan for row in rows], dtype=np.float32),
        members=_members(rows),
        vectors=vectors, embedded=embedded, model_key=model_key,
    )  # fmt: skip


def _members(rows) -> dict[str, list[int]]:
    members: dict[str, list[int]] = {}
    for row in rows:
        if row[7]:
            members.setdefault(row[7], []).append(int(row[0]))
    return members


def events_load() -> list[Event]:
    """The whole log as (shopper key, product id, kind, time), as the ranker's training reads it."""
    return log_events()
