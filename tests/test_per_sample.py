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


def test_worst_offenders_take_each_reason_in_turn_and_the_nearest_copies_first():
    from aigc_eval.per_sample import memorization_offenders, oracle_offenders

    verdict = np.array(["valid", "hallucinated", "hallucinated", "ambiguous", "hallucinated", "valid", "hallucinated"],
                       dtype=object)
    reason = np.array(["", "two objects", "two objects", "two readings", "empty canvas", "", "two objects"],
                      dtype=object)
    found = oracle_offenders({"oracle_verdict": verdict, "oracle_reason": reason,
                              "oracle_read": np.array(["r"] * 7, dtype=object)}, shown=3)
    assert (found["n"], found["n_rejected"]) == (7, 5)
    # the commonest reason first, then the next reason, before the commonest's second; ambiguous last
    assert [s["sample"] for s in found["samples"]] == [1, 4, 2]
    assert oracle_offenders({"oracle_verdict": verdict, "oracle_reason": reason, "oracle_read": reason},
                            shown=8)["samples"][-1] == {"sample": 3, "verdict": "ambiguous", "reason": "two readings",
                                                        "read": "two readings"}
    distance = np.array([0.5, np.nan, 0.0, 0.2, np.nan])  # NaN: outside memorization's capped subset
    nearest = memorization_offenders({"nearest_train_distance": distance,
                                      "nearest_train_index": np.array([9, -1, 4, 7, -1]),
                                      "memorized": np.array([False, None, True, True, None], dtype=object)}, shown=2)
    assert nearest == {"n_scored": 3, "n_memorized": 2, "samples": [
        {"sample": 2, "train_index": 4, "distance": 0.0, "memorized": True},
        {"sample": 3, "train_index": 7, "distance": 0.2, "memorized": True}]}
    assert oracle_offenders({}) is None and memorization_offenders({}) is None


def test_a_run_keeps_per_sample_csvs_and_shows_copies_beside_their_training_images(smoke_run):
    """The smoke run's copy-train row on digits: every sample is a training image, so the offenders'
    two memorization rows are pixel-identical; noise on shapes: the oracle rejects all of it."""
    from PIL import Image

    run_dir, results = smoke_run
    cells = {(c["model"], c["dataset"], c["seed"]): c for c in results["cells"]}
    copy = cells[("copy-train", "digits", 0)]
    found = copy["offenders"]
    assert found["rows"] == ["nearest", "training"]
    assert found["memorization"]["n_memorized"] == found["memorization"]["n_scored"] > 0
    assert all(s["distance"] == 0.0 for s in found["memorization"]["samples"])
    png = np.asarray(Image.open(run_dir / copy["offenders_png"]))
    h = found["tile"][0] * 2 + 2  # make_grid_png: 1 px gap after each tile, scaled 2x
    assert png.shape[0] == 2 * h and np.array_equal(png[:h], png[h:])
    table = pd.read_csv(run_dir / copy["per_sample_csv"])
    assert len(table) == 100 and table["memorized"].all()
    noise = cells[("noise", "shapes", 0)]["offenders"]
    assert noise["rows"][0] == "oracle" and noise["oracle"]["n_rejected"] == noise["oracle"]["n"] == 100
    assert all(s["verdict"] == "hallucinated" for s in noise["oracle"]["samples"])
    assert all("offenders" not in c for c in results["cells"] if c["kind"] == "text")


def test_score_report_shows_the_grid_the_offenders_and_the_csv(tmp_path, probe):
    """`score` writes what a run's cell shows: the grid with the oracle's reading of each tile, the
    offenders (the 4 noise canvases rejected; the 4 copies nearest, above their training images) and
    the per-sample CSV; a streamed generator keeps only its first 64 images, for the grid."""
    from PIL import Image

    shapes, images, copied = probe
    result = aigc_eval.evaluate(images, "shapes", metrics=METRICS, extractor="random-cnn", log=lambda m: None)
    run_dir = result.write(tmp_path / "out", history=False, log=lambda m: None)
    cell = result.results["cells"][0]
    assert {"samples_png", "offenders_png", "per_sample_csv"} <= set(cell)
    tiles = cell["sample_grid"]["tiles"]
    assert len(tiles) == 28 and [t["verdict"] != "valid" for t in tiles[20:24]] == [True] * 4
    found = cell["offenders"]
    assert found["rows"] == ["oracle", "nearest", "training"]
    assert sorted(s["sample"] for s in found["oracle"]["samples"][:4]) == [20, 21, 22, 23]
    assert sorted(s["train_index"] for s in found["memorization"]["samples"][:4]) == sorted(copied)
    png = np.asarray(Image.open(run_dir / cell["offenders_png"]))
    h, w = found["tile"][0] * 2 + 2, found["tile"][1] * 2 + 2  # make_grid_png: 1 px gaps, scaled 2x
    assert png.shape[0] == 3 * h
    assert np.array_equal(png[h:2 * h, :4 * w], png[2 * h:, :4 * w])  # the copies are their training images
    assert len(pd.read_csv(run_dir / cell["per_sample_csv"])) == 28
    html = (run_dir / "leaderboard.html").read_text()
    assert 'class="offenders"' in html and "rejected by the oracle: 4 of 28" in html

    def generator(n, rng):
        return shapes.test_x[:n]

    streamed = aigc_eval.evaluate(generator, "shapes", n=100, metrics=["fd"], extractor="random-cnn",
                                  batch_size=30, log=lambda m: None)
    run_dir = streamed.write(tmp_path / "out", history=False, log=lambda m: None)
    cell = streamed.results["cells"][0]
    assert "offenders" not in cell and len(cell["sample_grid"]["tiles"]) == 64
    grid = np.asarray(Image.open(run_dir / cell["samples_png"]))
    assert grid.shape[:2] == (8 * (shapes.test_x.shape[2] + 1) * 2, 8 * (shapes.test_x.shape[3] + 1) * 2)
