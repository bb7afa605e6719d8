"""The unlabelled diagnostic (issue 14 §4) on flat folders of 900 digits and shapes images:
FD(real held-out) < FD(blur σ1) < FD(blur σ2) < FD(noise), and the ratios to FD(real), for
ssl-cnn (what a flat folder gets), random-cnn and the labelled domain CNN of the dataset.

    .venv/bin/pytest bench/test_bench_extractor_diagnostic.py --benchmark-only -s
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import aigc_eval
from aigc_eval.data import load_dataset
from aigc_eval.features.diagnostic import calibration_ordering
from aigc_eval.harness.tracks import get_context

N_IMAGES = 900


@pytest.mark.parametrize("dataset", ["digits", "shapes"])
def test_calibration_ordering_on_a_flat_folder(pinned_benchmark, tmp_path, monkeypatch, dataset):
    monkeypatch.setenv("AIGC_EVAL_CACHE", str(tmp_path / "cache"))  # ssl-cnn trains, timed
    ds = load_dataset(dataset)
    images = np.concatenate([ds.test_x, ds.train_x])[:N_IMAGES]
    folder = tmp_path / f"{dataset}-flat"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(folder / f"{i:04d}.png")
    found = {}

    def diagnose_all():
        for extractor in ("domain-cnn", "random-cnn"):  # domain-cnn on a flat folder: ssl-cnn
            result = aigc_eval.evaluate(images[:100], folder, metrics=["fd"], extractor=extractor, log=lambda m: None)
            ext = result.ctx.extractors[0]
            found[ext.name] = ext.info["diagnostic"]
            assert len(result.ctx.reference[0]) == N_IMAGES
        labelled = get_context(dataset, {}, log=lambda m: None).extractors[0]
        found[f"{labelled.name} (labelled)"] = calibration_ordering(labelled, images)

    pinned_benchmark.pedantic(diagnose_all, rounds=1, iterations=1)
    for name, diagnostic in found.items():
        print(f"\n{dataset} flat folder, {name}: {diagnostic['summary']}")
        pinned_benchmark.extra_info[name] = {k: diagnostic[k] for k in ("ratios", "monotone", "n")}
    assert found["ssl-cnn"]["monotone"]
