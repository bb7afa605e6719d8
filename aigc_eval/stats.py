"""The interval arithmetic behind every comparison of two runs (the gate, `compare`, the report's diff).

- Every (model, dataset, metric) carries its per-seed values. A difference is the mean of the
  current values minus the mean of the baseline values, with a confidence interval (CI) computed
  from those per-seed values.
- Both runs used the same >= 2 seeds: a paired t interval on the per-seed differences. The same
  seed gives the same data order and initialisation, so pairing cancels most of the seed noise
  (common random numbers) and finds smaller regressions; it stays exact if a change decorrelates
  the seeds, only with less power.
- Otherwise, both sides with >= 2 seeds: Welch's t interval (unequal variances,
  Welch-Satterthwaite df).
  We do not bootstrap: with the 2-5 seeds a benchmark affords, a percentile bootstrap of each
  side's mean has only a handful of distinct values. For two samples of N(0, 1), its nominal 95%
  interval covered the true difference in 69% of 2,000 simulated pairs at 2 seeds per side, 80%
  at 3, 87% at 5 and 92% at 10; Welch's covered 98%, 96%, 95% and 96% (measured 2026-11-28;
  tests/test_gate.py checks Welch's coverage).
- One side with 1 seed, the other with >= 2: the single seed borrows the other side's
  seed-to-seed variance (equal-variance t, df = n - 1 of the side that has several seeds).
- Both sides with 1 seed: there is no noise estimate and no CI.
- A suite compares dozens of rows, so a family-wise confidence is split over the m rows that
  have an interval (Bonferroni): each is at 1 - (1 - confidence) / m.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def bonferroni(confidence: float, m: int) -> float:
    """Per-row confidence that keeps `confidence` family-wise over m intervals."""
    return 1 - (1 - confidence) / max(1, m)


def difference_interval(baseline: Sequence[float], current: Sequence[float], confidence: float = 0.95,
                        paired: bool = False) -> tuple[float, float, str] | None:
    """Two-sided `confidence` interval of mean(current) - mean(baseline), and its method.

    paired: the i-th values of both sides come from the same seed.
    None when there is no noise estimate (1 seed on both sides) or a value is not finite.
    """
    a, b = np.asarray(baseline, dtype=np.float64), np.asarray(current, dtype=np.float64)
    na, nb = len(a), len(b)
    if min(na, nb) == 0 or max(na, nb) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    delta = b.mean() - a.mean()
    if paired and na == nb:
        se2 = (b - a).var(ddof=1) / na
        df = na - 1
        method = "paired t"
    elif na >= 2 and nb >= 2:
        va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
        se2 = va + vb
        df = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1)) if se2 > 0 else math.inf
        method = "welch"
    else:
        several = a if na >= 2 else b
        se2 = several.var(ddof=1) * (1 / na + 1 / nb)
        df = len(several) - 1
        method = "borrowed variance"
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(se2)) if se2 > 0 else 0.0
    return float(delta - half), float(delta + half), method
