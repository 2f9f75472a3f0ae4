"""H&M Personalized Fashion Recommendations: articles.csv + images/<3 digits>/<article_id>.jpg."""

import csv
import re
import statistics
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from catalog.gender import hm_gender

from .rows import CatalogRow, RowError, read_csv_records

REQUIRED = ["article_id", "prod_name", "product_type_name", "product_group_name", "colour_group_name",
            "index_group_name", "section_name", "garment_group_name", "detail_desc"]  # fmt: skip
# articles.csv has no price. Transactions carry prices scaled by the competition (about 1/590
# of the SEK price); times 1000 gives plausible shop prices. Shown as "scaled" in the README.
PRICE_SCALE = Decimal(1000)
CENT = Decimal("0.01")


def hm_prices(folder: Path) -> dict[str, Decimal]:
    """Median transaction price per article, scaled; empty when there is no transactions file."""
    path = folder / "transactions_train.csv"
    if not path.exists():
        return {}
    prices: dict[str, list[float]] = defaultdict(list)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                prices[row["article_id"]].append(float(row["price"]))
            except (KeyError, ValueError):
                continue  # prices are a nicety here; import_interactions reports bad rows
    return {
        article: (Decimal(str(statistics.median(values))) * PRICE_SCALE).quantize(CENT)
        for article, values in prices.items()
    }


# H&M's names carry a variant counter or a price tag ("Tilly (1)", "Jonte Skinny Jogger 24.99:-"), and
# its product groups a "Garment" prefix ("Garment Full body"): labels for H&M's systems, not for shoppers.
_NAME_TAIL = re.compile(r"(\s*\(\d+\)|\s+\d+(?:[.,]\d+)?\s*:-?)+$")
_GARMENT = re.compile(r"^Garment (?=(Upper|Lower|Full) body$)")


def hm_display_name(raw: str) -> str:
    """A product name as a shopper reads it; the raw name when cleaning would leave nothing."""
    name = " ".join(raw.split())
    cleaned = _NAME_TAIL.sub("", name).strip()
    return cleaned or name


def hm_category(raw: str) -> str:
    return _GARMENT.sub("", " ".join(raw.split()))


def read_hm(folder: Path) -> Iterator[CatalogRow | RowError]:
    prices = hm_prices(folder)
    records = list(read_csv_records(folder / "articles.csv", REQUIRED))
    by_type: dict[str, list[Decimal]] = defaultdict(list)
    for _, record in records:
        if isinstance(record, dict) and record["article_id"] in prices:
            by_type[record["product_type_name"]].append(prices[record["article_id"]])
    type_price = {kind: statistics.median(values).quantize(CENT) for kind, values in by_type.items()}
    for line, record in records:
        if isinstance(record, str):
            yield RowError(line, record)
            continue
        article_id = record["article_id"].strip()
        if not (article_id.isdigit() and len(article_id) == 10):
            yield RowError(line, f"article_id {article_id!r} is not 10 digits")
            continue
        if not record["prod_name"].strip():
            yield RowError(line, "prod_name is empty")
            continue
        price = prices.get(article_id) or type_price.get(record["product_type_name"]) or Decimal(0)
        yield CatalogRow(
            line=line,
            external_id=article_id,
            name=hm_display_name(record["prod_name"]),
            description=record["detail_desc"].strip(),
            gender=hm_gender(index_group_name=record["index_group_name"], section_name=record["section_name"]),
            category=hm_category(record["product_group_name"]),
            subcategory=record["garment_group_name"].strip(),
            article_type=record["product_type_name"].strip(),
            colour=record["colour_group_name"].strip(),
            price=price,
            image_path=folder / "images" / article_id[:3] / f"{article_id}.jpg",
            product_group=article_id[:7],  # H&M's product_code, zero-padded as in the article id
            department=record["section_name"].strip(),
        )
