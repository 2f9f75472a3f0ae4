"""implicit's ALS, with the short rows of each half-step solved exactly in batches.

implicit's conjugate-gradient step (``least_squares_cg``, what ``AlternatingLeastSquares.fit`` runs)
costs every row four products with the factors x factors Gram matrix, however few entries the row
has. A shop's log is mostly short rows: in the ten-million-event benchmark 36% of the 3.4 million
shoppers bought one product and 83% at most four, and most products have a handful of buyers. A
row with n entries has a closed form around the Gram matrix's inverse, the same for every row of a
half-step (the Woodbury identity): n products with that inverse and an n x n solve, which numpy
batches over all rows of the same length as matrix products. Those rows get their exact
least-squares solution, which implicit's three conjugate-gradient steps approach; the longer rows go
through implicit's own solver, unchanged. The initialisation and the order of the half-steps are
``AlternatingLeastSquares.fit``'s, so a matrix without short rows gives implicit's factors exactly.

Pure numpy and implicit; services.collaborative calls it.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

SHORT_ROW = 16  # entries; the n x n systems stay small (measured best of 4, 8, 16 and 32 at ten million)
# Entries gathered at a time: 4 MB of float32 rows at 64 factors. Batches of a million entries (256
# MB) took twice as long at ten million events: each temporary array was a fresh mapping to fault
# in page by page, and none stayed in cache.
_BATCH_ENTRIES = 1 << 14


@dataclass(frozen=True)
class _Side:
    """One side's rows, reordered so that the long rows come first (one contiguous block for
    implicit's solver), columns in the other side's order."""

    matrix: csr_matrix
    long_rows: csr_matrix  # matrix[:long]
    long: int
    lengths: np.ndarray


def als_factorize(
    user_items: csr_matrix, *, factors: int, iterations: int, regularization: float, random_state: int = 42,
    cg_steps: int = 3, num_threads: int = 0, on_iteration: Callable[[int], None] = lambda done: None,
    with_users: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:  # fmt: skip
    """(user factors, item factors), float32, for a shoppers x products confidence matrix, as
    implicit's ``AlternatingLeastSquares(factors, regularization, iterations, alpha=1,
    random_state).fit(user_items)`` would fit them with its conjugate-gradient solver, but with
    every row of at most SHORT_ROW entries solved exactly. ``with_users=False``: None for the users'
    (the store solves a shopper's vector from their history; putting 3.4 million rows back in their
    original order took 2 s)."""
    from implicit.cpu import _als
    from implicit.utils import check_random_state

    matrix = csr_matrix(user_items, dtype=np.float32)
    matrix.sum_duplicates()
    users, items = matrix.shape
    user_order, long_users = _long_rows_first(matrix)
    item_order, long_items = _long_rows_first(matrix.T.tocsr())
    ordered = matrix[user_order][:, item_order]
    by_user, by_item = _side(ordered, long_users), _side(ordered.T.tocsr(), long_items)
    # Drawn as fit() draws them, the users' factors first, in the new order: only the long rows' are
    # a starting point (a short row's solution does not depend on it), and drawing 3.4 million
    # shoppers' took 3 s. Without short rows, both orders are the original one and the draws fit()'s.
    rng = check_random_state(random_state)
    x = np.zeros((users, factors), dtype=np.float32)
    x[:long_users] = rng.random((long_users, factors), dtype=np.float32) * 0.01
    y = rng.random((items, factors), dtype=np.float32) * 0.01
    for done in range(1, iterations + 1):
        for side, solved, other in ((by_user, x, y), (by_item, y, x)):
            if side.long:
                with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads only contend
                    _als.least_squares_cg(
                        side.long_rows, solved[: side.long], other, regularization, num_threads=num_threads,
                        cg_steps=cg_steps,
                    )  # fmt: skip
            _solve_short_rows(side, solved, other, regularization)
        on_iteration(done)
    return x.take(_inverse(user_order), axis=0) if with_users else None, y.take(_inverse(item_order), axis=0)


def _inverse(order: np.ndarray) -> np.ndarray:
    """Where each original row went, to gather the rows back in their original order (faster than
    scattering them: 2.1 s against 2.6 s for 3.4 million shoppers)."""
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    return rank


def _long_rows_first(rows: csr_matrix) -> tuple[np.ndarray, int]:
    """The rows' order, and how many come first: those longer than SHORT_ROW or holding a value that
    is not a positive confidence (implicit's solver reads those as dislikes), in their original order;
    then the short rows by length, so that each length's rows and entries are contiguous."""
    lengths = np.diff(rows.indptr)
    long = lengths > SHORT_ROW
    if rows.nnz:
        long[np.searchsorted(rows.indptr, np.flatnonzero(rows.data <= 0), side="right") - 1] = True
    short = np.flatnonzero(~long)
    order = np.concatenate([np.flatnonzero(long), short[np.argsort(lengths[short], kind="stable")]])
    return order, int(long.sum())


def _side(matrix: csr_matrix, long: int) -> _Side:
    return _Side(matrix, matrix[:long], long, np.diff(matrix.indptr))


def _solve_short_rows(side: _Side, solved: np.ndarray, other: np.ndarray, regularization: float) -> None:
    """x = (A + Yᵀ D Y)⁻¹ Yᵀ c for each short row, with A = OᵀO + λI over the other side's factors O,
    Y the row's n factors of the other side, c its confidences and D = diag(c - 1). With B = A⁻¹,
    P = Y B and G = P Yᵀ (n x n), Woodbury gives x = Pᵀ (c - (I + D G)⁻¹ D G c)."""
    if side.long == len(side.lengths):
        return
    factors = other.shape[1]
    gram = (other.T @ other).astype(np.float64) + regularization * np.eye(factors)
    inverse = np.linalg.inv(gram).astype(np.float32)
    matrix = side.matrix
    # The short rows come by length (_long_rows_first): each length's rows, and their entries, are a range.
    bounds = side.long + np.searchsorted(side.lengths[side.long :], np.arange(SHORT_ROW + 2))
    solved[bounds[0] : bounds[1]] = 0.0  # no entries: A x = 0
    for size in range(1, SHORT_ROW + 1):
        for first in range(bounds[size], bounds[size + 1], _BATCH_ENTRIES // size):
            last = min(first + _BATCH_ENTRIES // size, bounds[size + 1])
            entries = slice(matrix.indptr[first], matrix.indptr[last])
            c, columns = matrix.data[entries].reshape(last - first, size), matrix.indices[entries]
            y = other.take(columns, axis=0)  # (rows * size, factors)
            p = y @ inverse  # (a gather of precomputed rows of B Oᵀ was slower than the product)
            if size == 1:  # Sherman-Morrison: x = c B y / (1 + (c - 1) yᵀ B y)
                g = np.einsum("rf,rf->r", p, y)
                np.multiply(p, (c[:, 0] / (1.0 + (c[:, 0] - 1.0) * g))[:, None], out=solved[first:last])
                continue
            p, y = p.reshape(last - first, size, factors), y.reshape(last - first, size, factors)
            g = np.matmul(p, y.transpose(0, 2, 1))
            d = c - 1.0
            system = np.eye(size, dtype=np.float32) + d[:, :, None] * g
            z = np.linalg.solve(system, (d * np.matmul(g, c[:, :, None])[:, :, 0])[:, :, None])[:, :, 0]
            np.matmul((c - z)[:, None, :], p, out=solved[first:last].reshape(last - first, 1, factors))
