"""Trial analyses computed from per-arm sufficient statistics, vectorised over trials.

Each arm of each replicate trial is summarised by the sums ``(n, Sx, Sy, Sxx, Syy, Sxy)`` of the
baseline ``x`` and the change from baseline ``y`` at the endpoint visit (the engine keeps prefix
sums, so any arm size is one lookup). From them:

``ttest_change``
    ``est = ybar1 - ybar0``, pooled variance ``s^2 = (SSy0 + SSy1) / (n0 + n1 - 2)``,
    ``se = s sqrt(1/n0 + 1/n1)``, ``df = n0 + n1 - 2``.
``ancova``
    OLS of ``y`` on arm and ``x`` (common slope): ``b = Sxy_w / Sxx_w`` from the pooled
    within-arm sums, ``est = (ybar1 - ybar0) - b (xbar1 - xbar0)``,
    ``s^2 = (Syy_w - Sxy_w^2 / Sxx_w) / (n0 + n1 - 3)``,
    ``se = s sqrt(1/n0 + 1/n1 + (xbar1 - xbar0)^2 / Sxx_w)``, ``df = n0 + n1 - 3``.
    This equals the arm coefficient of ``lm(y ~ arm + x)`` exactly (tested against least squares).

Sums should be of centred values (the engine subtracts fixed constants) to limit cancellation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["analyse_sums", "reject", "arm_sums", "arm_means"]

IDX_X, IDX_Y, IDX_XX, IDX_YY, IDX_XY = range(5)


def arm_sums(x: np.ndarray, y: np.ndarray, axis: int = 0) -> np.ndarray:
    """Stack ``(Sx, Sy, Sxx, Syy, Sxy)`` along a new last axis, summing over ``axis``."""
    return np.stack([x.sum(axis), y.sum(axis), (x * x).sum(axis), (y * y).sum(axis),
                     (x * y).sum(axis)], axis=-1)


def analyse_sums(s0: np.ndarray, s1: np.ndarray, n0, n1, method: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Treatment estimate, its SE and df from per-arm sums.

    Parameters
    ----------
    s0, s1 : ndarray, shape (..., 5)
        Sums ``(Sx, Sy, Sxx, Syy, Sxy)`` for control and MSC arms.
    n0, n1 : int or ndarray broadcastable to s0.shape[:-1]
        Arm sizes.
    method : {"ancova", "ttest_change"}

    Returns
    -------
    est, se, df : ndarrays of shape s0.shape[:-1]
    """
    n0 = np.asarray(n0, dtype=float)
    n1 = np.asarray(n1, dtype=float)
    ybar0 = s0[..., IDX_Y] / n0
    ybar1 = s1[..., IDX_Y] / n1
    syy = (s0[..., IDX_YY] - s0[..., IDX_Y] * ybar0) + (s1[..., IDX_YY] - s1[..., IDX_Y] * ybar1)
    inv = 1.0 / n0 + 1.0 / n1
    if method == "ttest_change":
        df = n0 + n1 - 2.0
        est = ybar1 - ybar0
        se = np.sqrt(np.maximum(syy, 0.0) / df * inv)
        return est, se, np.broadcast_to(df, est.shape)
    xbar0 = s0[..., IDX_X] / n0
    xbar1 = s1[..., IDX_X] / n1
    sxx = (s0[..., IDX_XX] - s0[..., IDX_X] * xbar0) + (s1[..., IDX_XX] - s1[..., IDX_X] * xbar1)
    sxy = (s0[..., IDX_XY] - s0[..., IDX_X] * ybar0) + (s1[..., IDX_XY] - s1[..., IDX_X] * ybar1)
    b = sxy / sxx
    dx = xbar1 - xbar0
    est = (ybar1 - ybar0) - b * dx
    df = n0 + n1 - 3.0
    rss = np.maximum(syy - sxy * b, 0.0)
    se = np.sqrt(rss / df * (inv + dx * dx / sxx))
    return est, se, np.broadcast_to(df, est.shape)


def reject(t: np.ndarray, crit: np.ndarray | float, sides: int, better: str) -> np.ndarray:
    """Boolean rejections of H0: MD = 0 given t statistics and critical values.

    One-sided tests reject only in the direction of benefit.
    """
    if sides == 2:
        return np.abs(t) > crit
    if better == "lower":
        return t < -crit
    return t > crit


def arm_means(s0: np.ndarray, s1: np.ndarray, n0, n1, method: str) -> np.ndarray:
    """Each arm's mean change, adjusted to a common baseline, with its sampling (co)variance.

    Parameters
    ----------
    s0, s1, n0, n1, method
        As :func:`analyse_sums`.

    Returns
    -------
    ndarray, shape s0.shape[:-1] + (5,)
        ``(m0, m1, v0, v1, c01)``: arm means (of the summed ``y``), their variances and
        covariance, with ``m1 - m0`` and ``v0 + v1 - 2 c01`` equal to the estimate and the
        squared SE of :func:`analyse_sums`.

    Notes
    -----
    ``ttest_change``: ``m_a = ybar_a``, ``v_a = s^2 / n_a``, ``c01 = 0``. ``ancova``: at the
    pooled baseline mean ``xbar``, ``m_a = ybar_a - b (xbar_a - xbar)``; with
    ``d_a = xbar_a - xbar``, ``v_a = s^2 (1 / n_a + d_a^2 / Sxx_w)`` and
    ``c01 = s^2 d0 d1 / Sxx_w`` (the slope ``b`` is shared).
    """
    n0 = np.asarray(n0, dtype=float)
    n1 = np.asarray(n1, dtype=float)
    ybar0 = s0[..., IDX_Y] / n0
    ybar1 = s1[..., IDX_Y] / n1
    syy = (s0[..., IDX_YY] - s0[..., IDX_Y] * ybar0) + (s1[..., IDX_YY] - s1[..., IDX_Y] * ybar1)
    out = np.empty(s0.shape[:-1] + (5,))
    if method == "ttest_change":
        s2 = np.maximum(syy, 0.0) / (n0 + n1 - 2.0)
        out[..., 0], out[..., 1] = ybar0, ybar1
        out[..., 2], out[..., 3], out[..., 4] = s2 / n0, s2 / n1, 0.0
        return out
    xbar0 = s0[..., IDX_X] / n0
    xbar1 = s1[..., IDX_X] / n1
    sxx = (s0[..., IDX_XX] - s0[..., IDX_X] * xbar0) + (s1[..., IDX_XX] - s1[..., IDX_X] * xbar1)
    sxy = (s0[..., IDX_XY] - s0[..., IDX_X] * ybar0) + (s1[..., IDX_XY] - s1[..., IDX_X] * ybar1)
    b = sxy / sxx
    xbar = (n0 * xbar0 + n1 * xbar1) / (n0 + n1)
    d0, d1 = xbar0 - xbar, xbar1 - xbar
    s2 = np.maximum(syy - sxy * b, 0.0) / (n0 + n1 - 3.0)
    out[..., 0] = ybar0 - b * d0
    out[..., 1] = ybar1 - b * d1
    out[..., 2] = s2 * (1.0 / n0 + d0 * d0 / sxx)
    out[..., 3] = s2 * (1.0 / n1 + d1 * d1 / sxx)
    out[..., 4] = s2 * d0 * d1 / sxx
    return out
