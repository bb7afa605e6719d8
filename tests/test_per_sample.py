"""Per-sample scores (issue 14 §7): memorization's nearest training image and the shapes oracle's
verdict for every generated sample, as a DataFrame and as `score --per-sample FILE.csv`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import aigc_eval
from aigc_eval.data import load_dataset
from aigc_eval.worlds.shapes import ShapesWorld
from test_cli import assert_user_error, cli

METRICS = ["memorization", "shapes_oracle"]


@pytest.fixture(scope="module")
def probe():
    """20 real test renderings, 4 uniform-noise canvases and 4 exact copies of training images."""
    shapes = load_dataset("shapes")
    rng = np.random.default_rng(0)
    copied = np.array([3, 50, 700, 1200])
    images = np.concatenate([shapes.test_x[:20], rng.integers(0, 256, (4, *shapes.test_x.shape[1:]), dtype=np.uint8),
                             shapes.train_x[copied]])
    return shapes, images, copied


def test_every_sample_gets_its_oracle_verdict_and_nearest_training_image(probe):
    shapes, images, copied = probe
    result = aigc_eval.evaluate(images, "shapes", metrics=METRICS, extractor="random-cnn", log=lambda m: None)
    table = result.per_sample()
    assert list(table["sample"]) == list(range(28))
    assert {"oracle_verdict", "oracle_reason", "oracle_read", "oracle_rms", "nearest_train_distance",
            "nearest_train_index", "memorized"} <= set(table.columns)
    real, noise, copies = table.iloc[:20], table.iloc[20:24], table.iloc[24:]
    assert (noise["oracle_verdict"] != "valid").all() and (noise["oracle_reason"] != "").all()
    assert (real["oracle_verdict"] == "valid").mean() >= 0.9
    names = np.asarray(ShapesWorld.class_names())
    valid = real[real["oracle_verdict"] == "valid"]
    assert list(valid["oracle_read"]) == list(names[shapes.test_y[valid.index]])  # the factors read are right
    # ~0 (float32 distances by |a|^2 + |b|^2 - 2ab), against > 0.5 for any other sample here
    assert list(copies["nearest_train_index"]) == list(copied) and (copies["nearest_train_distance"] < 0.01).all()
    assert (table.iloc[:24]["nearest_train_distance"] > 0.5).all()
    assert copies["memorized"].all() and not noise["memorized"].any()
    # the rows agree with the set-level scores
    assert result["hallucination_rate"] == pytest.approx((table["oracle_verdict"] != "valid").mean())
    assert result["memorization"] == pytest.approx(table["memorized"].astype(bool).mean())


def test_score_writes_the_per_sample_csv(tmp_path, probe):
    _, images, _ = probe
    np.savez(tmp_path / "gen.npz", samples=images.transpose(0, 2, 3, 1))
    out = tmp_path / "rows.csv"
    proc = cli("score", "--generated", str(tmp_path / "gen.npz"), "--reference", "shapes", "--metrics",
               ",".join(METRICS), "--extractor", "random-cnn", "--per-sample", str(out), "--out", str(tmp_path / "o"),
               "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = pd.read_csv(out)
    assert len(rows) == 28 and (rows["oracle_verdict"].iloc[20:24] != "valid").all()
    assert not list(tmp_path.glob(".rows.csv*"))  # no temporary file left beside it
    bad = cli("score", "--generated", str(tmp_path / "gen.npz"), "--reference", "shapes",
              "--per-sample", str(tmp_path / "missing" / "rows.csv"), "--out", str(tmp_path / "o"))
    assert_user_error(bad, "--per-sample", "does not exist")
    bad = cli("score", "--generated", str(tmp_path / "gen.npz"), "--reference", "shapes",
              "--per-sample", str(tmp_path / "rows.txt"), "--out", str(tmp_path / "o"))
    assert_user_error(bad, "--per-sample", ".csv")


def test_paired_scores_are_per_pair_too(tmp_path):
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 256, (6, 3, 16, 16), dtype=np.uint8)
    result = aigc_eval.evaluate(truth[::-1].copy(), truth, paired=True, metrics=["recon"], extractor="random-cnn",
                                log=lambda m: None)
    table = result.per_sample()
    assert table["paired_psnr"].mean() == pytest.approx(result["psnr"])
    assert table["paired_ssim"].mean() == pytest.approx(result["ssim"])
