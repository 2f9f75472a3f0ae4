"""A 2-D map of the catalog's embeddings (t-SNE on a sample), for the report page."""

from collections import Counter

import numpy as np

from recommendations.evaluation.data import Catalog

TOP_CATEGORIES = 8


def embedding_map(catalog: Catalog, *, sample: int = 1500, seed: int = 0) -> dict:
    """{"points": [[x, y, category index], ...], "categories": [...]} with x and y in [0, 1]; the
    categories beyond the TOP_CATEGORIES most common are one "Other" colour."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rows = np.flatnonzero(catalog.embedded)
    if len(rows) < 10:
        return {"points": [], "categories": []}
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(rows, size=min(sample, len(rows)), replace=False))
    # PCA first, as the t-SNE authors advise: it removes noise and makes t-SNE several times faster.
    reduced = PCA(n_components=min(50, len(rows) - 1), random_state=seed).fit_transform(catalog.vectors[rows])
    xy = TSNE(
        n_components=2, perplexity=min(30, (len(rows) - 1) / 3), init="pca", random_state=seed, metric="cosine"
    ).fit_transform(reduced)
    xy = (xy - xy.min(axis=0)) / np.ptp(xy, axis=0).clip(min=1e-9)
    counts = Counter(catalog.category[row] for row in rows)
    categories = [name for name, _ in counts.most_common(TOP_CATEGORIES)]
    index = {name: i for i, name in enumerate(categories)}
    if len(counts) > TOP_CATEGORIES:
        categories.append("Other")
    other = len(categories) - 1
    points = [
        [round(float(x), 4), round(float(y), 4), index.get(catalog.category[row], other)]
        for (x, y), row in zip(xy, rows, strict=True)
    ]
    return {"points": points, "categories": categories, "model_key": catalog.model_key}
