"""Harness overhead and the thread-count default.

- Overhead: N DCGAN steps through the harness's training loop (batching by (seed, step), loss
  checks, curve recording, progress bar, one checkpoint at the end) against the same N steps
  in a bare PyTorch loop. Budget: <= 1.05x. Both are measured in the same process, interleaved.
- Threads: one DCGAN step with 1 and with 2 intra-op threads, alone and with the other core busy.
"""
from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import pytest
import torch

from aigc_eval.harness.cell import train
from aigc_eval.harness.tracks import get_context
from aigc_eval.harness.suite import parse_suite
from aigc_eval.runtime import setup_runtime
from reference_models.dcgan import DCGAN, DCGANConfig

STEPS, BATCH = 60, 64


def _spec():
    raw = {"train": {"steps": STEPS, "batch_size": BATCH, "checkpoint_every": STEPS},
           "eval": {"checkpoint_metrics": []}, "datasets": [{"name": "digits", "models": ["dcgan"]}]}
    return parse_suite(raw, "bench").cells[0]


def _bare_loop(ds):
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(), ds.image_shape)
    x_all = torch.from_numpy(ds.train_x).float() / 255
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(STEPS):
        model.train_step(x_all[torch.from_numpy(rng.integers(0, len(x_all), BATCH))], None)
    return time.perf_counter() - t0


def _harness_loop(ctx, runtime, tmp_path, k):
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(), ctx.dataset.image_shape)
    cell_dir = tmp_path / f"cell{k}"
    cell_dir.mkdir()
    t0 = time.perf_counter()
    train(model, _spec(), ctx, cell_dir, runtime, progress=True, log=lambda m: None)
    return time.perf_counter() - t0


def test_harness_overhead_vs_bare_loop(benchmark, tmp_path):
    runtime = setup_runtime("cpu", 1)
    ctx = get_context("digits", {}, None, "cpu", log=lambda m: None)
    bare, harness = [], []
    for k in range(3):  # interleaved so that machine noise hits both alike
        bare.append(_bare_loop(ctx.dataset))
        harness.append(_harness_loop(ctx, runtime, tmp_path, k))
    ratio = min(harness) / min(bare)
    benchmark.extra_info.update(threads=1, steps=STEPS, batch=BATCH, bare_s=min(bare), harness_s=min(harness),
                                overhead_ratio=round(ratio, 4), budget_ratio=1.05)
    benchmark.pedantic(lambda: None, rounds=1)
    print(f"\nharness/bare = {ratio:.3f} (bare {min(bare):.3f}s, harness {min(harness):.3f}s, {STEPS} steps)")


def _busy(stop):
    x = 0
    while not stop.is_set():
        x += 1


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("other_core", ["idle", "busy"])
def test_dcgan_step_threads(benchmark, threads, other_core):
    torch.set_num_threads(threads)
    model = DCGAN(DCGANConfig(), (1, 16, 16))
    x = torch.rand(BATCH, 1, 16, 16)
    stop = mp.Event()
    proc = mp.Process(target=_busy, args=(stop,)) if other_core == "busy" else None
    if proc:
        proc.start()
    try:
        benchmark.pedantic(model.train_step, args=(x, None), rounds=15, warmup_rounds=2)
    finally:
        if proc:
            stop.set()
            proc.join()
        torch.set_num_threads(1)
    benchmark.extra_info.update(threads=threads, other_core=other_core,
                                images_per_s=round(BATCH / benchmark.stats.stats.median, 1))
