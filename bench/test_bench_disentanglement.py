"""Disentanglement-metric speed: MIG, DCI and SAP at N=5000, L=10, K=4 (shapes world's factor sizes).

Run:   .venv/bin/python -m pytest bench/test_bench_disentanglement.py --benchmark-only
Large: AIGC_BENCH_LARGE=1 .venv/bin/python -m pytest bench/test_bench_disentanglement.py -k gradient --benchmark-only
       (DCI with disentanglement_lib's GradientBoostingClassifier, the estimator ours replaces: ~1 min)

Two latent sets: `identity` -- the 4 factor indices plus N(0, 0.01^2) noise, beside 6 standard-
normal noise codes; `rotated` -- the same 10 codes (factors standardised) mixed by a seeded random
10 x 10 rotation. Tree fits depend on the data, so DCI and SAP times differ between the two.
extra_info holds the metric's values and the CPU seconds of one extra call (`cpu_s`).
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from aigc_eval.metrics.disentanglement import (dci, dci_from_importance, mutual_information_gap, sap,
                                               train_test_split, validate)

N, L = 5000, 10
FACTOR_SIZES = (4, 5, 2, 9)


def latent_sets():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, k, N) for k in FACTOR_SIZES], axis=1)
    noise = rng.standard_normal((N, L - len(FACTOR_SIZES)))
    identity = np.concatenate([factors + 0.01 * rng.standard_normal(factors.shape), noise], axis=1)
    standardised = np.concatenate([(factors - factors.mean(0)) / factors.std(0), noise], axis=1)
    rotation, _ = np.linalg.qr(rng.standard_normal((L, L)))
    return factors, {"identity": identity, "rotated": standardised @ rotation}


FACTORS, LATENTS = latent_sets()


def cpu_seconds(fn, *args):
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def headline(result: dict) -> dict:
    return {k: round(float(v), 4) for k, v in result.items() if np.ndim(v) == 0}


@pytest.mark.parametrize("case", ["identity", "rotated"])
@pytest.mark.parametrize("metric, rounds", [(mutual_information_gap, 5), (dci, 3), (sap, 3)],
                         ids=["mig", "dci", "sap"])
def test_disentanglement_metric(pinned_benchmark, metric, rounds, case):
    latents = LATENTS[case]
    result = pinned_benchmark.pedantic(metric, args=(latents, FACTORS), rounds=rounds, iterations=1,
                                       warmup_rounds=1)
    pinned_benchmark.extra_info.update(n=N, latents=L, factor_sizes=list(FACTOR_SIZES), case=case,
                                       cpu_s=cpu_seconds(metric, latents, FACTORS), values=headline(result))


def gradient_boosting_dci(latents, factors, seed=0):
    """disentanglement_lib's DCI estimator: GradientBoostingClassifier() per factor, same split."""
    from sklearn.ensemble import GradientBoostingClassifier

    z, v = validate(latents, factors)
    train, test = train_test_split(len(z), 0.8, seed)
    importance, accuracy = np.zeros((z.shape[1], v.shape[1])), []
    for k in range(v.shape[1]):
        model = GradientBoostingClassifier(random_state=seed).fit(z[train], v[train, k])
        importance[:, k] = model.feature_importances_
        accuracy.append(np.mean(model.predict(z[test]) == v[test, k]))
    d, c, *_ = dci_from_importance(importance)
    return {"disentanglement": d, "completeness": c, "informativeness_test": float(np.mean(accuracy))}


@pytest.mark.large
@pytest.mark.parametrize("case", ["identity", "rotated"])
def test_dci_gradient_boosting_reference(pinned_benchmark, case):
    latents = LATENTS[case]
    result = pinned_benchmark.pedantic(gradient_boosting_dci, args=(latents, FACTORS), rounds=1, iterations=1)
    ours = dci(latents, FACTORS)
    pinned_benchmark.extra_info.update(n=N, latents=L, case=case, values=headline(result),
                                       extra_trees_values=headline(ours))
