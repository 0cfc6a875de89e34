"""Seed-pinned back-tests of shipped scenarios (regenerate with ``python -m tests.backtest``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.backtest import CASES, DATA, KEY, compute


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_shipped_scenario_reproduces_its_pinned_numbers(name):
    stored = pd.read_csv(DATA / f"{name}.csv", keep_default_na=False, dtype=str)
    for col in ("estimate", "mc_se"):
        stored[col] = pd.to_numeric(stored[col].replace({"": None, "nan": None}))
    now = compute(name)
    a = stored.set_index(KEY)
    b = now.set_index(KEY)
    missing = a.index.difference(b.index)
    extra = b.index.difference(a.index)
    assert missing.empty, f"rows no longer produced: {list(missing)[:10]}"
    assert extra.empty, f"new rows (regenerate and say why): {list(extra)[:10]}"
    b = b.loc[a.index]
    for col in ("estimate", "mc_se"):
        x = a[col].to_numpy(float)
        y = b[col].to_numpy(float)
        same = np.isclose(x, y, rtol=1e-12, atol=1e-14) | (np.isnan(x) & np.isnan(y))
        bad = a.index[~same]
        assert same.all(), (f"{col} moved in {len(bad)} rows, e.g. "
                            + "; ".join(f"{k}: {a.loc[k, col]!r} -> {b.loc[k, col]!r}"
                                        for k in list(bad)[:5]))
