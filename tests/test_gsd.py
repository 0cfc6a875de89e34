"""Tests of simtrial.stats.gsd (group-sequential bounds, Lan-DeMets spending) and ``simtrial boundaries``.

Reference values
----------------
[P1] rpact test suite, tests/testthat/test-f_design_group_sequential.R (github.com/rpact-com/rpact,
     commit 1d81a55e; expected values of ``getDesignGroupSequential`` / ``getDesignInverseNormal``
     and ``getDesignCharacteristics``, printed to 8 significant digits). Used:
     x1  asHSD gammaA = 0, alpha 0.03, t = (0.2, 0.4, 1): criticalValues 2.5121443 2.4228747
         2.0280392; y1 (power 0.86): shift 9.4594101, inflationFactor 1.0788327,
         rejectionProbabilities 0.12783451 0.21271713 0.51944835, averageSampleNumber1 0.83081135,
         averageSampleNumber01 1.0142116, averageSampleNumber0 1.0697705.
     x2  asHSD gammaA = -1, alpha 0.07, t = (0.2, 0.4, 1), non-binding futility -1.1063623
         -0.35992439: criticalValues 2.364813 2.1928805 1.5660474; y2 (power 0.86): shift
         7.1015942, inflationFactor 1.0869177, rejectionProbabilities 0.12038953 0.20856311
         0.53104735, futilityProbabilities 0.010777094 0.016077535, averageSampleNumber1
         0.82636428, averageSampleNumber01 0.916142, averageSampleNumber0 0.79471657.
     x6a asP alpha 0.13, t = (0.35, 0.7, 1), non-binding: 1.5446617 1.4828682 1.4620058;
     x6b the same with binding futility -1.2569879 -0.17011271: 1.5446617 1.4827312 1.4588737.
     x7a asOF alpha 0.13, t = (0.4, 0.75, 1), non-binding: 2.1280732 1.4368565 1.2468994;
         t = (0.4, 0.75, 0.85, 1): 2.1280732 1.4368565 1.422873 1.2970881.
     x7b the same, binding futility -0.84937686 0.34328914: 2.1280732 1.4362896 1.2218662;
         K = 4, binding futility -0.84247693 0.35276055 0.62744509: 2.1280732 1.4362706
         1.4203748 1.2576258.
     x0  classical O'Brien-Fleming ("OF"), K = 3, one-sided alpha 0.025: 3.4710914 2.4544323
         2.0040356.
     x9  Haybittle-Peto ("HP"), K = 4, alpha 0.025: bounds 3, 3, 3 and final 1.9827514.
     (rpact's ``averageSampleNumber`` is relative to the fixed design: expected fraction x
     inflation factor. ``shift`` = drift^2.)
[P2] rpact presentation, ROeS 2025 Graz (https://roes2025.rpact.com), summary of an asOF design,
     3 equally spaced looks, one-sided 2.5%, non-binding futility bounds 0, 0, power 80%:
     efficacy boundary 3.710 2.511 1.993; cumulative alpha spent 0.0001 0.0060 0.0250;
     cumulative power 0.0204 0.4371 0.8000; exit probability for efficacy under H1 0.0204 0.4167,
     for futility under H1 0.0480 0.0035 and under H0 0.5000 0.1250.
[P3] rpact presentation, Bayer 2026, "Design specification" (https://bayer.presentation.2026.
     rpact.com/parts/02_design_specification.html): asOF, one-sided 2.5%, power 80%,
     t = (0.3, 0.6, 1), futilityBounds c(0, -Inf), non-binding: inflation factor 1.0718,
     ASN H1 0.8826, ASN H01 0.8852, ASN H0 0.695.
[P4] Jennison & Turnbull (2000), Group Sequential Methods, ch. 2, tables of the classical
     constant-boundary tests (two-sided alpha = 0.05, equal group sizes): Pocock C_P(K, 0.05) =
     2.178, 2.289, 2.361, 2.413 for K = 2..5 (Pocock 1977, Biometrika 64:191, Table 1);
     O'Brien-Fleming C_B(K, 0.05) = 1.977, 2.004, 2.024, 2.040 (bounds C_B sqrt(K/k)). C_B(3) is
     also [P1] x0 (one-sided 0.025: 2.0040356).

[P5] rpact 3.3.4 (Debian r-cran-rpact 3.3.4-1, R 4.2.2), computed once for this file:
     ``getDesignGroupSequential(kMax = K, alpha = ALPHA, sided = SIDED, typeOfDesign = TYPE,
     gammaA = GAMMA, informationRates = FRACTIONS)$criticalValues`` (``gammaA`` for ``asHSD``
     only), printed with ``formatC(x, digits = 10, format = "f")``; the table RPACT_334 below
     lists (SIDED, ALPHA, TYPE, GAMMA, FRACTIONS) and the values. rpact's ``sided = 2`` takes
     ``alpha`` as the two-sided level and spends the function at ``alpha / 2`` on each side,
     like gsDesign's ``test.type = 2`` (whose ``alpha`` is the level of one side); gsDesign is
     not packaged for Debian and was not run.

Not found published (searched the rpact and gsDesign docs and test suites), now in [P5]: the
Lan-DeMets O'Brien-Fleming bounds for K = 2 (2.963, 1.969) and the Lan-DeMets Pocock-type bounds
for K = 2 (2.157, 2.201) and K = 3 (2.279, 2.295, 2.296) at one-sided 0.025. They are also checked
(together with the published ones) against an independent computation written here: adaptive
quadrature (scipy.integrate.quad) of the exact 1-D integrals of the canonical joint distribution
(for K = 3 via the Markov property: Z_1 and Z_3 are independent given Z_2), solved with brentq.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from simtrial.cli import main
from simtrial.errors import SimtrialError
from simtrial.stats.gsd import (SPENDING_KINDS, Boundaries, GsdError, apply_boundaries, boundaries,
                          crossing_probabilities, drift_for_power, exit_probabilities,
                          expected_fraction, inflation_factor, spending)

from .helpers import binom_tol

EQ2 = [0.5, 1.0]
EQ3 = [1 / 3, 2 / 3, 1.0]


# --------------------------------------------------------------------------------------------
# independent computation (adaptive quadrature, K <= 3)
# --------------------------------------------------------------------------------------------

def _quad(f, lo, hi):
    if not lo < hi:
        return 0.0
    return integrate.quad(f, lo, hi, epsabs=1e-14, epsrel=1e-12, limit=200)[0]


def indep_exit(fr, upper, lower, drift=0.0):
    """(P_up, P_lo) per look by adaptive quadrature; K <= 3; Brownian-motion representation."""
    fr = list(fr)
    k_max = len(fr)
    assert k_max <= 3
    n = stats.norm
    sq = [math.sqrt(t) for t in fr]
    out_up, out_lo = [], []
    m1 = drift * sq[0]
    out_up.append(n.sf(upper[0] - m1))
    out_lo.append(n.cdf(lower[0] - m1))
    if k_max >= 2:
        d2 = fr[1] - fr[0]

        def cont1(z1):  # density of Z_1
            return n.pdf(z1 - m1)

        def up2(z1):
            return n.sf((upper[1] * sq[1] - z1 * sq[0] - drift * d2) / math.sqrt(d2))

        def lo2(z1):
            return n.cdf((lower[1] * sq[1] - z1 * sq[0] - drift * d2) / math.sqrt(d2))

        a1, b1 = max(lower[0], m1 - 12), min(upper[0], m1 + 12)
        out_up.append(_quad(lambda z: cont1(z) * up2(z), a1, b1))
        out_lo.append(_quad(lambda z: cont1(z) * lo2(z), a1, b1))
    if k_max == 3:
        d3 = fr[2] - fr[1]
        m2 = drift * sq[1]
        bridge_sd = math.sqrt(fr[0] * (fr[1] - fr[0]) / fr[1])

        def p1_given(z2):  # P(a1 < Z1 < b1 | Z2 = z2): Brownian bridge
            mu = z2 * sq[1] * fr[0] / fr[1]
            return (n.cdf((upper[0] * sq[0] - mu) / bridge_sd)
                    - n.cdf((lower[0] * sq[0] - mu) / bridge_sd))

        def up3(z2):
            return n.sf((upper[2] * sq[2] - z2 * sq[1] - drift * d3) / math.sqrt(d3))

        def lo3(z2):
            return n.cdf((lower[2] * sq[2] - z2 * sq[1] - drift * d3) / math.sqrt(d3))

        a2, b2 = max(lower[1], m2 - 12), min(upper[1], m2 + 12)
        out_up.append(_quad(lambda z: n.pdf(z - m2) * p1_given(z) * up3(z), a2, b2))
        out_lo.append(_quad(lambda z: n.pdf(z - m2) * p1_given(z) * lo3(z), a2, b2))
    return np.array(out_up), np.array(out_lo)


def indep_bounds(fr, cum_alpha):
    """One-sided bounds spending cum_alpha (no futility) by quadrature + brentq; K <= 3."""
    inc = np.diff(np.concatenate(([0.0], cum_alpha)))
    z = []
    for k in range(len(fr)):
        def g(b, k=k):
            upper = z + [b] + [math.inf] * (len(fr) - k - 1)
            return indep_exit(fr[: k + 1], upper[: k + 1], [-math.inf] * (k + 1))[0][k] - inc[k]
        z.append(optimize.brentq(g, -5, 10, xtol=1e-11))
    return np.array(z)


def brownian_z(n, fractions, drift, seed):
    """(n, K) z statistics of Brownian motion with drift observed at the fractions."""
    rng = np.random.default_rng(seed)
    t = np.asarray(fractions)
    dt = np.diff(np.concatenate(([0.0], t)))
    s = np.cumsum(rng.standard_normal((n, t.size)) * np.sqrt(dt) + drift * dt, axis=1)
    return s / np.sqrt(t)


# --------------------------------------------------------------------------------------------
# spending functions
# --------------------------------------------------------------------------------------------

def test_spending_formulas():
    t = np.array([0.0, 0.1, 0.25, 0.5, 0.8, 1.0])
    a = 0.025
    # 2 - 2 Phi(x) written as 2 (1 - Phi(x)) = 2 sf(x) to avoid cancellation in the reference
    obf = 2 * stats.norm.sf(stats.norm.ppf(1 - a / 2) / np.sqrt(np.maximum(t, 1e-300)))
    np.testing.assert_allclose(spending("obf", t, a), obf, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(spending("pocock", t, a), a * np.log(1 + (math.e - 1) * t),
                               rtol=1e-12)
    for g in (-4.0, -1.0, 1.0, 2.5):
        np.testing.assert_allclose(spending("hsd", t, a, g),
                                   a * (1 - np.exp(-g * t)) / (1 - np.exp(-g)), rtol=1e-12)
    np.testing.assert_allclose(spending("hsd", t, a, 0), a * t, rtol=1e-12)
    for kind, g in (("obf", None), ("pocock", None), ("hsd", -4.0), ("hsd", 0.0)):
        s = spending(kind, t, a, g)
        assert s[0] == 0.0 and s[-1] == pytest.approx(a, abs=1e-15)
        assert np.all(np.diff(s) > 0)
    # gamma -> 0 is continuous with the linear function
    assert spending("hsd", 0.3, a, 1e-9) == pytest.approx(a * 0.3, rel=1e-6)
    assert set(SPENDING_KINDS) == {"obf", "pocock", "hsd"}


def test_hsd_resembles_obf_and_pocock():
    # Hwang, Shih & DeCani (1990): gamma = -4 gives O'Brien-Fleming-like, gamma = 1 Pocock-like
    # boundaries. Sanity ordering on the bounds of 3 equally spaced looks.
    z = {name: np.array(boundaries(EQ3, **kw).z) for name, kw in {
        "obf": {"spending": "obf"}, "hsd-4": {"spending": "hsd", "gamma": -4},
        "hsd1": {"spending": "hsd", "gamma": 1}, "pocock": {"spending": "pocock"}}.items()}
    assert z["obf"][0] > z["hsd-4"][0] > z["hsd1"][0]
    assert z["obf"][-1] < z["hsd-4"][-1] < z["hsd1"][-1]
    assert np.all(np.diff(z["obf"]) < 0) and np.all(np.diff(z["hsd-4"]) < 0)
    assert np.max(np.abs(z["hsd1"] - z["pocock"])) < 0.02
    t = np.linspace(0, 1, 101)
    assert np.max(np.abs(spending("hsd", t, 0.025, 1) - spending("pocock", t, 0.025))) < 3e-4


# --------------------------------------------------------------------------------------------
# published bounds
# --------------------------------------------------------------------------------------------

RPACT_BOUNDS = {  # [P1]
    "x1-asHSD0": (dict(fractions=[0.2, 0.4, 1], alpha=0.03, spending="hsd", gamma=0),
                  [2.5121443, 2.4228747, 2.0280392]),
    "x2-asHSD-1": (dict(fractions=[0.2, 0.4, 1], alpha=0.07, spending="hsd", gamma=-1,
                        futility=[-1.1063623, -0.35992439]),
                   [2.364813, 2.1928805, 1.5660474]),
    "x6a-asP": (dict(fractions=[0.35, 0.7, 1], alpha=0.13, spending="pocock"),
                [1.5446617, 1.4828682, 1.4620058]),
    "x6b-asP-binding": (dict(fractions=[0.35, 0.7, 1], alpha=0.13, spending="pocock",
                             futility=[-1.2569879, -0.17011271], binding=True),
                        [1.5446617, 1.4827312, 1.4588737]),
    "x7a-asOF": (dict(fractions=[0.4, 0.75, 1], alpha=0.13, spending="obf",
                      futility=[-0.83725762, 0.35992547]),
                 [2.1280732, 1.4368565, 1.2468994]),
    "x7a-asOF-K4": (dict(fractions=[0.4, 0.75, 0.85, 1], alpha=0.13, spending="obf",
                         futility=[-0.82676531, 0.3743303, 0.65077266]),
                    [2.1280732, 1.4368565, 1.422873, 1.2970881]),
    "x7b-asOF-binding": (dict(fractions=[0.4, 0.75, 1], alpha=0.13, spending="obf",
                              futility=[-0.84937686, 0.34328914], binding=True),
                         [2.1280732, 1.4362896, 1.2218662]),
    "x7b-asOF-binding-K4": (dict(fractions=[0.4, 0.75, 0.85, 1], alpha=0.13, spending="obf",
                                 futility=[-0.84247693, 0.35276055, 0.62744509], binding=True),
                            [2.1280732, 1.4362706, 1.4203748, 1.2576258]),
}


@pytest.mark.parametrize("case", list(RPACT_BOUNDS))
def test_bounds_match_rpact(case):
    kw, expected = RPACT_BOUNDS[case]
    b = boundaries(**kw)
    # rpact prints 8 significant digits; agreement is ~1e-7
    np.testing.assert_allclose(b.z, expected, atol=1e-6)
    np.testing.assert_allclose(b.cumulative_alpha,
                               spending(kw["spending"], kw["fractions"], kw["alpha"],
                                        kw.get("gamma")), atol=1e-9)


# [P5]: (sides, alpha, rpact typeOfDesign, gammaA, informationRates) -> criticalValues
RPACT_334 = [
    (1, 0.025, "asOF", None, [0.5, 1], [2.9625880427, 1.9685956463]),
    (1, 0.025, "asOF", None, [1 / 3, 2 / 3, 1], [3.7103028733, 2.5114274845, 1.9930474833]),
    (1, 0.025, "asOF", None, [0.25, 0.5, 0.75, 1],
     [4.3326336460, 2.9631315991, 2.3590442762, 2.0140901431]),
    (1, 0.025, "asOF", None, [0.3, 1], [3.9285725426, 1.9602228776]),
    (1, 0.025, "asOF", None, [0.3, 0.7, 1], [3.9285725426, 2.4387423769, 2.0000085756]),
    (1, 0.025, "asOF", None, [0.2, 0.45, 0.8, 1],
     [4.8768849488, 3.1438483819, 2.2591945305, 2.0266396031]),
    (1, 0.025, "asP", None, [0.5, 1], [2.1569992183, 2.2009769753]),
    (1, 0.025, "asP", None, [1 / 3, 2 / 3, 1], [2.2794282389, 2.2949111387, 2.2959395871]),
    (1, 0.025, "asP", None, [0.25, 0.5, 0.75, 1],
     [2.3683277035, 2.3675242886, 2.3581683114, 2.3500359729]),
    (1, 0.025, "asP", None, [0.4, 1], [2.2238749605, 2.1651299372]),
    (1, 0.025, "asP", None, [0.3, 0.7, 1], [2.3118353038, 2.2583463565, 2.3061828837]),
    (1, 0.025, "asP", None, [0.15, 0.5, 0.6, 1],
     [2.5281690343, 2.2944113687, 2.4472380504, 2.2763010487]),
    (1, 0.025, "asHSD", -4, [0.5, 1], [2.7499659318, 1.9811314717]),
    (1, 0.025, "asHSD", -4, [0.2, 0.45, 0.8, 1],
     [3.2526684884, 2.8911436275, 2.3379509971, 2.0208781287]),
    (1, 0.025, "asHSD", -2, [1 / 3, 2 / 3, 1], [2.6775239534, 2.3854179308, 2.0637404248]),
    (1, 0.025, "asHSD", -2, [0.3, 0.7, 1], [2.7248123173, 2.3346345797, 2.0697204843]),
    (1, 0.025, "asHSD", 1, [0.25, 0.5, 0.75, 1],
     [2.3761025272, 2.3571322784, 2.3499011919, 2.3574685380]),
    (1, 0.025, "asHSD", 1, [0.6, 1], [2.1004591085, 2.2351207063]),
    (1, 0.025, "asHSD", 3, [0.3, 0.7, 1], [2.1541784930, 2.3050499633, 2.5736243948]),
    (2, 0.05, "asOF", None, [0.5, 1], [2.9625880427, 1.9685956463]),
    (2, 0.05, "asOF", None, [1 / 3, 2 / 3, 1], [3.7103028733, 2.5114274845, 1.9930474833]),
    (2, 0.05, "asOF", None, [0.25, 0.5, 0.75, 1],
     [4.3326336460, 2.9631315991, 2.3590442911, 2.0140901431]),
    (2, 0.05, "asOF", None, [0.3, 1], [3.9285725426, 1.9602228776]),
    (2, 0.05, "asOF", None, [0.3, 0.7, 1], [3.9285725426, 2.4387423769, 2.0000085756]),
    (2, 0.05, "asOF", None, [0.2, 0.45, 0.8, 1],
     [4.8768849488, 3.1438483819, 2.2591945305, 2.0266395882]),
    (2, 0.05, "asP", None, [0.5, 1], [2.1569992183, 2.2009769604]),
    (2, 0.05, "asP", None, [1 / 3, 2 / 3, 1], [2.2794282389, 2.2949111387, 2.2959383503]),
    (2, 0.05, "asP", None, [0.25, 0.5, 0.75, 1],
     [2.3683277035, 2.3675242886, 2.3581677452, 2.3500295356]),
    (2, 0.05, "asP", None, [0.4, 1], [2.2238749605, 2.1651296243]),
    (2, 0.05, "asP", None, [0.3, 0.7, 1], [2.3118353038, 2.2583463117, 2.3061803058]),
    (2, 0.05, "asP", None, [0.15, 0.5, 0.6, 1],
     [2.5281690343, 2.2944108024, 2.4472356662, 2.2762675807]),
    (2, 0.05, "asHSD", -4, [0.5, 1], [2.7499659318, 1.9811314717]),
    (2, 0.05, "asHSD", -4, [0.2, 0.45, 0.8, 1],
     [3.2526684884, 2.8911436275, 2.3379509673, 2.0208777115]),
    (2, 0.05, "asHSD", -2, [1 / 3, 2 / 3, 1], [2.6775239534, 2.3854179308, 2.0637402013]),
    (2, 0.05, "asHSD", -2, [0.3, 0.7, 1], [2.7248123173, 2.3346345797, 2.0697200522]),
    (2, 0.05, "asHSD", 1, [0.25, 0.5, 0.75, 1],
     [2.3761025272, 2.3571322784, 2.3499006405, 2.3574623987]),
    (2, 0.05, "asHSD", 1, [0.6, 1], [2.1004591085, 2.2351207063]),
    (2, 0.05, "asHSD", 3, [0.3, 0.7, 1], [2.1541784930, 2.3050498441, 2.5736211315]),
    (2, 0.1, "asOF", None, [0.5, 1], [2.5379876034, 1.6621065661]),
    (2, 0.1, "asOF", None, [1 / 3, 2 / 3, 1], [3.2001019716, 2.1408152357, 1.6948119327]),
    (2, 0.1, "asOF", None, [0.25, 0.5, 0.75, 1],
     [3.7495518372, 2.5399425700, 2.0160698518, 1.7201770470]),
    (2, 0.1, "asOF", None, [0.3, 1], [3.3929513547, 1.6459894851]),
    (2, 0.1, "asOF", None, [0.3, 0.7, 1], [3.3929513547, 2.0741780475, 1.7026953921]),
    (2, 0.1, "asOF", None, [0.2, 0.45, 0.8, 1],
     [4.2291950593, 2.6990843788, 1.9217063263, 1.7329000160]),
    (2, 0.1, "asP", None, [0.5, 1], [1.8662138601, 1.8848747537]),
    (2, 0.1, "asP", None, [1 / 3, 2 / 3, 1], [2.0020138448, 1.9937966987, 1.9802874401]),
    (2, 0.1, "asP", None, [0.25, 0.5, 0.75, 1],
     [2.0999026916, 2.0767117813, 2.0531550720, 2.0347124115]),
    (2, 0.1, "asP", None, [0.4, 1], [1.9405431425, 1.8509154841]),
    (2, 0.1, "asP", None, [0.3, 0.7, 1], [2.0377641805, 1.9566906616, 1.9901083037]),
    (2, 0.1, "asP", None, [0.15, 0.5, 0.6, 1],
     [2.2745685126, 2.0061688200, 2.1479748562, 1.9627979919]),
    (2, 0.1, "asHSD", -4, [0.5, 1], [2.5144952095, 1.6638139561]),
    (2, 0.1, "asHSD", -4, [0.2, 0.45, 0.8, 1],
     [3.0502465369, 2.6615816876, 2.0597729310, 1.6992591098]),
    (2, 0.1, "asHSD", -2, [1 / 3, 2 / 3, 1], [2.4364136699, 2.1076895818, 1.7429162338]),
    (2, 0.1, "asHSD", -2, [0.3, 0.7, 1], [2.4874125168, 2.0539738461, 1.7483792827]),
    (2, 0.1, "asHSD", 1, [0.25, 0.5, 0.75, 1],
     [2.1084370687, 2.0658834055, 2.0441248342, 2.0421298221]),
    (2, 0.1, "asHSD", 1, [0.6, 1], [1.8030717431, 1.9170359150]),
    (2, 0.1, "asHSD", 3, [0.3, 0.7, 1], [1.8630704602, 1.9987063780, 2.2683859244]),
]
_RPACT_KIND = {"asOF": "obf", "asP": "pocock", "asHSD": "hsd"}


@pytest.mark.parametrize("sides,alpha,design,gamma,fr,expected", RPACT_334,
                         ids=[f"{r[0]}sided-{r[1]:g}-{r[2]}{'' if r[3] is None else r[3]}-"
                              f"{'-'.join(f'{t:.2g}' for t in r[4])}" for r in RPACT_334])
def test_bounds_match_rpact_334_one_and_two_sided(sides, alpha, design, gamma, fr, expected):
    # [P5]: O'Brien-Fleming-, Pocock-type and Hwang-Shih-DeCani spending, 2-4 looks, equal and
    # unequal fractions; two-sided designs spend the function at alpha / 2 on each side
    b = boundaries(fr, alpha=alpha, sides=sides, spending=_RPACT_KIND[design], gamma=gamma)
    np.testing.assert_allclose(b.z, expected, atol=1e-6)


def test_two_sided_obf_is_rpacts_not_the_total_alpha_through_the_one_sided_function():
    # issue 12 item 2: fractions 0.3, 0.7, 1, two-sided 0.05. rpact 3.3.4 [P5] gives 3.9285725426,
    # 2.4387423769, 2.0000085756; spending the total 0.05 through the one-sided function gave
    # 3.578, 2.345, 2.024
    b = boundaries([0.3, 0.7, 1], alpha=0.05, sides=2, spending="obf")
    np.testing.assert_allclose(b.z, [3.9285725426, 2.4387423769, 2.0000085756], atol=1e-6)
    np.testing.assert_allclose(b.cumulative_alpha, 2 * spending("obf", b.fractions, 0.025),
                               atol=1e-10)
    np.testing.assert_allclose(b.cumulative_alpha,
                               spending("obf", b.fractions, 0.05, sides=2), atol=1e-10)
    assert abs(b.z[0] - 3.578) > 0.3


def test_obf_three_looks_matches_rpact_presentation():
    # [P2]: 3.710, 2.511, 1.993 and cumulative alpha 0.0001, 0.0060, 0.0250
    b = boundaries(EQ3)
    np.testing.assert_allclose(b.z, [3.710, 2.511, 1.993], atol=1e-3)
    np.testing.assert_allclose(b.cumulative_alpha, [0.0001, 0.0060, 0.0250], atol=5e-5)


LD_ROUNDED = {  # (kind, fractions) -> bounds at one-sided 0.025, rounded to 3 decimals
    ("obf", 2): [2.963, 1.969],          # [P5]; independent check below
    ("obf", 3): [3.710, 2.511, 1.993],   # [P2]
    ("pocock", 2): [2.157, 2.201],       # [P5]; independent check below
    ("pocock", 3): [2.279, 2.295, 2.296],  # [P5]; independent check below
}


@pytest.mark.parametrize("kind,k", list(LD_ROUNDED))
def test_lan_demets_bounds_against_independent_quadrature(kind, k):
    fr = EQ2 if k == 2 else EQ3
    b = boundaries(fr, spending=kind)
    ref = indep_bounds(fr, spending(kind, fr, 0.025))
    np.testing.assert_allclose(b.z, ref, atol=1e-6)
    np.testing.assert_allclose(b.z, LD_ROUNDED[(kind, k)], atol=1e-3)


@pytest.mark.parametrize("kind,gamma,fr", [("obf", None, [0.2, 0.55, 1]),
                                           ("hsd", -2.0, [0.4, 1]),
                                           ("pocock", None, [0.1, 0.3, 1])])
def test_unequal_spacing_against_independent_quadrature(kind, gamma, fr):
    b = boundaries(fr, alpha=0.025, spending=kind, gamma=gamma)
    np.testing.assert_allclose(b.z, indep_bounds(fr, spending(kind, fr, 0.025, gamma)),
                               atol=1e-6)


@pytest.mark.parametrize("drift", [0.0, 1.5, 3.0, -1.0])
def test_exit_probabilities_accuracy(drift):
    # the engine's crossing probabilities agree with adaptive quadrature to 1e-8
    for fr, up, lo in (([1 / 3, 2 / 3, 1], [3.71, 2.51, 1.99], [-math.inf] * 3),
                       ([0.3, 0.6, 1], [2.8, 2.3, 2.0], [0.0, 0.5, 1.9]),
                       ([0.25, 0.5, 1], [2.5, 2.5, 2.5], [-2.5, -2.5, -2.5]),
                       ([0.5, 1], [1.9, 1.9], [-0.5, 1.0])):
        p_up, p_lo = exit_probabilities(fr, up, lo, drift=drift)
        r_up, r_lo = indep_exit(fr, up, lo, drift)
        np.testing.assert_allclose(p_up, r_up, atol=1e-8)
        np.testing.assert_allclose(p_lo, r_lo, atol=1e-8)


# --------------------------------------------------------------------------------------------
# classical constant boundaries (J&T ch. 2) with the same engine
# --------------------------------------------------------------------------------------------

def _solve_constant(k, alpha, shape, sides):
    fr = np.arange(1, k + 1) / k

    def spent(c):
        b = c * shape(k)
        up, lo = exit_probabilities(fr, b, -b if sides == 2 else None)
        return up.sum() + lo.sum() - alpha
    return optimize.brentq(spent, 1.0, 5.0, xtol=1e-12)


def _pocock_shape(k):
    return np.ones(k)


def _obf_shape(k):
    return np.sqrt(k / np.arange(1, k + 1))


@pytest.mark.parametrize("k,c_p,c_b", [(2, 2.178, 1.977), (3, 2.289, 2.004), (4, 2.361, 2.024),
                                       (5, 2.413, 2.040)])
def test_classical_pocock_and_obrien_fleming_constants(k, c_p, c_b):
    # [P4]: two-sided alpha 0.05, continuation region (-c_k, c_k)
    assert _solve_constant(k, 0.05, _pocock_shape, 2) == pytest.approx(c_p, abs=1e-3)
    assert _solve_constant(k, 0.05, _obf_shape, 2) == pytest.approx(c_b, abs=1e-3)


def test_classical_obf_one_sided_and_haybittle_peto_match_rpact():
    # [P1] x0: one-sided 0.025, 3 looks: 3.4710914 2.4544323 2.0040356
    c = _solve_constant(3, 0.025, _obf_shape, 1)
    np.testing.assert_allclose(c * _obf_shape(3), [3.4710914, 2.4544323, 2.0040356], atol=1e-6)
    # [P1] x9: Haybittle-Peto, 4 looks, interim bounds 3: final bound 1.9827514
    fr = [0.25, 0.5, 0.75, 1]
    last = optimize.brentq(lambda c: exit_probabilities(fr, [3, 3, 3, c])[0].sum() - 0.025,
                           1.0, 3.0, xtol=1e-12)
    assert last == pytest.approx(1.9827514, abs=1e-6)


# --------------------------------------------------------------------------------------------
# design characteristics (power, futility, expected information)
# --------------------------------------------------------------------------------------------

def test_characteristics_match_rpact_without_futility():
    # [P1] x1 / y1
    b = boundaries([0.2, 0.4, 1], alpha=0.03, spending="hsd", gamma=0)
    d = drift_for_power(b, 0.86)
    assert d ** 2 == pytest.approx(9.4594101, rel=1e-6)
    inf = inflation_factor(b, 0.86)
    assert inf == pytest.approx(1.0788327, rel=1e-6)
    cp = crossing_probabilities(b, d)
    np.testing.assert_allclose(cp["efficacy"], [0.12783451, 0.21271713, 0.51944835], atol=1e-7)
    assert cp["power"] == pytest.approx(0.86, abs=1e-10)
    assert expected_fraction(b, d) * inf == pytest.approx(0.83081135, abs=1e-6)
    assert expected_fraction(b, d / 2) * inf == pytest.approx(1.0142116, abs=1e-6)
    assert expected_fraction(b, 0.0) * inf == pytest.approx(1.0697705, abs=1e-6)


def test_characteristics_match_rpact_with_nonbinding_futility():
    # [P1] x2 / y2: power, futility stops obeyed
    b = boundaries([0.2, 0.4, 1], alpha=0.07, spending="hsd", gamma=-1,
                   futility=[-1.1063623, -0.35992439])
    d = drift_for_power(b, 0.86)
    assert d ** 2 == pytest.approx(7.1015942, rel=1e-6)
    inf = inflation_factor(b, 0.86)
    assert inf == pytest.approx(1.0869177, rel=1e-6)
    cp = crossing_probabilities(b, d)
    np.testing.assert_allclose(cp["efficacy"], [0.12038953, 0.20856311, 0.53104735], atol=1e-7)
    np.testing.assert_allclose(cp["futility"][:2], [0.010777094, 0.016077535], atol=1e-8)
    assert cp["futility"][2] == 0.0 and cp["lower"] == [0.0, 0.0, 0.0]
    assert cp["stop"][2] == pytest.approx(1 - sum(cp["efficacy"][:2]) - sum(cp["futility"][:2]))
    assert cp["expected_fraction"] * inf == pytest.approx(0.82636428, abs=1e-6)
    assert expected_fraction(b, d / 2) * inf == pytest.approx(0.916142, abs=1e-6)
    assert expected_fraction(b, 0.0) * inf == pytest.approx(0.79471657, abs=1e-6)


def test_characteristics_match_rpact_presentations():
    # [P2]: 3 equal looks, asOF, futility 0, 0 (non-binding), power 80%
    b = boundaries(EQ3, futility=[0, 0])
    d = drift_for_power(b, 0.80)
    cp1 = crossing_probabilities(b, d)
    np.testing.assert_allclose(cp1["efficacy"][:2], [0.0204, 0.4167], atol=6e-5)
    np.testing.assert_allclose(np.cumsum(cp1["efficacy"]), [0.0204, 0.4371, 0.8000], atol=6e-5)
    np.testing.assert_allclose(cp1["futility"][:2], [0.0480, 0.0035], atol=6e-5)
    cp0 = crossing_probabilities(b, 0.0)
    np.testing.assert_allclose(cp0["futility"][:2], [0.5000, 0.1250], atol=6e-5)
    np.testing.assert_allclose(cp0["efficacy"][:2], [0.0001, 0.0059], atol=6e-5)
    # [P3]: t = (0.3, 0.6, 1), futility (0, -Inf): IF 1.0718, ASN H1 0.8826, H01 0.8852, H0 0.695
    b = boundaries([0.3, 0.6, 1], futility=[0, -math.inf])
    inf = inflation_factor(b, 0.8)
    d = drift_for_power(b, 0.8)
    assert inf == pytest.approx(1.0718, abs=6e-5)
    assert expected_fraction(b, d) * inf == pytest.approx(0.8826, abs=6e-5)
    assert expected_fraction(b, d / 2) * inf == pytest.approx(0.8852, abs=6e-5)
    assert expected_fraction(b, 0.0) * inf == pytest.approx(0.695, abs=6e-4)


def test_fixed_design_and_inflation():
    # K = 1: the fixed-design critical value z_{1-alpha}; inflation factor 1
    b = boundaries([1.0])
    assert b.z[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-10)
    assert b.cumulative_alpha[0] == pytest.approx(0.025, abs=1e-12)
    assert inflation_factor(b, 0.9) == pytest.approx(1.0, abs=1e-9)
    assert drift_for_power(b, 0.9) == pytest.approx(stats.norm.ppf(0.975) + stats.norm.ppf(0.9),
                                                    abs=1e-9)
    b2 = boundaries([1.0], alpha=0.05, sides=2, spending="pocock")
    assert b2.z[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-10)
    assert expected_fraction(b, 3.0) == 1.0
    # group-sequential designs need more information than the fixed design, OBF the least
    assert 1.0 < inflation_factor(boundaries(EQ3), 0.9) < inflation_factor(
        boundaries(EQ3, spending="pocock"), 0.9)


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------

DESIGNS = [
    dict(fractions=EQ3),
    dict(fractions=[0.25, 0.5, 0.75, 1], spending="pocock"),
    dict(fractions=[0.1, 0.35, 0.5, 0.9, 1], spending="hsd", gamma=-4),
    dict(fractions=list(np.arange(1, 11) / 10), spending="hsd", gamma=2, alpha=0.01),
    dict(fractions=[0.3, 0.7, 1], alpha=0.05, sides=2),
    dict(fractions=[0.5, 0.75, 1], alpha=0.1, sides=2, spending="pocock"),
    dict(fractions=EQ3, futility=[0.0, 0.5]),
]


@pytest.mark.parametrize("kw", DESIGNS, ids=[str(i) for i in range(len(DESIGNS))])
def test_cumulative_alpha_equals_spending(kw):
    b = boundaries(**kw)
    target = spending(kw.get("spending", "obf"), kw["fractions"], kw.get("alpha", 0.025),
                      kw.get("gamma"), kw.get("sides", 1))
    np.testing.assert_allclose(b.cumulative_alpha, target, atol=1e-6)
    np.testing.assert_allclose(np.cumsum(b.incremental_alpha), b.cumulative_alpha, atol=1e-15)
    np.testing.assert_allclose(b.nominal_p, stats.norm.sf(b.z), rtol=1e-12)
    # the first bound is explicit: Phi^-1(1 - alpha(t_1) / sides)
    assert b.z[0] == pytest.approx(stats.norm.isf(target[0] / b.sides), abs=1e-8)
    # recomputed through the public engine: same crossing probabilities
    z = np.array(b.z)
    up, lo = exit_probabilities(b.fractions, z, -z if b.sides == 2 else None)
    np.testing.assert_allclose(np.cumsum(up + lo), target, atol=1e-6)
    if b.sides == 2:
        np.testing.assert_allclose(up, lo, atol=1e-12)  # symmetric under H0


def test_two_sided_obf_first_bound_is_the_one_sided_bound_at_half_alpha():
    # two-sided: each side spends alpha_f(t; alpha / 2) = 2 - 2 Phi(z_{alpha/4} / sqrt(t)), so
    # z_1 = Phi^-1(1 - alpha_f(t_1; alpha / 2)) exactly, the first bound of the one-sided design
    # at alpha / 2 (rpact, gsDesign)
    b = boundaries([0.3, 1], alpha=0.05, sides=2)
    side = 2 * stats.norm.sf(stats.norm.isf(0.0125) / math.sqrt(0.3))
    assert b.z[0] == pytest.approx(stats.norm.isf(side), abs=1e-9)
    assert b.z[0] == pytest.approx(boundaries([0.3, 1], alpha=0.025).z[0], abs=1e-12)


def test_two_sided_spending_is_twice_the_one_sided_at_half_alpha():
    t = np.array([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])
    for kind, g in (("obf", None), ("pocock", None), ("hsd", -4.0), ("hsd", 1.0)):
        two = spending(kind, t, 0.05, g, sides=2)
        np.testing.assert_allclose(two, 2 * spending(kind, t, 0.025, g), rtol=1e-14, atol=0)
        assert two[-1] == pytest.approx(0.05, abs=1e-15)
        if kind != "obf":   # proportional to alpha: the same as the total through the function
            np.testing.assert_allclose(two, spending(kind, t, 0.05, g), rtol=1e-14, atol=0)
    # O'Brien-Fleming type: less at the interim looks than the total through the function
    assert np.all(spending("obf", t[1:-1], 0.05, sides=2) < spending("obf", t[1:-1], 0.05))
    np.testing.assert_array_equal(spending("obf", t, 0.025, sides=1), spending("obf", t, 0.025))
    with pytest.raises(GsdError, match="sides = 3 must be 1 or 2"):
        spending("obf", t, 0.05, sides=3)


def test_binding_futility_lowers_efficacy_bounds():
    fut = [0.0, 0.5, 1.0]
    fr = [0.25, 0.5, 0.75, 1]
    nb = boundaries(fr, futility=fut)
    bd = boundaries(fr, futility=fut, binding=True)
    assert nb.z == boundaries(fr).z  # non-binding ignores futility
    assert bd.z[0] == pytest.approx(nb.z[0], abs=1e-12)
    assert all(b < n - 1e-4 for b, n in zip(bd.z[1:], nb.z[1:]))
    np.testing.assert_allclose(bd.cumulative_alpha, spending("obf", fr, 0.025), atol=1e-9)
    # non-binding with futility obeyed: type I error below alpha; binding obeyed: exactly alpha;
    # binding bounds with futility ignored: above alpha
    assert crossing_probabilities(nb, 0.0)["power"] < 0.025 - 1e-3
    assert crossing_probabilities(bd, 0.0)["power"] == pytest.approx(0.025, abs=1e-9)
    z = np.array(bd.z)
    assert exit_probabilities(fr, z)[0].sum() > 0.025 + 1e-4
    assert bd.binding and not nb.binding
    assert nb.futility[:3] == (0.0, 0.5, 1.0) and math.isnan(nb.futility[3])


def test_futility_of_length_k_and_minus_inf():
    a = boundaries(EQ3, futility=[0.0, 0.5])
    b = boundaries(EQ3, futility=[0.0, 0.5, 99.0])  # the last value is ignored
    assert a.z == b.z and a.futility[:2] == b.futility[:2] and math.isnan(b.futility[2])
    c = boundaries(EQ3, futility=[-math.inf, 0.5], binding=True)
    d = boundaries(EQ3, futility=[-1e9, 0.5], binding=True)
    np.testing.assert_allclose(c.z, d.z, atol=1e-9)
    assert crossing_probabilities(c, 0.0)["futility"][0] == 0.0


def test_boundaries_is_frozen_and_json_able():
    b = boundaries(EQ3, futility=[0, -math.inf])
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.alpha = 0.05  # type: ignore[misc]
    d = b.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    for key in ("fractions", "z", "nominal_p", "cumulative_alpha", "incremental_alpha",
                "futility", "spending", "gamma", "alpha", "sides", "binding"):
        assert key in back
    assert back["futility"] == [0.0, "-inf", None]
    assert back["z"] == list(b.z) and back["gamma"] is None and back["sides"] == 1
    assert isinstance(b, Boundaries) and b.looks == 3
    assert b.summary().endswith("3 looks, non-binding futility")
    assert boundaries(EQ3, futility=[0, 0], binding=True).summary().endswith(", binding futility")
    assert len(b.table().splitlines()) == 4


# --------------------------------------------------------------------------------------------
# simulation: Brownian-motion z statistics
# --------------------------------------------------------------------------------------------

N_SIM = 200_000


def test_simulated_null_rejection_one_sided():
    b = boundaries([0.25, 0.5, 0.75, 1])
    z = brownian_z(N_SIM, b.fractions, 0.0, seed=20240601)
    reject, stop_look, stopped_for = apply_boundaries(z, b)
    rate = reject.mean()
    assert abs(rate - 0.025) <= binom_tol(0.025, N_SIM)
    assert np.array_equal(reject, stopped_for == 1)
    for k, inc in enumerate(b.incremental_alpha):
        p = np.mean(reject & (stop_look == k))
        assert abs(p - inc) <= binom_tol(inc, N_SIM), (k, p, inc)
    assert np.all(stop_look[~reject] == 3) and set(np.unique(stopped_for)) == {0, 1}


@pytest.mark.parametrize("spending_kind", ["pocock", "obf"])
def test_simulated_null_rejection_two_sided(spending_kind):
    b = boundaries(EQ3, alpha=0.05, sides=2, spending=spending_kind)
    z = brownian_z(N_SIM, b.fractions, 0.0, seed=7)
    reject, look, _ = apply_boundaries(z, b)
    assert abs(reject.mean() - 0.05) <= binom_tol(0.05, N_SIM)
    # efficacy in either direction, alpha / 2 each, and per look as spent
    z_stop = z[np.arange(N_SIM), look]
    for side in (z_stop > 0, z_stop < 0):
        assert abs(np.mean(reject & side) - 0.025) <= binom_tol(0.025, N_SIM)
        for k, inc in enumerate(b.incremental_alpha):
            p = np.mean(reject & side & (look == k))
            assert abs(p - inc / 2) <= binom_tol(inc / 2, N_SIM), (k, p, inc)


def test_simulated_null_with_futility():
    fr = [0.3, 0.6, 1]
    fut = [0.0, 0.5]
    z = brownian_z(N_SIM, fr, 0.0, seed=11)
    tol = binom_tol(0.025, N_SIM)
    # binding bounds, futility obeyed: at most alpha (and exactly alpha by design)
    bd = boundaries(fr, futility=fut, binding=True)
    rej_b, _, why_b = apply_boundaries(z, bd)
    assert rej_b.mean() <= 0.025 + tol
    assert abs(rej_b.mean() - 0.025) <= tol
    # non-binding bounds, futility obeyed: the integration's (smaller) type I error
    nb = boundaries(fr, futility=fut)
    rej_n, look_n, why_n = apply_boundaries(z, nb)
    p0 = crossing_probabilities(nb, 0.0)
    assert abs(rej_n.mean() - p0["power"]) <= binom_tol(p0["power"], N_SIM)
    assert rej_n.mean() <= 0.025 + tol
    for k in range(2):
        p = np.mean((why_n == 2) & (look_n == k))
        assert abs(p - p0["futility"][k]) <= binom_tol(p0["futility"][k], N_SIM)
    assert np.all(look_n[why_n == 0] == 2)


@pytest.mark.parametrize("kw,drift", [(dict(fractions=[0.3, 0.6, 1], futility=[0.0, 0.5]), 2.8),
                                      (dict(fractions=[0.25, 0.5, 1], spending="pocock",
                                            alpha=0.05, sides=2), -2.0)])
def test_crossing_probabilities_agree_with_simulation(kw, drift):
    b = boundaries(**kw)
    cp = crossing_probabilities(b, drift)
    z = brownian_z(N_SIM, b.fractions, drift, seed=99)
    reject, look, why = apply_boundaries(z, b)
    zk = z[np.arange(N_SIM), look]
    for k in range(b.looks):
        at_k = look == k
        sim_up = np.mean(at_k & (why == 1) & (zk > 0))
        sim_lo = np.mean(at_k & (why == 1) & (zk < 0))
        sim_fut = np.mean(at_k & (why == 2))
        for sim, ref in ((sim_up, cp["efficacy"][k]), (sim_lo, cp["lower"][k]),
                         (sim_fut, cp["futility"][k]), (np.mean(at_k), cp["stop"][k])):
            assert abs(sim - ref) <= binom_tol(ref, N_SIM), (k, sim, ref)
    frac = np.asarray(b.fractions)[look]
    assert abs(frac.mean() - cp["expected_fraction"]) <= 3 * frac.std() / math.sqrt(N_SIM)
    assert abs(reject.mean() - cp["reject"]) <= binom_tol(cp["reject"], N_SIM)


def test_apply_boundaries_rules():
    b = boundaries(EQ3, futility=[0.0, 0.5])
    z1, z2, z3 = b.z
    z = np.array([
        [z1 + 0.1, -5.0, -5.0],   # efficacy at look 1
        [1.0, z2, 0.0],           # efficacy at look 2 (z == bound rejects)
        [-0.1, 9.0, 9.0],         # futility at look 1 even though later z is large
        [1.0, 0.5, 9.0],          # futility at look 2 (z == futility bound stops)
        [1.0, 1.0, z3 - 1e-9],    # ran to the end, no rejection
        [1.0, 1.0, z3],           # rejection at the final look
    ])
    reject, look, why = apply_boundaries(z, b)
    assert reject.tolist() == [True, True, False, False, False, True]
    assert look.tolist() == [0, 1, 0, 1, 2, 2]
    assert why.tolist() == [1, 1, 2, 2, 0, 1]
    # better = "lower": negated statistics give the same decisions
    r2, l2, w2 = apply_boundaries(-z, b, better="lower")
    assert np.array_equal(r2, reject) and np.array_equal(l2, look) and np.array_equal(w2, why)
    # without futility bounds, no futility stops
    r3, l3, w3 = apply_boundaries(z, boundaries(EQ3))
    assert 2 not in w3.tolist() and r3.tolist()[2] is True
    # two-sided: |z| >= bound in either direction
    b2 = boundaries(EQ3, alpha=0.05, sides=2)
    r4, l4, _ = apply_boundaries(np.array([[-b2.z[0], 0, 0], [0, 0, b2.z[2] - 0.01]]), b2)
    assert r4.tolist() == [True, False] and l4.tolist() == [0, 2]
    assert reject.dtype == bool and look.dtype.kind == "i" and why.dtype.kind == "i"


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

BAD_CALLS = {
    "not-increasing": (lambda: boundaries([0.5, 0.4, 1]), ["fractions = [0.5, 0.4, 1]",
                                                           "strictly increasing"]),
    "not-ending-at-1": (lambda: boundaries([0.5, 0.9]), ["must end at 1"]),
    "fraction-zero": (lambda: boundaries([0, 1]), ["must be in (0, 1]"]),
    "empty": (lambda: boundaries([]), ["at least one value"]),
    "text-fractions": (lambda: boundaries("0.5,1"), ["sequence of numbers"]),
    "alpha": (lambda: boundaries(EQ2, alpha=0.6), ["alpha = 0.6", "(0, 0.5)"]),
    "alpha-type": (lambda: boundaries(EQ2, alpha="x"), ["alpha = 'x'"]),
    "sides": (lambda: boundaries(EQ2, sides=3), ["sides = 3", "1 or 2"]),
    "spending": (lambda: boundaries(EQ2, spending="foo"), ['spending = "foo"', '"obf"']),
    "gamma-missing": (lambda: boundaries(EQ2, spending="hsd"), ["gamma is required"]),
    "gamma-extra": (lambda: boundaries(EQ2, gamma=1), ["gamma = 1 is only used with"]),
    "futility-length": (lambda: boundaries(EQ3, futility=[0.0]), ["futility has 1 values"]),
    "futility-two-sided": (lambda: boundaries(EQ3, sides=2, alpha=0.05, futility=[0, 0]),
                           ["only supported with sides = 1"]),
    "futility-one-look": (lambda: boundaries([1.0], futility=[0.0]), ["at least 2 looks"]),
    "futility-above-efficacy": (lambda: boundaries(EQ3, futility=[4.0, 0.0]),
                                ["futility[0] = 4 must be below the efficacy bound"]),
    "futility-nan": (lambda: boundaries(EQ3, futility=[math.nan, 0.0]), ["futility[0] = nan"]),
    "binding-too-strict": (lambda: boundaries(EQ3, futility=[3.0, 3.0], binding=True),
                           ["cannot spend"]),
    "spending-t": (lambda: spending("obf", [0.5, 1.2], 0.025), ["must be in [0, 1]"]),
    "apply-shape": (lambda: apply_boundaries(np.zeros((5, 2)), boundaries(EQ3)),
                    ["z has shape (5, 2)", "(trials, 3)"]),
    "apply-better": (lambda: apply_boundaries(np.zeros((5, 3)), boundaries(EQ3), better="up"),
                     ['better = "up"']),
    "apply-nan": (lambda: apply_boundaries(np.full((2, 3), np.nan), boundaries(EQ3)), ["nan"]),
    "power": (lambda: drift_for_power(boundaries(EQ3), 0.01), ["power = 0.01 must be in"]),
    "bounds-type": (lambda: crossing_probabilities({"z": [2]}, 1.0), ["Boundaries object"]),
    "exit-lengths": (lambda: exit_probabilities(EQ3, [2, 2]), ["upper has 2 values"]),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_is_one_line_gsd_error(case):
    call, fragments = BAD_CALLS[case]
    with pytest.raises(GsdError) as info:
        call()
    msg = str(info.value)
    assert isinstance(info.value, SimtrialError)
    assert msg.startswith("gsd error: ") and "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["boundaries", *[str(a) for a in argv]])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_json(capsys):
    rc, out, err = run_cli(capsys, "--looks", "3", "--json")
    assert rc == 0 and err == ""
    d = json.loads(out)
    np.testing.assert_allclose(d["z"], [3.710, 2.511, 1.993], atol=1e-3)  # [P2]
    np.testing.assert_allclose(d["cumulative_alpha"], spending("obf", EQ3, 0.025), atol=1e-9)
    assert d["fractions"] == pytest.approx(EQ3)
    assert d["spending"] == "obf" and d["alpha"] == 0.025 and d["sides"] == 1
    assert d["binding"] is False and d["futility"] is None and d["gamma"] is None
    assert len(d["nominal_p"]) == 3 and len(d["incremental_alpha"]) == 3


def test_cli_json_options(capsys):
    rc, out, _ = run_cli(capsys, "--fractions", "0.35,0.7,1", "--spending", "pocock", "--alpha",
                         "0.13", "--futility", "-1.2569879,-0.17011271", "--binding", "--json")
    assert rc == 0
    d = json.loads(out)
    np.testing.assert_allclose(d["z"], [1.5446617, 1.4827312, 1.4588737], atol=1e-6)  # [P1] x6b
    assert d["futility"] == [-1.2569879, -0.17011271, None] and d["binding"] is True
    rc, out, _ = run_cli(capsys, "--looks", "2", "--spending", "hsd", "--gamma", "-4", "--sides",
                         "2", "--alpha", "0.05", "--json")
    d = json.loads(out)
    assert rc == 0 and d["gamma"] == -4.0 and d["sides"] == 2
    assert d["cumulative_alpha"][-1] == pytest.approx(0.05, abs=1e-9)


def test_cli_table(capsys):
    rc, out, err = run_cli(capsys, "--looks", "3", "--futility", "0,0.5")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert "O'Brien-Fleming" in lines[0] and "non-binding futility" in lines[0]
    assert lines[1].split() == ["look", "fraction", "z", "nominal", "p", "cum.", "alpha",
                                "futility"]
    assert lines[2].split()[:3] == ["1", "0.3333", "3.7103"] and lines[2].split()[-1] == "0.0000"
    assert lines[4].split()[-1] == "-" and len(lines) == 5
    assert len({len(x) for x in lines[1:]}) == 1  # aligned


BAD_CLI = {
    "looks-0": (["--looks", "0"], ["--looks = 0", ">= 1"]),
    "looks-abc": (["--looks", "abc"], ["--looks = 'abc'"]),
    "looks-too-many": (["--looks", "101"], ["--looks = 101 must be <= 100"]),
    "no-looks": ([], ["needs --looks K or --fractions"]),
    "fractions-length": (["--looks", "2", "--fractions", "0.3,0.6,1"],
                         ["--fractions = '0.3,0.6,1' has 3 values but --looks = 2"]),
    "fractions-not-increasing": (["--looks", "3", "--fractions", "0.6,0.5,1"],
                                 ["--fractions = [0.6, 0.5, 1]", "strictly increasing"]),
    "fractions-text": (["--fractions", "0.5,x"], ["--fractions = '0.5,x'", "comma-separated"]),
    "fractions-end": (["--fractions", "0.5,0.8"], ["--fractions = [0.5, 0.8] must end at 1"]),
    "spending-foo": (["--looks", "2", "--spending", "foo"], ["--spending", "invalid choice",
                                                             "'foo'"]),
    "gamma-missing": (["--looks", "2", "--spending", "hsd"], ["--gamma is required"]),
    "gamma-not-hsd": (["--looks", "2", "--gamma", "1"], ["--gamma = 1 is only used with"]),
    "gamma-text": (["--looks", "2", "--spending", "hsd", "--gamma", "x"], ["--gamma = 'x'"]),
    "alpha-range": (["--looks", "2", "--alpha", "0.7"], ["--alpha = 0.7", "(0, 0.5)"]),
    "alpha-text": (["--looks", "2", "--alpha", "five"], ["--alpha = 'five'"]),
    "sides-3": (["--looks", "2", "--sides", "3"], ["--sides", "invalid choice"]),
    "futility-length": (["--looks", "4", "--futility", "0"], ["--futility has 1 values"]),
    "futility-text": (["--looks", "3", "--futility", "0,a"], ["--futility = '0,a'"]),
    "futility-two-sided": (["--looks", "3", "--sides", "2", "--futility", "0,0"],
                           ["--futility is only supported with --sides = 1"]),
    "futility-above-efficacy": (["--looks", "3", "--futility", "-1,3"],
                                ["--futility[1] = 3 must be below the efficacy bound"]),
}


@pytest.mark.parametrize("case", list(BAD_CLI))
def test_cli_bad_input(capsys, case):
    argv, fragments = BAD_CLI[case]
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2, (rc, out, err)
    assert out == "" and "Traceback" not in err
    assert err.endswith("\n") and len(err.splitlines()) == 1, repr(err)
    for f in fragments:
        assert f in err, (f, err)


def test_cli_subprocess_exit_code():
    proc = subprocess.run([sys.executable, "-m", "simtrial", "boundaries", "--looks", "3",
                           "--fractions", "0.5,0.4,1"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
