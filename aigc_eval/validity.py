"""The metric-validity table: does a proxy metric rank models the way the exact oracle does?

On the oracle worlds (`shapes`, `facts`) every evaluated point -- one model, seed or checkpoint --
has true rates (hallucination, ungrammaticality, controllability) next to the proxy metrics
(precision, recall, density, coverage, FD, KID; BLEU, Self-BLEU, ...). For every (proxy, true
rate) pair this reports Spearman's rank correlation over the points that have both, its p-value
(scipy.stats.spearmanr), a percentile bootstrap confidence interval over points, and whether the
proxy moves in the expected direction.

Expected direction: a proxy "agrees" with a true rate when improving the proxy goes with improving
the truth, i.e. the expected sign of rho is (+1 if the proxy is higher-is-better else -1) x (+1 if
the truth is higher-is-better else -1). FD against hallucination_rate should correlate positively,
precision negatively. Diversity proxies (recall, coverage, Self-BLEU) are read the same way, so
their rows say whether "more diverse" went with "fewer hallucinations" on these points.

Pure functions on plain dicts: a point maps metric names to numbers, or to results.json metric
entries ({"value": ..., "higher_is_better": ...}), so `cell["metrics"]` can be passed as is.
Non-numeric entries (model names, seeds as strings) are ignored.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
from scipy.stats import rankdata, spearmanr

from .errors import UserError
from .worlds.shapes import FACTORS

# The exact rates of the oracle worlds, with whether higher is better. oracle_rms (shapes: median
# distance to the nearest valid rendering) is not a rate but still ranks models whose rates
# saturate at 1, as every image model's hallucination_rate does at the CPU suite's budgets.
TRUE_RATES = {"hallucination_rate": False, "factual_hallucination_rate": False,
              "ungrammatical_rate": False, "controllability": True, "factor_match": True, "oracle_rms": False}
# Other oracle outputs and uncertainty columns: neither truths nor proxies.
NOT_PROXIES = frozenset({"true_rate", "ambiguous_rate", "novelty", "factor_coverage", "factor_coverage_all", "oracle_memorization",
                         "controllability_heldout", "controllability_trained", "kid_std", "cond_accuracy_sampling_std",
                         "controllability_sampling_std", "factor_match_heldout",
                         *(f"factor_match_{factor}" for factor in FACTORS)})
# Direction of common proxies by name prefix, for points given as bare numbers.
PROXY_HIGHER_IS_BETTER = {"precision": True, "recall": True, "density": True, "coverage": True, "fd": False,
                          "fid": False, "kid": False, "bleu": True, "self_bleu": False, "rouge": True,
                          "chrf": True, "nll": False, "perplexity": False}


def _value(entry):
    """The finite float of a number or results.json entry; None for anything else."""
    if isinstance(entry, dict):
        entry = entry.get("value")
    if isinstance(entry, bool) or not isinstance(entry, Real) or not math.isfinite(entry):
        return None
    return float(entry)


def _direction(name: str, points, overrides: dict) -> bool | None:
    if name in overrides:
        return overrides[name]
    for point in points:
        entry = point.get(name)
        if isinstance(entry, dict) and "higher_is_better" in entry:
            return bool(entry["higher_is_better"])
    if name in TRUE_RATES:
        return TRUE_RATES[name]
    keys = [k for k in PROXY_HIGHER_IS_BETTER if name.startswith(k)]
    return PROXY_HIGHER_IS_BETTER[max(keys, key=len)] if keys else None


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (average ranks for ties); NaN where a row is constant."""
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ra * rb).sum(1) / denom, np.nan)


def validity_table(points, proxies=None, truths=None, higher_is_better=None, n_boot: int = 2000,
                   confidence: float = 0.95, seed: int = 0) -> list[dict]:
    """One row per (proxy, true rate) pair present in `points`; see the module docstring.

    proxies/truths: names to use (default: every truth in TRUE_RATES present, and every other
    numeric name except NOT_PROXIES). higher_is_better: {name: bool} overriding the directions read
    from the entries or PROXY_HIGHER_IS_BETTER. Each row (the keys of reports/SCHEMA.md): proxy,
    true_rate, n, spearman, ci ([low, high]), p -- None where undefined: fewer than 3 points or a
    constant column -- then expected_sign (+1, -1 or None), direction ("expected", "opposite",
    "none" or "unknown") and confident (the interval excludes 0). Deterministic for a given seed.
    """
    points = list(points)
    if not 0 < confidence < 1:
        raise UserError(f"validity: confidence must be in (0, 1), got {confidence!r}")
    if n_boot < 1:
        raise UserError(f"validity: n_boot must be a positive integer, got {n_boot!r}")
    overrides = dict(higher_is_better or {})
    names = sorted({k for p in points for k, v in p.items() if _value(v) is not None})
    truths = [t for t in TRUE_RATES if t in names] if truths is None else list(truths)
    if proxies is None:
        proxies = [k for k in names if k not in TRUE_RATES and k not in NOT_PROXIES]
    rng = np.random.default_rng(seed)
    rows = []
    for truth in truths:
        truth_hib = _direction(truth, points, overrides)
        for proxy in proxies:
            pairs = [(_value(p.get(proxy)), _value(p.get(truth))) for p in points]
            x, y = np.array([q for q in pairs if None not in q], np.float64).reshape(-1, 2).T
            proxy_hib = _direction(proxy, points, overrides)
            expected = None if proxy_hib is None or truth_hib is None else (1 if proxy_hib == truth_hib else -1)
            rows.append(_correlate(proxy, truth, x, y, expected, n_boot, confidence, rng))
    return rows


def _correlate(proxy, truth, x, y, expected, n_boot, confidence, rng) -> dict:
    row = {"proxy": proxy, "true_rate": truth, "n": len(x), "spearman": None, "ci": None, "p": None,
           "expected_sign": expected, "direction": "unknown" if expected is None else "none", "confident": False}
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return row
    result = spearmanr(x, y)
    rho = float(result.statistic)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    boot = _row_spearman(x[idx], y[idx])
    boot = boot[np.isfinite(boot)]
    row.update(spearman=rho, p=float(result.pvalue))
    if len(boot):
        lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
        row.update(ci=[float(lo), float(hi)], confident=bool(lo > 0 or hi < 0))
    if expected is not None and rho != 0:
        row["direction"] = "expected" if np.sign(rho) == expected else "opposite"
    return row

