"""A memo keyed by the *content* of a pure function's arguments.

The calibration root searches (:func:`simtrial.model.outcomes.calibrate_delta`,
:func:`~simtrial.model.outcomes.remission_intercepts`) are pure functions of arrays and frozen
model objects, and a batch or sweep builds many models whose calibrations are the same (every
design point of a sweep over N or the effect distribution shares its population). Keying by the
bytes of the pickled arguments makes equal inputs hit whichever object holds them; an argument
that does not pickle is simply not memoised. Values are returned as read-only arrays or
immutable numbers, so a caller cannot change a cached value; exceptions are not cached.
The cache lives in the process (nothing is written anywhere) and holds the last ``maxsize``
results.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

__all__ = ["by_content"]


def by_content(maxsize: int = 512) -> Callable[[Callable], Callable]:
    """Decorator: memoise ``fn(*args, **kwargs)`` by the BLAKE2 digest of the pickled
    arguments (``fn.cache_clear()`` empties it; ``fn.cache_info()`` gives hits and misses)."""
    def deco(fn: Callable) -> Callable:
        cache: OrderedDict[bytes, Any] = OrderedDict()
        stats = {"hits": 0, "misses": 0}

        @functools.wraps(fn)
        def memo(*args, **kwargs):
            try:
                key = hashlib.blake2b(pickle.dumps((args, sorted(kwargs.items())), protocol=5),
                                      digest_size=20).digest()
            except (pickle.PicklingError, TypeError, AttributeError):
                key = None
            if key is None:
                return fn(*args, **kwargs)
            if key in cache:
                cache.move_to_end(key)
                stats["hits"] += 1
                return cache[key]
            stats["misses"] += 1
            value = fn(*args, **kwargs)
            if isinstance(value, np.ndarray):
                value = value.copy()
                value.flags.writeable = False
            cache[key] = value
            if len(cache) > maxsize:
                cache.popitem(last=False)
            return value

        memo.cache_clear = lambda: (cache.clear(), stats.update(hits=0, misses=0))
        memo.cache_info = lambda: dict(stats, size=len(cache))
        return memo
    return deco
