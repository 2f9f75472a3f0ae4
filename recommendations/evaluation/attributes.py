"""Attribute precision@6 on the Fashion Product Images catalog, the classic write-ups' score.

For every product as a query, its 6 nearest neighbours (cosine, itself excluded) each score the
share of gender, masterCategory, subCategory, articleType and baseColour they have in common
with it (0.2 each); the mean over neighbours and queries is the precision@6. Reported overall
and per masterCategory; "as served" also applies the store's gender filter, as "Looks similar" does.
"""

import hashlib
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from django.conf import settings
from tqdm import tqdm

from catalog.gender import compatible_genders
from catalog.images import ImageRejected, image_decode
from catalog.importers.myntra import read_myntra
from catalog.importers.rows import CatalogRow, RowError
from recommendations.encoders import REGISTRY, get_encoder

logger = logging.getLogger(__name__)
ATTRIBUTES = ("gender", "category", "subcategory", "article_type", "colour")  # masterCategory is "category"
NEIGHBOURS = 6
BATCH = 16


def attribute_precision(folder: Path, *, progress: bool = True) -> dict:
    """{encoder key: scores or {"unavailable": reason}} for every encoder in the registry."""
    rows, skipped = _read(folder)
    report: dict = {"products": len(rows), "skipped_rows": skipped, "encoders": {}}
    for key in REGISTRY:
        try:
            vectors, kept = embed_rows(rows, key, progress=progress)
        except Exception as exc:  # noqa: BLE001 - an encoder without its weights is reported, not fatal
            logger.warning("Encoder %s unavailable: %s", key, exc)
            report["encoders"][key] = {"unavailable": str(exc).splitlines()[0][:300]}
            continue
        kept_rows = [rows[i] for i in kept]
        report["encoders"][key] = {
            "embedded": len(kept_rows),
            "unreadable_photos": len(rows) - len(kept_rows),
            "unfiltered": precision_at_6(vectors, kept_rows),
            "as_served": precision_at_6(vectors, kept_rows, same_gender=True),
        }
    return report


def _read(folder: Path) -> tuple[list[CatalogRow], int]:
    rows, skipped = [], 0
    for row in read_myntra(folder):
        if isinstance(row, RowError):
            skipped += 1
        else:
            rows.append(row)
    return rows, skipped


def precision_at_6(vectors: np.ndarray, rows: list[CatalogRow], *, same_gender: bool = False) -> dict:
    """{"overall": mean, "per_category": {masterCategory: (mean, queries)}} for unit ``vectors``."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    if same_gender:
        genders = np.array([row.gender for row in rows], dtype=object)
        for gender in set(genders):
            allowed = np.isin(genders, compatible_genders(gender))
            similarity[np.ix_(genders == gender, ~allowed)] = -np.inf
    top = np.argsort(-similarity, axis=1)[:, :NEIGHBOURS]
    per_category: dict[str, list[float]] = defaultdict(list)
    for query, neighbours in enumerate(top):
        scores = [_shared(rows[query], rows[n]) for n in neighbours if np.isfinite(similarity[query, n])]
        per_category[rows[query].category].append(sum(scores) / NEIGHBOURS)
    everything = [score for scores in per_category.values() for score in scores]
    return {
        "overall": float(np.mean(everything)),
        "per_category": {
            category: {"mean": float(np.mean(scores)), "queries": len(scores)}
            for category, scores in sorted(per_category.items(), key=lambda item: -len(item[1]))
        },
    }


def _shared(a: CatalogRow, b: CatalogRow) -> float:
    return sum(getattr(a, name) == getattr(b, name) for name in ATTRIBUTES) / len(ATTRIBUTES)


def embed_rows(rows: list[CatalogRow], key: str, *, progress: bool) -> tuple[np.ndarray, list[int]]:
    """(unit vectors, indexes of the rows whose photo was readable); cached under DATA_DIR, since
    the photos do not change between runs and embedding them is the slow part."""
    encoder_cls = REGISTRY[key]
    digest = hashlib.sha256("\n".join(str(row.image_path) for row in rows).encode()).hexdigest()[:16]
    cache = Path(settings.DATA_DIR) / "evaluation" / f"{digest}-{encoder_cls.model_key().replace('/', '-')}.npz"
    if cache.exists():
        stored = np.load(cache)
        return stored["vectors"], stored["kept"].tolist()
    encoder = get_encoder(key)
    vectors, kept, pixels, batch_rows = [], [], [], []
    for i, row in enumerate(tqdm(rows, desc=f"Embedding with {key}", unit="photo", disable=not progress)):
        try:
            pixels.append(encoder.preprocess(image_decode(str(row.image_path))))
            batch_rows.append(i)
        except (ImageRejected, FileNotFoundError) as exc:
            logger.warning("Skipping %s: %s", row.image_path, exc)
        if len(pixels) == BATCH or (i == len(rows) - 1 and pixels):
            vectors.append(encoder.embed(pixels))
            kept += batch_rows
            pixels, batch_rows = [], []
    result = np.concatenate(vectors).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=result, kept=np.array(kept, dtype=np.int64))
    return result, kept
