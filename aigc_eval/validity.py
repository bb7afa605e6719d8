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

Which scores are truths and which are proxies is each score's `role` (aigc_eval.signature.ROLES):
the oracles' metrics mark their true rates as truths and their other outputs as details, and
estimates of noise (kid_std, sampling spreads) are uncertainties; neither of those is correlated.

Pure functions on plain dicts: a point maps metric names to numbers, or to results.json metric
entries ({"value": ..., "higher_is_better": ..., "role": ...}), so `cell["metrics"]` can be passed
as is; a bare number is a proxy unless `roles` says otherwise. Non-numeric entries (model names,
seeds as strings) are ignored.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
from scipy.stats import rankdata, spearmanr

from .errors import UserError
from .signature import PROXY, TRUTH

# The order the truths are tabulated in, and so the order of the bootstrap draws: a truth not listed
# here comes after these, by name. (Which scores are truths is their role, not this list.)
TRUTH_ORDER = ("hallucination_rate", "factual_hallucination_rate", "ungrammatical_rate", "controllability",
               "factor_match", "oracle_rms", "human_preference")
# People's votes (aigc_eval.rating) are a second truth: every proxy and every oracle rate is
# correlated with it, which also checks the oracles against people.
HUMAN_TRUTH = "human_preference"
# Direction of common metrics by name prefix, for points given as bare numbers.
HIGHER_IS_BETTER_BY_PREFIX = {
    "precision": True, "recall": True, "density": True, "coverage": True, "fd": False, "fid": False, "kid": False,
    "bleu": True, "self_bleu": False, "rouge": True, "chrf": True, "nll": False, "perplexity": False,
    "hallucination_rate": False, "factual_hallucination_rate": False, "ungrammatical_rate": False,
    "controllability": True, "factor_match": True, "oracle_rms": False, "human_preference": True}


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
    keys = [k for k in HIGHER_IS_BETTER_BY_PREFIX if name.startswith(k)]
    return HIGHER_IS_BETTER_BY_PREFIX[max(keys, key=len)] if keys else None


def roles_of(points, roles=None) -> dict[str, str]:
    """{name: role} of every numeric name in `points`: `roles` first, then the entries' own, else proxy."""
    found: dict[str, str] = {}
    for point in points:
        for name, entry in point.items():
            if _value(entry) is not None and name not in found and isinstance(entry, dict) and "role" in entry:
                found[name] = entry["role"]
    names = {k for p in points for k, v in p.items() if _value(v) is not None}
    return {name: (roles or {}).get(name, found.get(name, PROXY)) for name in names}


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (average ranks for ties); NaN where a row is constant."""
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ra * rb).sum(1) / denom, np.nan)


def validity_table(points, proxies=None, truths=None, higher_is_better=None, roles=None, n_boot: int = 2000,
                   confidence: float = 0.95, seed: int = 0) -> list[dict]:
    """One row per (proxy, true rate) pair present in `points`; see the module docstring.

    proxies/truths: names to use (default: every name whose role is proxy, and every one whose role
    is truth, in TRUTH_ORDER). roles: {name: role} for names the points give as bare numbers (or to
    override an entry's). higher_is_better: {name: bool} overriding the directions read from the
    entries or HIGHER_IS_BETTER_BY_PREFIX. Each row (the keys of reports/SCHEMA.md): proxy,
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
    role = roles_of(points, roles)
    if truths is None:
        truths = sorted((k for k, r in role.items() if r == TRUTH),
                        key=lambda k: (TRUTH_ORDER.index(k) if k in TRUTH_ORDER else len(TRUTH_ORDER), k))
    if proxies is None:
        proxies = sorted(k for k, r in role.items() if r == PROXY)
    proxies = list(proxies)
    rng = np.random.default_rng(seed)
    rows = []
    for truth in truths:
        truth_hib = _direction(truth, points, overrides)
        for proxy in proxies + ([t for t in truths if t != HUMAN_TRUTH] if truth == HUMAN_TRUTH else []):
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



def validity_rows(cells: list[dict]) -> list[dict]:
    """The metric-validity table of a run, per oracle world: every finished model cell and each of its
    earlier checkpoints is a point. Calibration rows are left out: they sit at the extremes of every
    metric and would make any proxy look valid on their own."""
    points: dict[str, list[dict]] = {}
    roles: dict[str, dict[str, str]] = {}  # per dataset: the roles of the final entries, for the checkpoints' numbers
    for cell in cells:
        if cell["status"] != "done" or cell["calibration"]:
            continue
        final = dict(cell["metrics"])  # entries carry higher_is_better, which sets the expected sign
        known = roles.setdefault(cell["dataset"], {})
        known.update({k: v.get("role", PROXY) for k, v in final.items()})
        steps = (cell.get("curves") or {}).get("step") or [0]
        earlier = [{k: v for k, v in c.items() if k != "step"} for c in cell.get("checkpoint_metrics") or []
                   if c["step"] < steps[-1]]  # the last checkpoint is the final model, already a point
        for point in [final] + earlier:
            if any(known.get(k) == TRUTH for k in point):
                points.setdefault(cell["dataset"], []).append(point)
    rows = []
    for dataset, pts in points.items():
        rows += [{"dataset": dataset, **row} for row in validity_table(pts, roles=roles[dataset]) if row["n"] >= 3]
    return rows
