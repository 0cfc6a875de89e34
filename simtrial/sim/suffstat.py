"""The exact sufficient-statistics kernel: per-arm sums drawn from their exact distribution.

Where it applies (:func:`supports`) the endpoint is *linear-normal given the baseline*: on the
analysis scale (change from baseline, centred) patient i of an arm has

    y_i = a + b x_i + sigma e_i,     e_i iid N(0, 1) independent of the baselines,

with ``x_i = x0_i - c`` the baseline centred at the calibrated baseline mean ``c``,
``b = beta_t``, ``sigma = sigma_t`` (:mod:`simtrial.model.outcomes`) and
``a = b (c - m_0) + T delta`` (``T`` = 1 in the MSC arm). The analyses
(:func:`~simtrial.stats.sums.analyse_sums`: ANCOVA and the t-test on change) use only each
arm's ``(n, Sx, Sy, Sxx, Syy, Sxy)``, and given the baselines these are functions of

    Se = sum e_i,   Sxe = sum x_i e_i,   See = sum e_i^2:

    Sy  = n a + b Sx + sigma Se
    Sxy = a Sx + b Sxx + sigma Sxe
    Syy = n a^2 + 2 a b Sx + b^2 Sxx + 2 sigma (a Se + b Sxe) + sigma^2 See.

**Exact block draws.** Within a block of m patients, write ``e`` in the orthonormal basis
``u1 = 1 / sqrt(m)``, ``u2 = (x - xbar) / sqrt(Sxx_c)`` (``Sxx_c = sum (x - xbar)^2``) and any
basis of the (m - 2)-dimensional rest. The coordinates of an iid standard normal vector in an
orthonormal basis are iid standard normal, so given the block's baselines

    Se  = sqrt(m) z1,    Sxe = xbar sqrt(m) z1 + sqrt(Sxx_c) z2,
    See = z1^2 + z2^2 + chi^2_{m-2}

with ``z1, z2 ~ N(0, 1)`` and the chi-square independent of them: a block of m patients costs
2 normals and 1 gamma (``chi^2_k = 2 Gamma(k / 2)``) per trial instead of m normals. This is
the joint distribution, not an approximation, so every statistic of the analysis has exactly
the distribution of the patient kernels' (tests/test_suffstat.py compares power, mean and SD
of the estimate with the prefix kernel within Monte Carlo error).

**Baselines.** By default they are the prefix kernel's screened patients
(:func:`~simtrial.sim.prefix.draw_baselines` on the same stream, so the same patients) and the
block moments ``Sx``, ``Sxx_c`` are computed from them: the cost of the outcome no longer grows
with N, that of screening still does. Where the endpoint baseline is *unscreened and normal*
(no inclusion criterion at all, a ``normal`` marginal) the block moments are exact draws too:
``Sx = m mu + s sqrt(m) zx`` and ``Sxx_c = s^2 chi^2_{m-1}``, independent (Cochran), with
``mu`` and ``s`` the centred mean and SD (single patients: ``x_i = mu + s v_i``); no patient
is drawn for full blocks, and the cost per trial grows only with the number of block levels
(below). Continuous baselines make ``Sxx_c > 0`` in every block (with probability 1), so the
basis exists.

**Canonical blocks.** An arm's patients are cut into fixed blocks whatever sizes a run asks
for: level-L blocks hold ``32**L`` patients (L = 0 single patients, L = 1 patients 0-31, 32-63,
..., L = 2 patients 0-1023, ...). Arm size N is the base-32 expansion
``N = sum_L d_L 32**L``: the first ``d_top`` top-level blocks, then ``d_L`` blocks of each lower
level, then ``d_0`` single patients (their own baselines and residuals), at most 31 of each,
so a trial costs at most 31 draw sets per level (log_32 N levels) and the sums at N depend only
on (seed, chunk, N), never on the other sizes requested, the number of workers or the chunk
order. Common random numbers across N hold for every block two sizes share: N + 1 is N plus one
patient except at a carry, when N + 1 is a multiple of 32 (the last 31 patients' draws are
replaced by one exact block's) or of 1024 (the last 1023 patients' by one level-2 block's).
Each size is exact; the sums at 64 are just not those at 63 plus a patient. A power curve
therefore has Monte Carlo steps at multiples of 32 that the prefix kernel's curve does not
have (below 1,024 these are the only ones; sizes between steps are as smooth as the patient
kernels').

Why 32: the headline designs are 20-100 per arm; with 32 a 100-per-arm arm is 3 exact blocks
and 4 patients (64 would leave 36 patients to draw one by one), and a carry replaces at most
31 patients at the lowest level; at 3,000 per arm (2 + 29 blocks + 24 patients) the draws cost
far less than screening 3,000 patients. A block of ``32**L`` patients has ``32**L - 2 >= 30``
residual degrees of freedom, where numpy's (Marsaglia-Tsang) gamma costs the same for every
shape.

**Random streams** (:mod:`simtrial._rng`): baselines from the group's baseline stream
(:data:`~simtrial.sim.prefix.STREAMS`, the prefix kernel's patients); level-L blocks inside
level-(L+1) block p from :func:`~simtrial._rng.suffstat_codes` ``(arm, L)`` jumped p times
(:func:`~simtrial._rng.block_generator`): normals (z1, z2 and, with exact baselines, zx), the
residual chi-squares and the baselines' chi-squares from three streams, each an array
``(blocks, trials[, k])`` filled in C order, so block j's numbers do not depend on how many
blocks are drawn; single patients' (residual, baseline normal) likewise; trial effects from the
``effect`` stream, as the other kernels.

**Assurance.** The MSC arm under trial effect ``delta_t`` is the same patients shifted by
``d = delta_t - delta``: ``y2_i = y_i + d``, i.e. ``a`` replaced by ``a + d`` in the three
formulas above (``Sy2 = Sy + n d``, ``Sxy2 = Sxy + d Sx``, ``Syy2 = Syy + 2 d Sy + n d^2``),
which is what :func:`~simtrial.model.outcomes.latent_at` with a per-trial effect gives when
the outcome is additive and unbounded.

The output is the prefix kernel's (:class:`~simtrial.sim.prefix.SimOutput` through
:func:`~simtrial.sim.prefix.combine`), analysed by the same code
(:func:`~simtrial.sim.prefix.analyse_grid` on arrays by grid point), so everything downstream
(:mod:`simtrial.oc`) is unchanged. Per-trial estimates differ from the patient kernels' (other
random numbers); their distribution does not. There are no patient-level values to export:
``simtrial simulate`` exports the patient kernels' patients.
"""

from __future__ import annotations

import math

import numpy as np

from .._rng import CHUNK_TRIALS, block_generator, suffstat_codes
from . import prefix

__all__ = ["BLOCK", "supports", "exact_baselines", "run_chunk"]

BLOCK = 32
"""Patients per canonical block (fixed: part of the definition of a seed's numbers)."""

_X, _XX, _E, _XE, _EE = range(5)
"""Columns of an arm's base sums: Sx, Sxx (raw), Se, Sxe, See."""


def supports(dm) -> bool:
    """True if the sums of ``dm`` are exactly those of a linear-normal model given the
    baseline, so this kernel is exact. On top of :func:`simtrial.sim.prefix.supports` (one
    stratum, one MSC arm at full effect, one continuous endpoint on the natural scale by
    ``ancova`` / ``ttest_change``, superiority without margin, no looks, no conduct, nobody
    lost), each condition removes a departure from ``y = a + b x + sigma e``:

    * ``scale = "additive"`` outcome: on the log scale (C-peptide, insulin, HOMA) the natural
      change ``exp(X_t) - X_0`` is not linear in a normal residual;
    * no floor (``to_natural`` is the identity): a floor clips the normal, so the residual is
      not normal and its sums are not the projections above;
    * no insulin-independence event (``zero_event``): it sets some values to 0, a mixture;
    * no patient-specific natural-history decline: its deviation depends on age and duration,
      baselines outside the model's ``x``, so the outcome is not linear in ``x`` alone;
    * no heterogeneity multiplier (``none``, or ``modifier`` with slope 0, whose multiplier is
      exactly 1): ``normal`` adds an effect variance only in the MSC arm and ``responders`` a
      two-point mixture (and a responder count the sums do not carry), ``modifier`` an effect
      depending on a second baseline;
    * assurance effects map to the model scale as the identity (no ``delta_table``), so a
      trial effect is a shift of ``a``.
    """
    if not prefix.supports(dm):
        return False
    m = dm.models[0]
    od = m.outcome_def
    het = m.heterogeneity
    point = het.mode == "none" or (het.mode == "modifier" and het.slope == 0.0)
    return (od.scale == "additive" and od.floor is None and not od.zero_event
            and m.endpoint.decline is None and point and m.delta_table is None)


def exact_baselines(model) -> bool:
    """True if the endpoint baseline is unscreened and normal (no inclusion criterion at all,
    a ``normal`` marginal), so block moments of the baselines are drawn exactly too."""
    pop = model.population
    return not pop.criteria and pop.marginals[model.outcome_def.baseline].family == "normal"


def _baselines(model, seed: int, chunk: int, arm: int, n_max: int):
    """The prefix kernel's screened baselines of one arm (same stream, same patients),
    centred: ``(x (n_max, CHUNK_TRIALS), screened, accepted)``."""
    od = model.outcome_def
    het = model.heterogeneity
    extra = (od.baseline,) + ((het.modifier,) if het.mode == "modifier" else ())
    name = ("control_baseline", "msc_baseline")[arm]
    vals, screened, accepted = prefix.draw_baselines(
        model.population, prefix.stream(seed, chunk, name), CHUNK_TRIALS, n_max,
        tuple(dict.fromkeys(extra)))
    return vals[od.baseline] - model.calibration["baseline_mean_natural"], screened, accepted


def _patient_sums(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Base sums of single patients (axis 0): (x, x^2, e, x e, e^2)."""
    out = np.empty(x.shape + (5,))
    out[..., _X] = x
    np.multiply(x, x, out=out[..., _XX])
    out[..., _E] = e
    np.multiply(x, e, out=out[..., _XE])
    np.multiply(e, e, out=out[..., _EE])
    return out


def _block_sums(m: int, sx: np.ndarray, ssx: np.ndarray, z: np.ndarray, chi2: np.ndarray
                ) -> np.ndarray:
    """Base sums of blocks of ``m`` patients from their baseline moments ``Sx``, ``Sxx_c`` and
    the exact residual draws ``z`` (z1, z2) and ``chi2`` (m - 2 df)."""
    xbar = sx / m
    se = math.sqrt(m) * z[..., 0]
    out = np.empty(sx.shape + (5,))
    out[..., _X] = sx
    out[..., _XX] = ssx + m * xbar * xbar
    out[..., _E] = se
    out[..., _XE] = xbar * se + np.sqrt(ssx) * z[..., 1]
    out[..., _EE] = z[..., 0] ** 2 + z[..., 1] ** 2 + chi2
    return out


def _levels(n_max: int) -> int:
    """Number of block levels an arm of ``n_max`` patients uses (level L holds 32**L)."""
    levels = 1
    while BLOCK ** levels <= n_max:
        levels += 1
    return levels


def _singles(gen: np.random.Generator, c: int, x: np.ndarray | None, law) -> np.ndarray:
    """Base sums of ``c`` single patients: their residuals (and, with ``law = (mu, sd)`` of
    unscreened baselines, their baselines) from ``gen``; else their baselines ``x``."""
    draws = gen.standard_normal((c, CHUNK_TRIALS, 1 + (law is not None)))
    xs = x if law is None else law[0] + law[1] * draws[..., 1]
    return _patient_sums(xs, draws[..., 0])


def _blocks(gens, m: int, c: int, x: np.ndarray | None, law) -> np.ndarray:
    """Base sums of ``c`` consecutive blocks of ``m`` patients, exact given their baselines:
    ``x`` (the blocks' ``c * m`` patients) or, with ``law = (mu, sd)``, baseline moments drawn
    from the normal law too. ``gens``: generators of the normals, residual chi-squares and
    baseline chi-squares."""
    t = CHUNK_TRIALS
    z = gens[0].standard_normal((c, t, 2 + (law is not None)))
    chi2 = 2.0 * gens[1].standard_gamma((m - 2) / 2.0, (c, t))
    if law is None:
        seg = x.reshape(c, m, t)
        sx = seg.sum(axis=1)
        ssx = ((seg - (sx / m)[:, None, :]) ** 2).sum(axis=1)
    else:
        mu, sd = law
        sx = m * mu + sd * math.sqrt(m) * z[..., 2]
        ssx = (2.0 * sd * sd) * gens[2].standard_gamma((m - 1) / 2.0, (c, t))
    return _block_sums(m, sx, ssx, z, chi2)


def _arm_base(model, seed: int, chunk: int, arm: int, sizes: np.ndarray
              ) -> tuple[np.ndarray, int, int]:
    """Base sums ``(G, CHUNK_TRIALS, 5)`` of one arm at each arm size in ``sizes`` (the
    base-32 expansion of each size: blocks of each level, then single patients), with the
    candidates screened and accepted."""
    t = CHUNK_TRIALS
    n_max = int(sizes.max())
    x = law = None
    if exact_baselines(model):
        mg = model.population.marginals[model.outcome_def.baseline]
        law = (mg.mean - model.calibration["baseline_mean_natural"], mg.sd)
        screened = accepted = -(-n_max // prefix.SCREEN_BLOCK) * prefix.SCREEN_BLOCK * t
    else:
        x, screened, accepted = _baselines(model, seed, chunk, arm, n_max)
    base = np.zeros((sizes.size, t, 5))
    for level in range(_levels(n_max)):
        m = BLOCK ** level
        digit = (sizes // m) % BLOCK
        parent = sizes // (m * BLOCK)
        codes = suffstat_codes(arm, level)
        for p in (int(q) for q in np.unique(parent[digit > 0])):
            at = np.flatnonzero((parent == p) & (digit > 0))
            c = int(digit[at].max())
            first = p * m * BLOCK                  # the first patient of parent block p
            part = None if x is None else x[first:first + c * m]
            used = 1 if m == 1 else 2 + (law is not None)      # streams this level draws
            gens = [block_generator(seed, chunk, code, p) for code in codes[:used]]
            sums = (_singles(gens[0], c, part, law) if m == 1
                    else _blocks(gens, m, c, part, law))
            np.cumsum(sums, axis=0, out=sums)
            base[at] += sums[digit[at] - 1]
    return base, screened, accepted


def _arm_sums(base: np.ndarray, n: np.ndarray, a, b: float, sigma: float) -> np.ndarray:
    """Sums ``(Sx, Sy, Sxx, Syy, Sxy)`` by grid point of ``y = a + b x + sigma e`` from base
    sums; ``a`` a scalar or one intercept per trial."""
    n = n[:, None].astype(float)
    sx, sxx, se, sxe, see = (base[..., i] for i in range(5))
    out = np.empty(base.shape)
    out[..., 0] = sx
    out[..., 1] = n * a + b * sx + sigma * se
    out[..., 2] = sxx
    out[..., 3] = (n * a * a + 2.0 * a * b * sx + b * b * sxx + 2.0 * sigma * (a * se + b * sxe)
                   + sigma * sigma * see)
    out[..., 4] = a * sx + b * sxx + sigma * sxe
    return out


def run_chunk(model, seed: int, chunk: int, n_trials: int, n0: np.ndarray, n1: np.ndarray,
              keep: int | None) -> prefix.ChunkOut:
    """One chunk on the grid ``(n0, n1)``: the prefix kernel's chunk output."""
    th = min(CHUNK_TRIALS, n_trials - chunk * CHUNK_TRIALS)
    vm = model.endpoint
    k = model.k_end
    b, sigma = float(vm.beta[k]), float(vm.sigma[k])
    delta = float(model.delta[model.outcome_def.name][k])
    a0 = b * (model.calibration["baseline_mean_natural"] - vm.m0)
    dist = model.distribution
    theta = None
    clipped = 0
    if dist is not None and not dist.is_point:
        theta = dist.sample(prefix.stream(seed, chunk, "effect"), CHUNK_TRIALS)[:th]
        if model.md_limit is not None:
            clipped = int(np.sum(theta < model.md_limit))
    base, scr0, acc0 = _arm_base(model, seed, chunk, 0, n0)
    s0 = _arm_sums(base[:, :th], n0, a0, b, sigma)
    base, scr1, acc1 = _arm_base(model, seed, chunk, 1, n1)      # (frees the control arm's)
    base = base[:, :th]
    s1 = _arm_sums(base, n1, a0 + delta, b, sigma)
    grid = np.arange(n0.size)

    def analyse(s_msc, success=False):
        return prefix.analyse_grid(model, s0, s_msc, n0, n1, keep, success, rows=(grid, grid))

    rej, e1, e2, sse, kept, kept_rej = analyse(s1)
    suc, kept_suc = (rej, kept_rej)
    if model.scenario.design.sides == 2:   # success: significant in the direction of benefit
        suc, *_, kept_suc = analyse(s1, success=True)
    rej_a, e1a, e2a, kept_rej_a = suc, e1, e2, kept_suc
    if theta is not None:                  # the same patients under each trial's own effect
        s1a = _arm_sums(base, n1, a0 + model.delta_for(theta), b, sigma)
        rej_a, e1a, e2a, _, _, kept_rej_a = analyse(s1a, success=True)
    else:
        theta = np.full(th, model.endpoint_md)
    none = np.zeros(n0.size, dtype=np.int64)
    return prefix.ChunkOut(
        chunk, th, rej, suc, e1, e2, sse, rej_a, e1a, e2a, zeros0=none, zeros1=none,
        resp1=none, theta_sum=float(theta.sum()), theta_sum2=float((theta * theta).sum()),
        theta_clipped=clipped, kept=kept, kept_reject=kept_rej, kept_success=kept_suc,
        kept_assur_reject=kept_rej_a, kept_theta=theta.copy() if keep is not None else None,
        screened=scr0 + scr1, accepted=acc0 + acc1,
        kept_arms=prefix.kept_arms(model, s0, s1, n0, n1, keep, rows=(grid, grid)))
