"""Guidance curve of the classifier-free-guided DDPM on `shapes`: controllability, hallucination,
diversity and FD against the guidance scale (aigc_eval.guidance).

Run (about 10 minutes of CPU on one thread; large, so opt-in):
    AIGC_BENCH_LARGE=1 AIGC_GUIDANCE_STEPS=4000 .venv/bin/python -m pytest bench/test_bench_guidance.py \
        --benchmark-only -s --benchmark-json=reports/bench/guidance-$(date -u +%Y%m%d).json

It trains `cddpm` with its 16x16 defaults for AIGC_GUIDANCE_STEPS steps (batch 64, seed 0), then
samples 360 requests of trained combinations at scales 0, 1, 2, 4 and 8 and scores each with the
shapes oracle and the suite's shapes CNN. The rows land in extra_info["guidance_curve"]; the
figure goes to test-artifacts/guidance-curve.png.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from aigc_eval.data import load_dataset
from aigc_eval.features.classifier import classifier_extractor
from aigc_eval.guidance import guidance_curve
from aigc_eval.models import MODELS, default_config

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIGURE = Path(__file__).resolve().parents[1] / "test-artifacts" / "guidance-curve.png"


def plot(rows, path: Path) -> None:
    scales = [r["scale"] for r in rows]
    panels = [("controllability", "controllability ↑"), ("hallucination_rate", "hallucination ↓"),
              ("vendi", "Vendi score (diversity) ↑"), ("fd", "FD_shapes-cnn ↓")]
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3))
    for ax, (key, title) in zip(axes, panels):
        ax.plot(scales, [r[key] for r in rows], marker="o")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("guidance scale w")
    fig.suptitle("cddpm on shapes: what the guidance scale trades", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


@pytest.mark.large
def test_guidance_curve_of_the_conditional_ddpm_on_shapes(pinned_benchmark):
    steps = int(os.environ.get("AIGC_GUIDANCE_STEPS", "4000"))
    shapes = load_dataset("shapes")
    cls = MODELS.get("cddpm")
    torch.manual_seed(0)
    model = cls(default_config(cls, shapes.image_shape), shapes.image_shape, shapes.num_classes,
                factor_sizes=shapes.factor_sizes)
    model.fit(shapes.train_x, shapes.train_y, steps=steps, batch_size=64, seed=0)
    extractor = classifier_extractor(shapes)
    trained = np.setdiff1d(np.arange(shapes.num_classes), shapes.meta["heldout_labels"])
    requests = np.random.default_rng(0).choice(trained, 360)
    reference = extractor.extract(shapes.test_x)["features"]
    rows = pinned_benchmark.pedantic(guidance_curve, args=(model, requests, shapes.meta, extractor, reference),
                                     rounds=1, iterations=1)
    pinned_benchmark.extra_info.update(guidance_curve=rows, train_steps=steps)
    for r in rows:
        print({k: round(v, 3) for k, v in r.items()})
    plot(rows, FIGURE)
    assert [r["scale"] for r in rows] == [0.0, 1.0, 2.0, 4.0, 8.0]
