"""The fast MMRM path (issue 14) gives the numbers of the implementation it replaced.

:mod:`tests.mmrm_golden` stores random data sets (2-5 visits, unequal and three arms, monotone
dropout, intermittent misses, patients never seen, a large outcome mean, a case needing 8-28
Newton steps, degenerate trials) with the outputs of ``simtrial/stats/mmrm.py`` as of
``mmrm_golden.REFERENCE``. The current module must give the same status and iteration counts
and the same numbers to 1e-10 relative, must not depend on how it sub-chunks, and its shortcuts
(sweep inverses, eigenvalue-free PD tests) must agree with LAPACK.
"""

from __future__ import annotations

import numpy as np
import pytest

import simtrial
import simtrial.sim.full as full
import simtrial.stats.mmrm as mm

from .helpers import scenario
from .mmrm_golden import CASES, MI_FIELDS, MMRM_FIELDS, compute, load

EXACT = ("status", "n_iter")
INPUTS = ("y", "observed", "z", "info_cond")


def _tolerance(ref) -> np.ndarray:
    """Relative tolerance of each trial: 1e-10, or 1e-13 times the condition number of its
    observed REML information where that is above 1e3 (round-off in the information matrix,
    whichever order its sums are taken in, moves its inverse, and so the df, by about that)."""
    return np.maximum(1e-10, 1e-13 * np.nan_to_num(ref["info_cond"], nan=0.0))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_numbers_as_the_reference_implementation(name):
    ref = load(name)
    now = compute(mm, name, (ref["y"], ref["observed"], ref["z"]))
    keys = sorted(k for k in ref if k not in INPUTS)
    assert keys == sorted(k for k in now if k not in INPUTS)
    assert np.any(ref["mmrm_satterthwaite_-1_50_status"] == mm.STATUS_OK)
    tol = _tolerance(ref)
    for key in keys:
        a, b = ref[key], now[key]
        if key.endswith(EXACT):
            np.testing.assert_array_equal(b, a, err_msg=key)
            continue
        np.testing.assert_array_equal(np.isnan(b), np.isnan(a), err_msg=key)
        if key.startswith("mi_"):
            continue                    # test_multiple_imputation_matches_the_reference
        rtol = tol.reshape((-1,) + (1,) * (a.ndim - 1))
        # plus an absolute floor of 1e-12 of the key's largest value: an estimate that is zero
        # up to round-off (-4e-16 against -7e-16) has no relative precision, and its last bits
        # move with the numpy / BLAS version (numpy 2.4 here against the reference's)
        floor = 1e-12 * np.nanmax(np.abs(a)) if np.any(np.isfinite(a)) else 0.0
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(b - a) <= rtol * np.abs(a) + floor) & ~np.isnan(a)
        assert not bad.any(), (key, np.argwhere(bad)[:5], a[bad][:5], b[bad][:5])


@pytest.mark.parametrize("name", sorted(CASES))
def test_multiple_imputation_matches_the_reference(name):
    # MI draws vec(B*) as (eigenvector factor of C*) x normals. LAPACK may return an
    # eigenvector with the other sign (or another basis of a near-degenerate eigenspace) after
    # a round-off change in C*, which gives that imputation other (equally distributed)
    # values, so a few trials differ beyond round-off. All others must agree to the tolerance
    # of the MMRM outputs.
    ref = load(name)
    now = compute(mm, name, (ref["y"], ref["observed"], ref["z"]))
    same = np.ones(ref["mi_est"].shape[0], dtype=bool)
    tol = _tolerance(ref)[:, None]
    for f in ("est", "se", "df", "lam"):
        a, b = ref[f"mi_{f}"], now[f"mi_{f}"]
        with np.errstate(invalid="ignore"):
            close = (np.abs(b - a) <= tol * np.abs(a)) | (np.isnan(a) & np.isnan(b))
        same &= close.all(axis=1)
    assert same.sum() >= 0.8 * same.size, np.flatnonzero(~same)


def test_reference_cases_cover_what_they_claim():
    iters = load("v3_many_newton_steps")["mmrm_satterthwaite_-1_50_n_iter"]
    assert iters.max() >= 20 and np.median(iters) >= 10
    st = load("v3_many_newton_steps")["mmrm_satterthwaite_-1_3_status"]
    assert np.any(st == mm.STATUS_NOT_CONVERGED)
    for name, case in CASES.items():
        obs = load(name)["observed"]
        codes = mm._pattern_codes(obs)
        assert obs.shape[-1] == case[1]
        assert mm._present(codes).size >= 3, name
        assert np.any(mm.STATUS_NOT_ESTIMABLE == load(name)["mmrm_satterthwaite_-1_50_status"])
    assert mm._present(mm._pattern_codes(load("v5_many_patterns")["observed"])).size >= 20


def test_sub_chunking_changes_no_bit(monkeypatch):
    ref = load("v4_mixed_three_arms")
    y, obs, z = ref["y"], ref["observed"], ref["z"]
    whole = mm.mmrm(y, obs, z, columns=[1, 2], df="kenward-roger")
    mi = mm.mi_ancova(y, obs, z, columns=[1, 2], m=3, rng=np.random.default_rng(1))
    monkeypatch.setattr(mm, "_STATS_ELEMS", 1)         # one trial per statistics sub-chunk
    monkeypatch.setattr(mm, "_CHUNK_ELEMS", 5_000)     # a few trials per fit chunk
    parts = mm.mmrm(y, obs, z, columns=[1, 2], df="kenward-roger")
    for f in MMRM_FIELDS:
        np.testing.assert_array_equal(getattr(parts, f), getattr(whole, f), err_msg=f)
    mi2 = mm.mi_ancova(y, obs, z, columns=[1, 2], m=3,
                       seeds=mm.mi_seeds(np.random.default_rng(1), y.shape[0]))
    for f in MI_FIELDS:
        np.testing.assert_array_equal(getattr(mi2, f), getattr(mi, f), err_msg=f)
    half = mm.mi_ancova(y[5:], obs[5:], z[5:], columns=[1, 2], m=3,
                        seeds=mm.mi_seeds(np.random.default_rng(1), y.shape[0])[5:])
    np.testing.assert_array_equal(half.est, mi.est[5:])
    with pytest.raises(ValueError, match="one of rng"):
        mm.mi_ancova(y, obs, z, columns=[1], m=3)


def test_sweep_inverse_matches_lapack():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 6, 9, 15):
        a = rng.standard_normal((50, n, n + 2))
        a = a @ np.swapaxes(a, -1, -2) + 1e-3 * np.eye(n)
        inv, logdet, pd = mm._spd_inverse(a)
        assert pd.all()
        np.testing.assert_allclose(inv, np.linalg.inv(a), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(logdet, np.linalg.slogdet(a)[1], rtol=1e-10, atol=1e-10)
    bad = np.array([[[1.0, 2.0], [2.0, 1.0]], [[-1.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]])
    assert not mm._spd_inverse(bad)[2].any()


@pytest.mark.parametrize("tol", [1e-10, 1e-12])
def test_positive_definiteness_test_is_the_eigenvalue_rule(tol):
    # condition numbers spread over and around 1/tol, where the trace bounds are not conclusive
    # and eigvalsh decides; plus indefinite, singular and non-finite matrices
    rng = np.random.default_rng(5)
    n, k = 6, 400
    q, _ = np.linalg.qr(rng.standard_normal((k, n, n)))
    cond = 10.0 ** rng.uniform(8.0, 14.0, k)
    lam = np.exp(rng.uniform(0, 1, (k, n)) * np.log(cond)[:, None]) / cond[:, None]
    lam[::7, 0] *= -1.0
    lam[::11, 0] = 0.0
    a = (q * lam[:, None, :]) @ np.swapaxes(q, -1, -2)
    a = 0.5 * (a + np.swapaxes(a, -1, -2)) * 10.0 ** rng.uniform(-3, 3, (k, 1, 1))
    a[3, 0, 1] = np.nan
    ev = np.linalg.eigvalsh(np.where(np.isfinite(a), a, 0.0))
    want = (np.all(np.isfinite(a), axis=(1, 2)) & (ev[:, 0] > tol * np.abs(ev[:, -1]))
            & (ev[:, -1] > 0))
    inv, _, ok = mm._cond_ok(mm._soa(a), tol)
    np.testing.assert_array_equal(ok, want)
    assert 0.2 < want.mean() < 0.8
    inv = mm._tf(inv)
    good = want & (np.linalg.cond(np.where(want[:, None, None], a, np.eye(n))) < 1e6)
    np.testing.assert_allclose(inv[good], np.linalg.inv(a[good]), rtol=1e-8)
    np.testing.assert_array_equal(inv[~want], np.broadcast_to(np.eye(n), inv[~want].shape))


@pytest.mark.parametrize("analysis", ["mmrm", "mi", "ancova"])
def test_design_engine_analysis_sub_chunks_change_no_number(monkeypatch, analysis):
    sc = scenario(**{"endpoint.analysis": analysis, "n_trials": 40,
                     "endpoint.imputations": 3 if analysis == "mi" else None,
                     "dropout": {"rate": 0.25, "mechanism": "mar", "strength": 0.5}})
    a = simtrial.simulate(sc, [20, 30], kernel="full")
    monkeypatch.setattr(full, "ANALYSIS_ELEMS", 1)      # one trial per analysis sub-chunk
    b = simtrial.simulate(sc, [20, 30], kernel="full")
    for n in (20, 30):
        ta, tb = a[n].trials, b[n].trials
        assert sorted(ta) == sorted(tb)
        for key in ta:
            np.testing.assert_array_equal(np.asarray(ta[key]), np.asarray(tb[key]), err_msg=key)
        assert np.isfinite(ta["point_est"]).mean() > 0.9
