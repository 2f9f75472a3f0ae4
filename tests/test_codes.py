"""common.codes.dense_codes is np.unique(return_inverse=True), uniques in the same order, for the
keys a log holds: database ids (integers) and UUIDs (16 bytes)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.codes import dense_codes


def assert_as_np_unique(keys: np.ndarray) -> None:
    uniques, inverse = dense_codes(keys)
    expected, expected_inverse = np.unique(keys, return_inverse=True)
    assert uniques.dtype == expected.dtype
    np.testing.assert_array_equal(uniques, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.ravel())
    np.testing.assert_array_equal(uniques[inverse], keys)  # each key's code points back at it


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**40), 2**40), max_size=60),
    st.sampled_from([np.int32, np.int64, np.uint32]),
    st.integers(0, 3),
)
def test_integer_keys(values, dtype, spread):
    info = np.iinfo(dtype)
    keys = np.array([min(max(v >> (10 * spread), info.min), info.max) for v in values], dtype=dtype)
    assert_as_np_unique(keys)  # narrow ranges take the table, wide ones np.unique


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=12),
    st.lists(st.integers(0, 11), max_size=80),
    st.sampled_from([16, 20, 6]),
)
def test_byte_keys_sort_by_their_bytes(distinct, picks, size):
    # Keys that share their first bytes and differ later (the slower path) come up often here.
    pool = [(key[:4] * 5)[:size] if i % 2 else (key * 2)[:size] for i, key in enumerate(distinct)]
    keys = np.array([pool[i % len(pool)] for i in picks], dtype=f"V{size}")
    assert_as_np_unique(keys)


def test_a_million_uuids_and_ids():
    rng = np.random.default_rng(0)
    uuids = rng.integers(0, 256, (50_000, 16), dtype=np.uint8)
    keys = uuids[rng.integers(0, len(uuids), 1_000_000)].copy().view("V16").ravel()
    assert_as_np_unique(keys)
    assert_as_np_unique(rng.integers(1, 300_000, 1_000_000).astype(np.int64))


def test_what_it_does_not_take():
    with pytest.raises(ValueError):
        dense_codes(np.zeros((2, 2), dtype=np.int64))
    uniques, inverse = dense_codes(np.array([], dtype=np.int64))
    assert len(uniques) == 0 and len(inverse) == 0
    assert_as_np_unique(np.array(["b", "a", "b"]))  # other kinds: np.unique itself
