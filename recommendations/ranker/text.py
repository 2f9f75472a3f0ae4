"""What a product's words say: its name and description as TF-IDF vectors, for the after-a-click
sources and features ("reads alike").

A basket often holds the parts of one line that the catalog keeps as different products: a bikini
top and its briefs, a cashmere poncho and the beanie of the same collection, a blazer and its
trousers. Their product groups differ, and a few days of baskets rarely hold the pair, but their
names and descriptions share rare words (the line's name, the fabric, the cut). On the H&M week,
7% of the held-out basket pairs share a rare word of their names outside the product group, as many
as share the group itself.

Built from the catalog only (never the log), once per training, like the photos' projection.
"""

import numpy as np
from scipy.sparse import csr_matrix

TEXT_TERMS = 16  # a product keeps its heaviest terms only: the table stays small at a million products
_TOKENS = r"(?u)\b[a-zA-Z][a-zA-Z0-9]+\b"  # words, not sizes or article numbers


def text_vectors(names, descriptions) -> csr_matrix:
    """One unit row per product (float32 CSR): TF-IDF of its name (counted twice: a line's name is
    there) and its description, English stop words out, words of a single product out (they say
    nothing about a pair), each row cut to its TEXT_TERMS heaviest terms. Empty rows where a
    product has no such word; an empty matrix when no word is in two products."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{name} {name} {description or ''}" for name, description in zip(names, descriptions, strict=True)]
    vectorizer = TfidfVectorizer(token_pattern=_TOKENS, sublinear_tf=True, min_df=2, stop_words="english")
    try:
        matrix = vectorizer.fit_transform(texts).tocsr().astype(np.float32)
    except ValueError:  # no word in two products (a tiny or empty catalog)
        return csr_matrix((len(texts), 0), dtype=np.float32)
    return _heaviest(matrix, TEXT_TERMS)


def _heaviest(matrix: csr_matrix, keep: int) -> csr_matrix:
    """Each row's ``keep`` largest entries, the row made unit again."""
    indptr, indices, data = [0], [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        terms, weights = matrix.indices[start:end], matrix.data[start:end]
        if len(weights) > keep:
            best = np.argsort(-weights, kind="stable")[:keep]
            terms, weights = terms[best], weights[best]
        norm = float(np.linalg.norm(weights))
        order = np.argsort(terms)
        indices.append(terms[order])
        data.append(weights[order] / norm if norm > 0 else weights[order])
        indptr.append(indptr[-1] + len(terms))
    return csr_matrix(
        (
            np.concatenate(data).astype(np.float32) if data else np.zeros(0, np.float32),
            np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32),
            np.array(indptr, dtype=np.int64),
        ),
        shape=matrix.shape,
    )
