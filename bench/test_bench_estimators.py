"""Sample-size-aware estimators and feature statistics at N=5000, D=128 (issue 14 §2, 3, 5).

Run:   .venv/bin/python -m pytest bench/test_bench_estimators.py --benchmark-only
Large: AIGC_BENCH_LARGE=1 .venv/bin/python -m pytest bench/test_bench_estimators.py -k large --benchmark-only
       (Vendi with an RBF kernel and n-gram Vendi over a large vocabulary: an n x n eigenproblem,
       ~30 s each at N=5000 on one thread)

Features: seeded standard normal N x D, the generated side shifted by 0.1 in every coordinate.
Text: N seeded sentences of 8-24 words from a 20,000-word vocabulary (bigrams: V > N, so the
n x n kernel route) or 300 words (unigrams: V < N, the dual route).

Measured 2026-12-03, one thread, loaded 2-core machine (min of the rounds): Vendi cosine 9 ms
(128 x 128 dual eigenproblem); Vendi unigrams (V=300 < N, dual) 0.13 s; CMMD 5000 vs 5000 1.3 s,
unbiased or biased alike (three 5000 x 5000 float64 kernel blocks); FD-infinity 0.11 s (15 subsets
of 500..5000, 128-d); RunningStats over 10 batches of 500 + save + load 8 ms. Large: Vendi RBF
(median sigma) 29 s; Vendi bigrams (V > N, n x n kernel) 26 s.
"""
from __future__ import annotations

import numpy as np
import pytest

from aigc_eval.features.statistics import RunningStats, load_stats, save_stats
from aigc_eval.metrics.cmmd import cmmd
from aigc_eval.metrics.fd_infinity import fd_infinity
from aigc_eval.metrics.vendi import vendi_of_features, vendi_of_ngrams

N, D = 5000, 128


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, D)), rng.standard_normal((N, D)) + 0.1


def sentences(vocabulary: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{i}" for i in rng.integers(0, vocabulary, rng.integers(8, 25))) for _ in range(N)]


def test_vendi_cosine(pinned_benchmark, features):
    value = pinned_benchmark.pedantic(vendi_of_features, args=(features[0],), rounds=3, iterations=1)
    pinned_benchmark.extra_info["vendi"] = value
    assert 1 <= value <= D


def test_vendi_unigrams_dual(pinned_benchmark):
    text = sentences(300)
    value = pinned_benchmark.pedantic(vendi_of_ngrams, args=(text, 1), rounds=3, iterations=1)
    pinned_benchmark.extra_info["vendi"] = value
    assert 1 <= value <= 300


@pytest.mark.parametrize("unbiased", [True, False], ids=["unbiased", "reference-code-biased"])
def test_cmmd(pinned_benchmark, features, unbiased):
    x, y = features
    value = pinned_benchmark.pedantic(cmmd, args=(x, y), kwargs={"normalize": True, "unbiased": unbiased},
                                      rounds=2, iterations=1)
    pinned_benchmark.extra_info["cmmd"] = value
    assert value > 0


def test_fd_infinity(pinned_benchmark, features):
    x, y = features
    reference = RunningStats.from_features(y)
    result = pinned_benchmark.pedantic(fd_infinity, args=(x, (reference.mean, reference.cov)), rounds=3, iterations=1)
    pinned_benchmark.extra_info.update(fd_infinity=result.fd_infinity, fd_at_max=result.fd_at_max, slope=result.slope)
    assert result.fd_infinity < result.fd_at_max


def test_running_stats_and_file_round_trip(pinned_benchmark, features, tmp_path):
    x = features[0]

    def accumulate_save_load():
        stats = RunningStats()
        for batch in np.split(x, 10):
            stats.update(batch)
        save_stats(tmp_path / "ref.npz", stats, {"extractor": "bench@0000"})
        return load_stats(tmp_path / "ref.npz", expect={"extractor": "bench@0000", "n": N})

    loaded = pinned_benchmark.pedantic(accumulate_save_load, rounds=5, iterations=1)
    np.testing.assert_allclose(loaded.cov, np.cov(x, rowvar=False), rtol=0, atol=1e-12)


@pytest.mark.large
def test_large_vendi_rbf(pinned_benchmark, features):
    value = pinned_benchmark.pedantic(vendi_of_features, args=(features[0],), kwargs={"kernel": "rbf", "sigma": "median"},
                                      rounds=1, iterations=1)
    pinned_benchmark.extra_info["vendi"] = value


@pytest.mark.large
def test_large_vendi_bigrams_kernel(pinned_benchmark):
    text = sentences(20000)
    value = pinned_benchmark.pedantic(vendi_of_ngrams, args=(text, 2), rounds=1, iterations=1)
    pinned_benchmark.extra_info["vendi"] = value
