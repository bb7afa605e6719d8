"""Does beta-VAE (beta = 4) disentangle the shapes world's factors better than the VAE (beta = 1)?

Run (about 4 minutes of CPU on one thread; large, so opt-in):
    AIGC_BENCH_LARGE=1 .venv/bin/python -m pytest bench/test_bench_disentanglement_models.py \
        --benchmark-only -s --benchmark-json=reports/bench/disentanglement-models-$(date -u +%Y%m%d).json

Each model trains with its 16x16 defaults for AIGC_DISENTANGLE_STEPS steps (default 3,000, batch 64)
on `shapes`, seeds 0 and 1; the posterior means of the test renderings (all 360 combinations) are
scored against their true factors (shape, colour, size, position) with MIG, DCI and SAP
(aigc_eval.metrics.disentanglement). Mean and std over seeds land in extra_info.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from aigc_eval.data import load_dataset
from aigc_eval.metrics.disentanglement import disentanglement_scores
from aigc_eval.models import MODELS, default_config
from aigc_eval.worlds.shapes import ShapesWorld

SEEDS = (0, 1)


def scores_of(name, shapes, steps, seed):
    cls = MODELS.get(name)
    torch.manual_seed(seed)
    model = cls(default_config(cls, shapes.image_shape), shapes.image_shape, shapes.num_classes)
    model.fit(shapes.train_x, shapes.train_y, steps=steps, batch_size=64, seed=seed)
    latents = model.encode(shapes.test_x).numpy()
    return disentanglement_scores(latents, ShapesWorld.factors_of(shapes.test_y), seed=seed)


@pytest.mark.large
def test_beta_vae_against_vae_on_the_shapes_factors(pinned_benchmark):
    steps = int(os.environ.get("AIGC_DISENTANGLE_STEPS", "3000"))
    shapes = load_dataset("shapes")

    def measure():
        return {name: [scores_of(name, shapes, steps, seed) for seed in SEEDS] for name in ("vae", "beta_vae")}

    runs = pinned_benchmark.pedantic(measure, rounds=1, iterations=1)
    summary = {}
    for name, per_seed in runs.items():
        keys = [k for k, v in per_seed[0].items() if isinstance(v, float)]
        summary[name] = {k: (float(np.mean([s[k] for s in per_seed])), float(np.std([s[k] for s in per_seed])))
                         for k in keys}
        print(name, {k: f"{m:.3f} ± {sd:.3f}" for k, (m, sd) in summary[name].items()})
    pinned_benchmark.extra_info.update(disentanglement=summary, train_steps=steps, seeds=list(SEEDS))
    assert set(summary) == {"vae", "beta_vae"}
