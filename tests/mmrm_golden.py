"""Reference outputs of the MMRM, MI and OLS fits from a fixed earlier implementation.

``tests/test_mmrm_fast.py`` checks that the current :mod:`simtrial.stats.mmrm` gives the same
numbers (to floating-point round-off) as the implementation at commit :data:`REFERENCE` (before
the speed work of issue 14: LAPACK per small matrix, pattern sums from a (trials, patients,
(q+V)^2) outer-product array). The inputs and that implementation's outputs are stored in
``tests/data/mmrm_golden.npz``; regenerate them (only if the cases change) with::

    python -m tests.mmrm_golden            # runs simtrial/stats/mmrm.py as of REFERENCE

which takes the reference module's source from git history, so it needs the repository.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "mmrm_golden.npz"
REFERENCE = "6d187776b0e2d7edd3fe0f85636ec5f991a94de0"
MMRM_FIELDS = ("est", "se", "df", "status", "n_iter", "sigma", "coef", "loglik")
MI_FIELDS = ("est", "se", "df", "lam", "status")

# name: seed, visits, patients per arm, correlation, sd growth, monotone dropout hazard,
#       intermittent miss rate, extra stratum column, columns reported
CASES = {
    "v3_monotone_unequal": (1, 3, (25, 35), 0.6, 0.3, 0.12, 0.0, False, [1, 2]),
    "v2_intermittent_stratum": (2, 2, (20, 30), 0.5, 0.2, 0.10, 0.15, True, [1, 3]),
    "v4_mixed_three_arms": (3, 4, (18, 22, 20), 0.55, 0.4, 0.10, 0.08, False, [1, 2]),
    "v5_many_patterns": (4, 5, (40, 30), 0.5, 0.5, 0.05, 0.15, False, [1]),
    "v3_many_newton_steps": (5, 3, (12, 14), 0.97, 3.0, 0.20, 0.25, False, [1]),   # 8-28 steps
}
N_TRIALS = 24


def make_case(name: str):
    """``y`` (NaN where missing), ``observed``, ``z = [1, arm dummies, baseline (, stratum)]``
    for ``N_TRIALS`` trials of case ``name``; a few trials are made degenerate on purpose."""
    seed, v, arms, rho, sd_growth, hazard, holes, stratum, _ = CASES[name]
    rng = np.random.default_rng(seed)
    arm = np.repeat(np.arange(len(arms)), arms)
    n = arm.size
    t = N_TRIALS
    base = rng.standard_normal((t, n))
    cols = [np.ones((t, n))] + [np.broadcast_to((arm == a).astype(float), (t, n))
                                for a in range(1, len(arms))] + [base]
    if stratum:
        cols.append((rng.random((t, n)) < 0.4).astype(float))
    z = np.stack(cols, axis=-1)
    corr = rho ** np.abs(np.subtract.outer(np.arange(v), np.arange(v)))
    sd = np.linspace(1.0, 1.0 + sd_growth, v)
    chol = np.linalg.cholesky(corr * np.outer(sd, sd))
    y = (np.linspace(0.3, -0.4, v) - 0.3 * (arm > 0)[:, None] + 0.5 * base[..., None]
         + 40.0 * (name == "v4_mixed_three_arms")         # a large mean: centring matters
         + rng.standard_normal((t, n, v)) @ chol.T)
    obs = np.ones((t, n, v), dtype=bool)
    for k in range(1, v):
        p = hazard / (1.0 + np.exp(-(y[..., k - 1] - 0.5)))
        obs[..., k] = obs[..., k - 1] & (rng.random((t, n)) >= 2 * p)
    obs &= rng.random((t, n, v)) >= holes
    obs[rng.random((t, n)) < 0.05] = False                 # some patients never seen (padding)
    # degenerate trials: a visit nobody attends, a constant outcome, NaN in a used covariate
    obs[0, :, -1] = False
    y[1] = 1.0
    z[2, 3, -1] = np.nan
    obs[2, 3, 0] = True
    return np.where(obs, y, np.nan), obs, z


def compute(mod, name: str, data=None) -> dict[str, np.ndarray]:
    """Every output of module ``mod`` (a ``simtrial.stats.mmrm``) on case ``name`` (its
    inputs ``data = (y, observed, z)``, default :func:`make_case`)."""
    y, obs, z = make_case(name) if data is None else data
    cols = CASES[name][-1]
    out = {"y": y, "observed": obs, "z": z}
    runs = [("satterthwaite", -1, 50), ("kenward-roger", -1, 50), ("residual", -1, 50),
            ("satterthwaite", 0, 50), ("satterthwaite", -1, 3)]
    for df, visit, max_iter in runs:
        r = mod.mmrm(y, obs, z, columns=cols, visit=visit, df=df, max_iter=max_iter)
        for f in MMRM_FIELDS:
            out[f"mmrm_{df}_{visit}_{max_iter}_{f}"] = np.asarray(getattr(r, f))
    # condition number of the observed REML information at the solution (status 0), which
    # bounds how much a round-off change can move the df (and, less, the other outputs)
    codes = mod._pattern_codes(obs)
    st, _ = mod._chunk_stats(y, obs, z, codes, np.unique(codes[codes > 0]))
    fit = mod._fit(st, mod._Par(y.shape[-1]), 50, 1e-8)
    out["info_cond"] = np.where(fit.status == 0, np.linalg.cond(
        np.where(fit.status[:, None, None] == 0, fit.ainv, np.eye(fit.ainv.shape[-1]))), np.nan)
    r = mod.mi_ancova(y, obs, z, columns=cols, m=5, rng=np.random.default_rng(7))
    for f in MI_FIELDS:
        out[f"mi_{f}"] = np.asarray(getattr(r, f))
    e, s, d = mod.ols(y[..., -1], obs[..., -1], z, cols)
    out.update(ols_est=e, ols_se=s, ols_df=d)
    return out


def reference_module(rev: str = REFERENCE) -> types.ModuleType:
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:simtrial/stats/mmrm.py"],
                         check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType("mmrm_reference")
    sys.modules[mod.__name__] = mod          # dataclasses look their module up
    exec(compile(src, f"mmrm.py@{rev[:7]}", "exec"), mod.__dict__)
    return mod


def load(name: str) -> dict[str, np.ndarray]:
    """The stored inputs and reference outputs of case ``name``."""
    with np.load(DATA) as f:
        return {k.split("/", 1)[1]: f[k] for k in f.files if k.startswith(name + "/")}


def main() -> int:
    mod = reference_module()
    arrays = {}
    for name in CASES:
        for key, a in compute(mod, name).items():
            arrays[f"{name}/{key}"] = a
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DATA, **arrays)
    print(f"{DATA.relative_to(ROOT)}: {len(arrays)} arrays from mmrm.py@{REFERENCE[:7]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
