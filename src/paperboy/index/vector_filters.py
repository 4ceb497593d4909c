"""The forms a vector search filter takes, and each turned into one batched check of candidate ids.

Why apart from :mod:`paperboy.index.vectors`: callers (the query layer) build these filters, and the index's
over-fetch loop only ever asks "which of these candidate ids pass?", whatever form the filter came in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

#: ids a search may return: a predicate on an id, a collection/array of ids, or a boolean mask indexed by id
AllowedFilter = Callable[[int], bool] | Collection[int] | np.ndarray
#: a batched check of candidate ids (uint64 array in, boolean array out), asked only about candidates
BatchCheck = Callable[[np.ndarray], np.ndarray]


def is_mask(allowed: object) -> bool:
    """True when ``allowed`` is a boolean mask indexed by id."""
    return isinstance(allowed, np.ndarray) and allowed.dtype == bool


def cheap_check(allowed: AllowedFilter | None) -> BatchCheck:
    """``allowed`` as a batched check: vectorised for a mask or sorted ids, per id for a predicate."""
    if allowed is None:
        return lambda keys: np.ones(len(keys), dtype=bool)
    if is_mask(allowed):
        mask = allowed
        size = len(mask)

        def in_mask(keys: np.ndarray) -> np.ndarray:
            if not size:
                return np.zeros(len(keys), dtype=bool)
            keys = keys.astype(np.int64)
            return (keys < size) & mask[np.minimum(keys, size - 1)]

        return in_mask
    if callable(allowed):
        pred = allowed
        return lambda keys: np.fromiter(map(pred, keys.tolist()), dtype=bool, count=len(keys))
    sorted_ids = np.asarray(allowed, dtype=np.uint64)
    return lambda keys: np.isin(keys, sorted_ids, assume_unique=False)
