"""Dense codes for keys: what ``np.unique(keys, return_inverse=True)`` returns, faster for the keys
a log holds.

np.unique sorts the keys. Ten million 16-byte UUIDs sorted as numpy's void type (a byte-wise compare
per pair, no fast sort for it) took seconds in each read of the log, and a sort is not needed at
all for integer ids in a bounded range such as database keys: a table of every possible value,
marked and counted, codes them in linear time.
"""

import numpy as np

# Integer keys spanning more than this many values per key go through np.unique: a table over a
# sparse range would cost more memory than the sort costs time.
_TABLE_SPAN_PER_KEY = 8


def dense_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uniques, inverse) as ``np.unique(keys, return_inverse=True)``, in the same order (byte strings
    in the order of their bytes), for integer arrays and fixed-size byte strings (numpy's void type)."""
    keys = np.asarray(keys)
    if keys.ndim != 1:
        raise ValueError("dense_codes takes a one-dimensional array")
    if len(keys) == 0:
        return keys.copy(), np.zeros(0, dtype=np.intp)
    if keys.dtype.kind in "iu":
        return _integer_codes(keys)
    if keys.dtype.kind == "V":
        return _byte_codes(keys)
    return np.unique(keys, return_inverse=True)


def _integer_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low, high = int(keys.min()), int(keys.max())
    span = high - low + 1
    if span > _TABLE_SPAN_PER_KEY * len(keys) + 4096:
        return np.unique(keys, return_inverse=True)
    offsets = (keys - low).astype(np.intp, copy=False)
    present = np.zeros(span, dtype=bool)
    present[offsets] = True
    code_of = np.cumsum(present, dtype=np.intp) - 1  # a present value's rank among the present ones
    uniques = (np.flatnonzero(present) + low).astype(keys.dtype)
    return uniques, code_of[offsets]


def _byte_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    size = keys.dtype.itemsize
    # The bytes as big-endian words, most significant first: sorting the words sorts the bytes.
    word = 8 if size % 8 == 0 else 4 if size % 4 == 0 else 1
    words = np.frombuffer(np.ascontiguousarray(keys).tobytes(), dtype=f">u{word}").reshape(len(keys), size // word)
    columns = [words[:, i].astype(f"u{word}") for i in range(words.shape[1])]
    # The first word nearly always decides (random UUIDs): one sort by it, and the sort by every word
    # (lexsort, twice as slow) only where two different keys share their first word.
    order = np.argsort(columns[0], kind="stable")
    ordered = words[order]
    tied = ordered[1:, 0] == ordered[:-1, 0]
    if words.shape[1] > 1 and (tied & (ordered[1:, 1:] != ordered[:-1, 1:]).any(axis=1)).any():
        order = np.lexsort(columns[::-1])  # lexsort's last key is the primary one
        ordered = words[order]
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(len(keys), dtype=np.intp)
    inverse[order] = np.cumsum(starts) - 1
    return keys[order[starts]], inverse
