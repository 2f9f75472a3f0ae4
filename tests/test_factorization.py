"""recommendations.factorization: implicit's ALS with the short rows solved exactly.

Known answers against implicit itself: without short rows the factors are implicit's fit, to the
bit; each short row's solution is implicit's exact least-squares solve (``user_factor``); the
training loss is implicit's, and two groups of products are told apart."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from implicit.cpu import _als
from implicit.cpu.als import AlternatingLeastSquares, user_factor
from scipy.sparse import csr_matrix
from scipy.sparse import random as sparse_random
from threadpoolctl import threadpool_limits

from recommendations import factorization
from recommendations.factorization import SHORT_ROW, als_factorize

REGULARIZATION = 0.05


def implicit_fit(matrix: csr_matrix, *, factors: int, iterations: int) -> AlternatingLeastSquares:
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors, regularization=REGULARIZATION, iterations=iterations, alpha=1.0, random_state=42
        )
        model.fit(matrix, show_progress=False)
    return model


def confidences(rows: int, columns: int, density: float, seed: int) -> csr_matrix:
    """A random confidence matrix (1 + 10 log1p(weight), as services.collaborative) with no empty row
    or column."""
    rng = np.random.default_rng(seed)
    matrix = sparse_random(rows, columns, density=density, format="lil", random_state=seed, dtype=np.float32)
    for row in range(rows):
        matrix[row, rng.integers(columns)] = 1.0
    for column in range(columns):
        matrix[rng.integers(rows), column] = 1.0
    matrix = matrix.tocsr()
    matrix.data = (1.0 + 10.0 * np.log1p(8.0 * matrix.data)).astype(np.float32)
    return matrix


def test_without_short_rows_the_factors_are_implicits_fit(monkeypatch):
    matrix = confidences(300, 120, 0.05, seed=1)
    monkeypatch.setattr(factorization, "SHORT_ROW", 0)
    users, items = als_factorize(matrix, factors=8, iterations=4, regularization=REGULARIZATION)
    model = implicit_fit(matrix, factors=8, iterations=4)
    np.testing.assert_array_equal(users, model.user_factors)
    np.testing.assert_array_equal(items, model.item_factors)


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(0, SHORT_ROW + 3), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
    factors=st.sampled_from([1, 3, 8]),
)
def test_each_short_row_gets_implicits_exact_least_squares_solution(lengths, seed, factors):
    rng = np.random.default_rng(seed)
    columns = SHORT_ROW + 8
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([rng.choice(columns, n, replace=False) for n in lengths]).astype(np.int32)
    data = (1.0 + 10.0 * np.log1p(rng.choice([1.0, 2.0, 8.0, 17.0], len(indices)))).astype(np.float32)
    matrix = csr_matrix((data, indices, indptr), shape=(len(lengths), columns))
    other = rng.normal(0, 0.3, (columns, factors)).astype(np.float32)
    order, long = factorization._long_rows_first(matrix)
    side = factorization._side(matrix[order], long)
    before = rng.normal(size=(len(lengths), factors)).astype(np.float32)
    solved = before.copy()
    factorization._solve_short_rows(side, solved, other, REGULARIZATION)
    assert np.array_equal(solved[:long], before[:long])  # the long rows are implicit's solver's
    gram = other.T @ other
    for row in range(long, len(lengths)):
        exact = user_factor(other, gram, side.matrix, row, REGULARIZATION, factors)
        np.testing.assert_allclose(solved[row], exact, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(exact).max()))
    assert np.diff(side.matrix.indptr)[:long].min(initial=SHORT_ROW + 1) > SHORT_ROW


def test_a_row_with_a_dislike_goes_to_implicits_solver():
    matrix = csr_matrix(np.array([[2.0, 0, 0], [-3.0, 0, 0], [0, 4.0, 1.0]], dtype=np.float32))
    order, long = factorization._long_rows_first(matrix)
    assert long == 1 and order[0] == 1
    assert np.diff(matrix[order].indptr).tolist() == [1, 1, 2]  # then the short rows, by length


def test_the_training_loss_is_implicits():
    matrix = confidences(3000, 400, 0.002, seed=2)  # most shoppers have one to four products
    assert (np.diff(matrix.indptr) <= SHORT_ROW).mean() > 0.8
    for iterations in (1, 3, 8):
        users, items = als_factorize(matrix, factors=16, iterations=iterations, regularization=REGULARIZATION)
        model = implicit_fit(matrix, factors=16, iterations=iterations)
        with threadpool_limits(1, "blas"):
            ours = _als.calculate_loss(matrix, users, items, REGULARIZATION)
            theirs = _als.calculate_loss(matrix, model.user_factors, model.item_factors, REGULARIZATION)
        # The same objective, as well minimised: exact short rows take another path (here within 0.3%
        # of implicit's loss at every iteration count). Each short row's exactness is the test above.
        assert abs(ours - theirs) <= 0.01 * theirs, (iterations, ours, theirs)


def test_a_shopper_of_one_product_is_recommended_its_group():
    """Two groups of six products, each bought together by its own 200 shoppers (two to four products
    each); a shopper who bought one product of a group is shown that group's products first."""
    rng = np.random.default_rng(3)
    rows = []
    for group in (0, 1):
        for _ in range(200):
            rows.append(group * 6 + rng.choice(6, rng.integers(2, 5), replace=False))
    rows += [[2], [9]]  # one product each: the shoppers asked about
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    matrix = csr_matrix(
        (np.full(indptr[-1], 21.0, dtype=np.float32), np.concatenate(rows).astype(np.int32), indptr), shape=(402, 12)
    )
    users, items = als_factorize(matrix, factors=2, iterations=10, regularization=REGULARIZATION)
    for shopper, group in ((400, 0), (401, 1)):
        scores = items @ users[shopper]
        assert set(np.argsort(-scores)[:6] // 6) == {group} and scores[np.arange(12) // 6 == group].min() > 0.5


def test_rows_without_entries_get_zero_factors():
    matrix = csr_matrix(np.array([[0, 0, 0], [0, 3.0, 0]], dtype=np.float32))
    users, items = als_factorize(matrix, factors=2, iterations=2, regularization=0.1)
    assert users.shape == (2, 2) and items.shape == (3, 2)
    assert not users[0].any() and not items[0].any() and not items[2].any() and users[1].any()
