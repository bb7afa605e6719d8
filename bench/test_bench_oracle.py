"""Shapes-oracle throughput (images/s on one thread) at 16 x 16 and 32 x 32, and the full metric.

Run: .venv/bin/python -m pytest bench/test_bench_oracle.py --benchmark-only
Each round judges 4,000 real renderings with the v2 oracle (`Oracle.recover`: the structural
verdicts plus the RMS to the nearest clean rendering); `images_per_s` in extra_info is 4,000 / the
median round. Building the oracle (the blurred template bank, no calibration) is timed apart.
Measured on the shared 2-core machine, one thread: ~10,900 images/s at 16 px and ~3,000 at 32 px
(`nearest()` alone, the RMS search: ~48,000 and ~16,000); the whole metric ~5,400 images/s at 16 px.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.worlds.shapes import NUM_COMBINATIONS, Oracle, get_world

N = 4000


def _real(image_size):
    world = get_world(image_size)
    return world, world.sample(np.arange(N) % NUM_COMBINATIONS, np.random.default_rng(0))


@pytest.mark.parametrize("image_size", [16, 32])
def test_oracle_throughput(pinned_benchmark, image_size):
    world, images = _real(image_size)
    t0 = time.perf_counter()
    oracle = Oracle(world)  # uncached: time building the template bank once
    build_s = time.perf_counter() - t0
    found = pinned_benchmark.pedantic(oracle.recover, args=(images,), rounds=5, warmup_rounds=1)
    assert found.valid.mean() > 0.99
    pinned_benchmark.extra_info.update(images=N, build_s=round(build_s, 2),
                                       images_per_s=round(N / pinned_benchmark.stats.stats.median))


def test_shapes_oracle_metric(pinned_benchmark):
    """Everything the metric does for 4,000 samples against 3,330 training images (memorization)."""
    from aigc_eval.data import load_dataset

    shapes = load_dataset("shapes")
    _, images = _real(16)
    es = ImageEvalSet(generated=images, reference=shapes.test_x, train=shapes.train_x, extractor=None, labels=np.arange(N) % NUM_COMBINATIONS,
                      dataset_meta=shapes.meta)
    metric = build_metric("shapes_oracle")
    metric.compute(es)  # builds the cached oracle
    scores = pinned_benchmark.pedantic(metric.compute, args=(es,), rounds=3, warmup_rounds=0)
    assert {s.name: s.value for s in scores}["controllability"] > 0.99
    pinned_benchmark.extra_info.update(images=N, images_per_s=round(N / pinned_benchmark.stats.stats.median))
