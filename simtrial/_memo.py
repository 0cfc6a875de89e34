"""A memo keyed by the *content* of a pure function's arguments.

The calibration root searches (:func:`simtrial.model.outcomes.calibrate_delta`,
:func:`~simtrial.model.outcomes.remission_intercepts`) are pure functions of arrays and frozen
model objects, and a batch or sweep builds many models whose calibrations are the same (every
design point of a sweep over N or the effect distribution shares its population). Keying by the
bytes of the pickled arguments makes equal inputs hit whichever object holds them; an argument
that does not pickle is simply not memoised. Values are returned as read-only arrays or
immutable numbers, so a caller cannot change a cached value; exceptions are not cached.

Hashing is the cost (a calibration sample is about 2 MB): a large array that is read-only and
owns its data, or a read-only view of one, is hashed once and then known by identity (the
builder of a model freezes its calibration arrays, and nothing in simtrial makes a frozen array
writable again); every other argument is hashed on each call.
The cache lives in the process (nothing is written anywhere) and holds the last ``maxsize``
results.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
import weakref
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

__all__ = ["by_content"]

_FROZEN_MIN_BYTES = 1 << 16
_DIGESTS: dict[int, tuple[weakref.ref, bytes]] = {}


def _frozen_digest(a: np.ndarray) -> bytes:
    hit = _DIGESTS.get(id(a))
    if hit is not None and hit[0]() is a:
        return hit[1]
    d = hashlib.blake2b(memoryview(a).cast("B"), digest_size=20).digest()
    k = id(a)
    _DIGESTS[k] = (weakref.ref(a, lambda _r, k=k: _DIGESTS.pop(k, None)), d)
    return d


class _KeyPickler(pickle.Pickler):
    """Pickles frozen arrays by their cached digest (and a view's place in its base)."""

    def persistent_id(self, obj):
        if type(obj) is not np.ndarray or obj.nbytes < _FROZEN_MIN_BYTES or obj.flags.writeable:
            return None
        base = obj if obj.base is None else obj.base
        if (type(base) is not np.ndarray or base.base is not None or base.flags.writeable
                or not base.flags.c_contiguous):
            return None
        off = obj.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        return ("frozen", _frozen_digest(base), base.dtype.str, base.shape, off, obj.dtype.str,
                obj.shape, obj.strides)


def _key(args, kwargs) -> bytes:
    buf = io.BytesIO()
    _KeyPickler(buf, protocol=5).dump((args, sorted(kwargs.items())))
    return hashlib.blake2b(buf.getbuffer(), digest_size=20).digest()


def by_content(maxsize: int = 512) -> Callable[[Callable], Callable]:
    """Decorator: memoise ``fn(*args, **kwargs)`` by the BLAKE2 digest of the pickled
    arguments (``fn.cache_clear()`` empties it; ``fn.cache_info()`` gives hits and misses)."""
    def deco(fn: Callable) -> Callable:
        cache: OrderedDict[bytes, Any] = OrderedDict()
        stats = {"hits": 0, "misses": 0}

        @functools.wraps(fn)
        def memo(*args, **kwargs):
            try:
                key = _key(args, kwargs)
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
