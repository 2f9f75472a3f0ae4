"""Fashion Product Images (Myntra): styles.csv + images/<id>.jpg. The data has no prices."""

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from catalog.gender import myntra_gender

from .rows import CatalogRow, RowError, read_csv_records

REQUIRED = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "productDisplayName"]


def read_myntra(folder: Path) -> Iterator[CatalogRow | RowError]:
    for line, record in read_csv_records(folder / "styles.csv", REQUIRED):
        if isinstance(record, str):
            yield RowError(line, record)
            continue
        style_id = record["id"].strip()
        if not style_id.isdigit():
            yield RowError(line, f"id {style_id!r} is not a number")
            continue
        try:
            gender = myntra_gender(record["gender"])
        except ValueError as exc:
            yield RowError(line, str(exc))
            continue
        name = record["productDisplayName"].strip()
        if not name:
            yield RowError(line, "productDisplayName is empty")
            continue
        yield CatalogRow(
            line=line,
            external_id=style_id,
            name=name,
            description=" ".join(filter(None, [record.get("usage", ""), record.get("season", "")])).strip(),
            gender=gender,
            category=record["masterCategory"].strip(),
            subcategory=record["subCategory"].strip(),
            article_type=record["articleType"].strip(),
            colour=record["baseColour"].strip(),
            price=Decimal(0),
            image_path=folder / "images" / f"{style_id}.jpg",
        )
