"""Time to quality: how many steps and CPU-seconds each reference image model needs to learn.

Run (minutes per model; large, so opt-in):
    AIGC_BENCH_LARGE=1 .venv/bin/python -m pytest bench/test_bench_time_to_quality.py \
        --benchmark-only --benchmark-json=reports/bench/ttq-$(date -u +%Y%m%d).json

Each model trains with its documented default config (the one the suites use), batch 64, one
thread, on the suite's own data and batches (aigc_eval.harness.cell.batch_for_step), and is scored
every EVAL_EVERY steps on N_EVAL samples drawn with a fixed seed:
- shapes: the oracle's hallucination rate (target: <= 0.5, i.e. at least half of the samples are
  valid renderings of one world object); conditional models also report controllability;
- digits: FD on the digits CNN (target: <= 2 x copy-train's FD, scored the same way).
Time is CPU time of this process (time.process_time), which a shared machine disturbs far less
than wall time. Each curve and its first crossing go into extra_info["time_to_quality"], which the
report's performance section plots (aigc_eval.performance reads the newest bench JSON).
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from aigc_eval.harness.cell import batch_for_step
from aigc_eval.harness.context import get_context
from aigc_eval.harness.evaluate import evaluate_samples, sample_model
from aigc_eval.models import MODELS, default_config

BATCH = 64
N_EVAL = 180
SEED = 0
EVAL_EVERY = 250
# Enough steps for each curve to flatten on the CPU (WGAN-GP's step is 5 critic updates).
MAX_STEPS = {"dcgan": 4000, "vae": 4000, "cvae": 4000, "beta_vae": 4000, "sngan": 3000, "cgan": 3000,
             "wgan_gp": 1500}
TARGETS = {"shapes": ("hallucination_rate", 0.5), "digits": ("fd_digits-cnn", None)}  # None: 2 x copy-train


def copy_train_fd(ctx) -> float:
    copies = MODELS.get("copy-train")(ctx.dataset, ctx.holdout, SEED)
    samples, labels = sample_model(copies, ctx, N_EVAL, seed=SEED)
    return {s.name: s.value for s in evaluate_samples(["fd"], ctx, samples, labels, SEED)}["fd_digits-cnn"]


def quality_curve(name: str, dataset: str, max_steps: int, target_metric: str, target: float) -> dict:
    ctx = get_context(dataset, {}, log=lambda *_: None)
    ds = ctx.dataset
    cls = MODELS.get(name)
    torch.manual_seed(SEED)
    factored = {"factor_sizes": ds.factor_sizes} if cls.conditional and ds.factor_sizes else {}
    model = cls(default_config(cls, ds.image_shape), ds.image_shape, ds.num_classes, **factored)
    metrics = ["fd"] + (["shapes_oracle"] if dataset == "shapes" else [])
    curve, cpu, reached = [], 0.0, None
    for step in range(max_steps):
        t0 = time.process_time()
        x, y = batch_for_step(ds, SEED, step, BATCH)
        model.train_step(x, y)
        cpu += time.process_time() - t0
        if (step + 1) % EVAL_EVERY:
            continue
        samples, labels = sample_model(model, ctx, N_EVAL, seed=SEED)
        scores = {s.name: s.value for s in evaluate_samples(metrics, ctx, samples, labels, SEED)}
        point = {"step": step + 1, "cpu_s": round(cpu, 2), target_metric: scores[target_metric]}
        if "controllability" in scores:
            point["controllability"] = scores["controllability"]
        curve.append(point)
        if reached is None and scores[target_metric] <= target:
            reached = point
    return {"model": name, "dataset": dataset, "metric": target_metric, "target": round(target, 3),
            "steps_to_target": reached and reached["step"], "cpu_s_to_target": reached and reached["cpu_s"],
            "batch_size": BATCH, "n_eval": N_EVAL, "threads": torch.get_num_threads(), "curve": curve}


@pytest.mark.large
@pytest.mark.parametrize("dataset", ["shapes", "digits"])
@pytest.mark.parametrize("name", list(MAX_STEPS))
def test_time_to_quality(pinned_benchmark, name, dataset):
    metric, target = TARGETS[dataset]
    if target is None:
        target = 2 * copy_train_fd(get_context(dataset, {}, log=lambda *_: None))
    result = pinned_benchmark.pedantic(quality_curve, args=(name, dataset, MAX_STEPS[name], metric, target),
                                       rounds=1, iterations=1)
    pinned_benchmark.extra_info["time_to_quality"] = result
    assert len(result["curve"]) == MAX_STEPS[name] // EVAL_EVERY
    assert all(np.isfinite(p[metric]) for p in result["curve"])
