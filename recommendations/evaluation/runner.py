"""One evaluation run: the time split, attribute precision, discovery and the embedding map, as
one JSON document, written to a file and kept as an EvaluationReport for the admin."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.utils import timezone

from recommendations.evaluation.attributes import attribute_precision
from recommendations.evaluation.data import catalog_load, events_load
from recommendations.evaluation.discovery import discovery_rounds
from recommendations.evaluation.embedding_map import embedding_map
from recommendations.evaluation.offline import evaluate_time_split
from recommendations.models import EvaluationReport


@dataclass(frozen=True)
class EvaluationOptions:
    k: int = 12
    test_weeks: int = 4
    test_days: int | None = None  # instead of weeks: the last N calendar days
    all_in_stock: bool = False  # count every active product as in stock
    windows: int = 1  # rolling test windows pooled; tuning needs 1
    until: datetime | None = None
    seed: int = 0
    tune: bool = True
    attributes_folder: Path | None = None  # a Fashion Product Images folder, or None to skip
    discovery_targets: int = 100  # 0 skips the simulation
    map_sample: int = 1500  # 0 skips the embedding map
    promote_new_days: int = 0  # > 0: the homepage also scored with a promote rule for new arrivals
    promote_cards: int = 3


def evaluation_run(
    options: EvaluationOptions, *, json_path: Path, on_step: Callable[[str], None] = lambda _: None,
    progress: bool = True,
) -> EvaluationReport:  # fmt: skip
    on_step("Reading the catalog and its embeddings")
    catalog = catalog_load(all_in_stock=options.all_in_stock)
    data: dict = {
        "created_at": timezone.now().isoformat(),
        "catalog": {"products": len(catalog), "embedded": int(catalog.embedded.sum()), "model_key": catalog.model_key},
    }
    on_step("Reading the interaction log")
    data["time_split"] = evaluate_time_split(
        catalog, events_load(), k=options.k, test_weeks=options.test_weeks, test_days=options.test_days,
        until=options.until,
        windows=options.windows,
        seed=options.seed, tune_weights=options.tune, promote_new_days=options.promote_new_days,
        promote_cards=options.promote_cards, on_step=on_step,
    )  # fmt: skip
    if options.attributes_folder:
        on_step(f"Attribute precision@6 on {options.attributes_folder}")
        data["attributes"] = attribute_precision(options.attributes_folder, progress=progress)
    embedded = catalog.vectors[catalog.embedded]
    if options.discovery_targets:
        on_step(f"Discovery: {options.discovery_targets} hidden targets")
        data["discovery"] = discovery_rounds(
            embedded, targets=options.discovery_targets, seed=options.seed, progress=progress
        )
    if options.map_sample:
        on_step(f"Embedding map of {min(options.map_sample, len(embedded)):,} products (t-SNE)")
        data["embedding_map"] = embedding_map(catalog, sample=options.map_sample, seed=options.seed)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=2))
    return EvaluationReport.objects.create(data=data)
