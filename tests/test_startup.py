"""Start-up without waste (issue 14 item 4): what ``power`` and ``validate`` import, and the
stand-ins for scipy.stats / scipy.optimize that make it so, which must give scipy's numbers to
the last bit (the back-tests pin the results themselves).

No timings here: ``benchmarks/startup.py`` prints them.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats
from scipy import special

from simtrial.model import evidence as ev
from simtrial.model import population as pop
from simtrial.model.design import build_design
from simtrial.model.outcomes import OUTCOMES
from simtrial.scenario import load_scenario
from simtrial.stats import distributions as dist
from simtrial.stats.qmc import MAX_DIM, sobol_base2
from simtrial.stats.roots import brentq

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy.stats", "scipy.optimize", "pandas", "matplotlib", "simpy", "tqdm")
"""Modules a power or validate command must not import (0.1-0.7 s each)."""

_PROBE = """
import runpy, sys
sys.argv = ["simtrial"] + sys.argv[1:]
try:
    runpy.run_module("simtrial", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print("MODULES " + " ".join(sorted(m for m in sys.modules if m.split(".")[0] in
                                   ("scipy", "pandas", "matplotlib", "simpy", "tqdm"))))
sys.exit(code)
"""


def _imported(*argv: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("SIMTRIAL_CACHE_DIR", None)
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("MODULES")][-1]
    return set(line.split()[1:])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("name", ["t1d_hba1c_12m", "t1d_cpeptide_12m", "t2d_insulin_12m",
                                  "t1d_hba1c_12m_gsd", "t1d_hba1c_12m_predictive"])
def test_power_imports_no_heavy_module(name):
    mods = _imported("power", f"scenarios/{name}.toml", "--n-trials", "1")
    assert "scipy.special" in mods      # the probe sees the engine's imports
    assert not _heavy(mods), _heavy(mods)


@pytest.mark.parametrize("name", ["t1d_hba1c_12m", "t1d_three_arm_dose_12m",
                                  "mixed_composite_responder_12m"])
def test_validate_imports_no_heavy_module(name):
    mods = _imported("validate", f"scenarios/{name}.toml")
    assert not _heavy(mods), _heavy(mods)


# ---------------------------------------------------------------------------------------------
# simtrial.stats.distributions == scipy.stats, bit for bit
# ---------------------------------------------------------------------------------------------

_RNG = np.random.default_rng(20261201)
X = np.concatenate([_RNG.normal(0, 3, 400), _RNG.normal(0, 30, 50),
                    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -40.0, 40.0]])
Q = np.concatenate([_RNG.random(400), [0.0, 1.0, 0.5, 1e-300, 1 - 1e-16, 1e-12, np.nan, -0.1,
                                       1.1]])
DFS = [1, 2.5, 3, 10, 57, 300, 1e6]


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("fn", ["cdf", "sf"])
def test_probabilities_equal_scipy_stats(fn):
    assert _same(getattr(dist.norm, fn)(X), getattr(scipy.stats.norm, fn)(X))
    assert _same(getattr(dist.norm, fn)(X, 1.5, 2.0), getattr(scipy.stats.norm, fn)(X, 1.5, 2.0))
    for df in DFS:
        assert _same(getattr(dist.t, fn)(X, df), getattr(scipy.stats.t, fn)(X, df)), df
        assert _same(getattr(dist.chi2, fn)(X, df), getattr(scipy.stats.chi2, fn)(X, df)), df
        for nc in (-12.0, -3.0, 0.0, 0.7, 5.0, 11.0):
            assert _same(getattr(dist.nct, fn)(X, df, nc),
                         getattr(scipy.stats.nct, fn)(X, df, nc)), (df, nc)


@pytest.mark.parametrize("fn", ["ppf", "isf"])
def test_quantiles_equal_scipy_stats(fn):
    assert _same(getattr(dist.norm, fn)(Q), getattr(scipy.stats.norm, fn)(Q))
    assert _same(getattr(dist.norm, fn)(Q, -0.9, 0.3), getattr(scipy.stats.norm, fn)(Q, -0.9, 0.3))
    for df in DFS:
        assert _same(getattr(dist.t, fn)(Q, df), getattr(scipy.stats.t, fn)(Q, df)), df
        assert _same(getattr(dist.t(df, -1.0, 0.5), fn)(Q),
                     getattr(scipy.stats.t(df, -1.0, 0.5), fn)(Q)), df
        assert _same(getattr(dist.chi2, fn)(Q, df), getattr(scipy.stats.chi2, fn)(Q, df)), df
    dfs = np.arange(1.0, 400.0)
    assert _same(dist.t.isf(0.025, dfs[:, None]), scipy.stats.t.isf(0.025, dfs[:, None]))


def test_scalars_are_numpy_scalars_as_in_scipy_stats():
    for a, b in ((dist.t.isf(0.025, 38), scipy.stats.t.isf(0.025, 38)),
                 (dist.norm.sf(1.3), scipy.stats.norm.sf(1.3)),
                 (dist.nct.sf(2.0, 40, 3.1), scipy.stats.nct.sf(2.0, 40, 3.1))):
        assert a == b and type(a) is type(b)


def test_binomial_pmf_equals_scipy_stats():
    for n in (1, 5, 30, 301):
        k = np.arange(-1, n + 2)
        for p in (0.0, 0.03, 0.5, 0.97, 1.0):
            assert _same(dist.binom.pmf(k, n, p), scipy.stats.binom.pmf(k, n, p)), (n, p)
        p = np.array([0.1, 0.2])
        assert _same(dist.binom.pmf(k[:, None], n, p), scipy.stats.binom.pmf(k[:, None], n, p))


# ---------------------------------------------------------------------------------------------
# simtrial.stats.roots.brentq == scipy.optimize.brentq; qmc == scipy.stats.qmc.Sobol
# ---------------------------------------------------------------------------------------------

def _problems():
    rng = np.random.default_rng(3)
    z = rng.standard_normal(2000)
    for i in range(40):
        c = float(rng.uniform(0.01, 3.0))
        yield (lambda x, c=c: math.exp(x) - c), -40.0, 40.0
        yield (lambda x, c=c: x ** 3 - c * x - 1), -40.0 + c, 40.0 - c
        yield (lambda x, c=c: math.atan(x - c) * 3 + 0.1 * x), -10.0, 10.0
        yield (lambda x, c=c: math.tanh(20 * (x - c))), -5.0, 7.0
        p = float(rng.uniform(0.01, 0.99))
        yield (lambda a, p=p: float(np.mean(special.expit(a + 0.7 * z))) - p), -40.0, 40.0


@pytest.mark.parametrize("tol", [dict(), dict(xtol=1e-13, rtol=1e-13), dict(xtol=1e-7),
                                 dict(xtol=1e-12, rtol=4 * np.finfo(float).eps, maxiter=200)])
def test_brentq_equals_scipy_optimize(tol):
    for f, a, b in _problems():
        ours, theirs = brentq(f, a, b, **tol), scipy.optimize.brentq(f, a, b, **tol)
        assert ours == theirs and type(ours) is type(theirs)


def test_brentq_refuses_what_scipy_refuses():
    with pytest.raises(ValueError):
        brentq(lambda x: x * x + 1, -1.0, 1.0)
    for solver in (brentq, scipy.optimize.brentq):
        with pytest.raises(RuntimeError):
            solver(lambda x: math.tanh(20 * (x - 0.3)), 0.0, 1e9, maxiter=3)
        with pytest.raises(ValueError):
            solver(lambda x: math.nan, 0.0, 1.0)
    assert brentq(lambda x: x, 0.0, 1.0) == 0.0


@pytest.mark.parametrize(("d", "m", "seed"), [(12, 18, 0x51A7_C0DE_2026), (MAX_DIM, 12, 5),
                                              (1, 4, 0), (3, 0, 1), (9, 10, 12345)])
def test_sobol_equals_scipy_qmc(d, m, seed):
    ours = sobol_base2(d, m, seed)
    theirs = scipy.stats.qmc.Sobol(d=d, scramble=True, seed=seed).random_base2(m)
    assert _same(ours, theirs)


# ---------------------------------------------------------------------------------------------
# the evidence table without pandas; the model's lazy calibration
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("shipped", "columns"), [(ev.EVIDENCE_FILE, ev.COLUMNS),
                                                  (ev.SAFETY_FILE, ev.SAFETY_COLUMNS)])
def test_csv_reader_reads_what_pandas_reads(shipped, columns):
    raw, _ = ev._read_csv(None, shipped, columns)
    frame = pd.read_csv(io.BytesIO(shipped.read_bytes()), dtype=str, keep_default_na=False,
                        na_filter=False, encoding="utf-8")
    assert raw == frame.to_dict("records")


def _model(name: str):
    return build_design(load_scenario(ROOT / "scenarios" / f"{name}.toml")).models[0]


@pytest.mark.parametrize("name", ["t1d_hba1c_12m", "t2d_insulin_12m"])
def test_lazy_calibration_does_not_depend_on_what_is_asked_first(name):
    a, b = _model(name), _model(name)
    assert b.remission is None or b.remission.active in (True, False)   # remission first
    for o in reversed(list(OUTCOMES)):
        b.delta[o]
    assert list(a.md) == list(b.md) == list(OUTCOMES)
    for o in OUTCOMES:
        assert np.array_equal(a.delta[o], b.delta[o]) and np.array_equal(a.md[o], b.md[o])
        assert a.md_source[o] == b.md_source[o]
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())


def test_model_pickles_complete():
    m = _model("t1d_hba1c_12m")
    copy = pickle.loads(pickle.dumps(m))
    assert type(copy.delta) is dict and copy.remission is not None
    assert json.dumps(copy.to_dict()) == json.dumps(m.to_dict())


# ---------------------------------------------------------------------------------------------
# the opt-in calibration cache (SIMTRIAL_CACHE_DIR)
# ---------------------------------------------------------------------------------------------

def _fresh_sample(spec):
    pop._CALIBRATION_SAMPLES.clear()
    return pop.calibration_sample(spec, 12, seed=7)


def _spec():
    return _model("t1d_hba1c_12m").population


def test_no_cache_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(pop.CACHE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    _fresh_sample(_spec())
    assert pop._cache_file(("any",)) is None and not list(tmp_path.iterdir())


def test_cache_round_trip_and_corrupt_entry(tmp_path, monkeypatch):
    spec = _spec()
    monkeypatch.delenv(pop.CACHE_ENV, raising=False)
    plain = _fresh_sample(spec)
    monkeypatch.setenv(pop.CACHE_ENV, str(tmp_path / "cache"))
    first = _fresh_sample(spec)                     # computed and written
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    again = _fresh_sample(spec)                     # read back
    for got in (first, again):
        assert got[1] == plain[1] and set(got[0]) == set(plain[0])
        assert all(_same(got[0][k], plain[0][k]) for k in plain[0])
        assert not any(v.flags.writeable for v in got[0].values())
    files[0].write_bytes(b"not an npz")            # a corrupt entry is ignored and rewritten
    redo = _fresh_sample(spec)
    assert all(_same(redo[0][k], plain[0][k]) for k in plain[0])
    assert pop._read_cached(files[0]) is not None
    assert [f.name for f in (tmp_path / "cache").iterdir()] == [files[0].name]   # no temp left
    pop._CALIBRATION_SAMPLES.clear()
