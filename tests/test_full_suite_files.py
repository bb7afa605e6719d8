"""`aigc-eval run --suite full --data-root DIR` on small files written in the real formats.

The test reads the real full.toml and shrinks only its budgets (steps, samples, one seed), so the
datasets, every model and the calibration rows are exactly the full suite's.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aigc_eval.harness.suite import SUITES_DIR
from formats import write_cifar10, write_mnist_idx

SHRINK = {"seeds = [0, 1, 2]": "seeds = [0]", "steps = 20000": "steps = 2", "checkpoint_every = 2000": "checkpoint_every = 2",
          "batch_size = 128": "batch_size = 8", "n_samples = 5000": "n_samples = 10", "checkpoint_samples = 2000": "checkpoint_samples = 10"}


@pytest.mark.slow
def test_full_suite_runs_on_real_format_files(tmp_path):
    root = tmp_path / "data"
    write_mnist_idx(root, n_train=60, n_test=40, kind="mnist", seed=1)
    write_mnist_idx(root, n_train=60, n_test=40, kind="fashion", seed=2, gz=True)
    write_cifar10(root, n_train=60, n_test=40, seed=3)
    text = (SUITES_DIR / "full.toml").read_text()
    for old, new in SHRINK.items():
        assert old in text, f"full.toml changed: {old!r} not found"
        text = text.replace(old, new)
    suite = tmp_path / "full-tiny.toml"
    suite.write_text(text)
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "aigc_eval", "run", "--suite", str(suite), "--data-root", str(root),
                           "--out", str(out), "--no-progress", "--no-history"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "latest" / "results.json").read_text())
    cells = results["cells"]
    assert {c["dataset"] for c in cells} == {"mnist", "fashion_mnist", "cifar10"}
    assert {c["model"] for c in cells} >= {"dcgan", "vae", "wgan_gp", "sngan", "cgan", "beta_vae", "cvae", "noise"}
    assert [c for c in cells if c["status"] != "done"] == []
    for ds, shape in (("mnist", "n_gen:10"), ("cifar10", "n_gen:10")):
        fd = next(c for c in cells if c["dataset"] == ds and c["model"] == "dcgan")["metrics"][f"fd_{ds}-cnn"]
        assert f"ext:{ds}-cnn@" in fd["signature"] and shape in fd["signature"]
    assert (out / "latest" / "leaderboard.html").exists()


def test_full_suite_without_files_says_where_to_put_them(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aigc_eval", "run", "--suite", "full", "--data-root", str(tmp_path),
                           "--out", str(tmp_path / "o"), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "MNIST/raw/train-images-idx3-ubyte" in proc.stderr
