"""Extractors for references without labels (issue 14 §4): ssl-cnn replaces the one-class
classifier, a reference folder is scored with all its images, and every extractor gets the
calibration-ordering diagnostic in results.json and the report."""
from __future__ import annotations

import html
import json

import numpy as np
import pytest
from PIL import Image

import aigc_eval
from aigc_eval.data import load_dataset
from aigc_eval.features.diagnostic import DEGRADATIONS, calibration_ordering, gaussian_blur


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def flat_folder(path, images):
    path.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(path / f"{i:04d}.png")
    return path


def test_a_flat_folder_trains_ssl_cnn_scores_all_its_images_and_is_diagnosed(tmp_path, digits, monkeypatch):
    monkeypatch.setenv("AIGC_EVAL_CACHE", str(tmp_path / "cache"))
    folder = flat_folder(tmp_path / "ref", digits.test_x[:200])
    logged = []
    results = aigc_eval.evaluate(digits.train_x[:60], folder, metrics=["fd", "kid"], log=logged.append)
    assert any("no labels (one class)" in line and "ssl-cnn" in line for line in logged)
    signature = results.scores["fd_ssl-cnn"]["signature"]
    assert "ext:ssl-cnn@" in signature and "n_ref:200" in signature  # every image, not 10% of them
    diagnostic = results.ctx.extractors[0].info["diagnostic"]
    assert diagnostic["monotone"] and diagnostic["n"] == 100
    assert diagnostic["ratios"]["noise"] > diagnostic["ratios"]["blur2"] > diagnostic["ratios"]["blur1"] > 1
    run_dir = results.write(tmp_path / "out", history=False, log=lambda m: None)
    stored = json.loads((run_dir / "results.json").read_text())["extractors"]["folder"]
    assert stored["diagnostic"]["summary"] == diagnostic["summary"] and stored["tag"].startswith("ssl-cnn@")
    assert html.escape(diagnostic["summary"]) in (run_dir / "leaderboard.html").read_text()
    # cached by content: the same folder does not train again and gives the same weights
    import aigc_eval.features.ssl as ssl
    import aigc_eval.harness.tracks as tracks

    monkeypatch.setattr(ssl, "_train", lambda *a, **k: pytest.fail("ssl-cnn trained again"))
    tracks._CONTEXTS.clear()
    again = aigc_eval.evaluate(digits.train_x[:60], folder, metrics=["fd"], log=lambda m: None)
    assert again.scores["fd_ssl-cnn"] == results.scores["fd_ssl-cnn"]


def test_a_labelled_folder_keeps_the_domain_classifier_and_all_its_images(tmp_path, digits):
    root = tmp_path / "classes"
    root.mkdir()
    for label in (0, 1):
        flat_folder(root / str(label), digits.test_x[digits.test_y == label][:20])
    results = aigc_eval.evaluate(digits.train_x[:20], root, metrics=["fd"], log=lambda m: None)
    (name, score), = results.scores.items()
    assert name == "fd_folder-cnn" and "n_ref:40" in score["signature"]
    assert "test_accuracy" in results.ctx.extractors[0].info and "diagnostic" in results.ctx.extractors[0].info


def test_calibration_ordering_by_hand(digits):
    """FD of each degradation against the other half, as the diagnostic says, for the random baseline."""
    from aigc_eval.features import build_extractor
    from aigc_eval.metrics.fd import frechet_distance_from_features

    ext = build_extractor("random-cnn", digits)
    images = digits.test_x[:120]
    found = calibration_ordering(ext, images, seed=5)
    order = np.random.default_rng(5).permutation(120)
    a, b = images[np.sort(order[:60])], images[np.sort(order[60:])]
    blurred = gaussian_blur(a, 2.0)
    assert found["fd"]["blur2"] == frechet_distance_from_features(ext.extract(blurred)["features"],
                                                                  ext.extract(b)["features"])
    assert list(found["fd"]) == list(DEGRADATIONS) and found["monotone"]
    assert blurred.dtype == np.uint8 and np.abs(blurred.astype(int) - a).mean() > 5  # it does blur
