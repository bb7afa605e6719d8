"""The CLI: user errors are one line on stderr with exit code 2, never a traceback or a partial file."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "aigc_eval", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def assert_user_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("aigc-eval: error: "), proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_list_names_everything():
    proc = cli("list")
    assert proc.returncode == 0
    for name in ("digits", "dcgan", "vae", "fd", "kid", "smoke", "default"):
        assert name in proc.stdout


@pytest.mark.parametrize("args, fragments", [
    (["run", "--suite", "nosuch"], ["unknown suite 'nosuch'", "smoke"]),
    (["run", "--suite", "missing.toml"], ["missing.toml: no such file"]),
    (["run", "--suite", "smoke", "--device", "cuda"], ["--device cuda"]),
    (["run", "--suite", "smoke", "--threads", "0"], ["--threads"]),
    (["score", "--generated", "nope.npz", "--reference", "digits"], ["nope.npz does not exist"]),
    (["run", "--suite", "smoke", "--baseline", "nobase.json"], ["--baseline", "nobase.json: no such file"]),
    (["score", "--generated", "x.npz", "--reference", "imagenet"], ["--reference imagenet"]),
])
def test_user_errors_are_one_line(tmp_path, args, fragments):
    if "--device" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    if "x.npz" in args:
        np.savez(tmp_path / "x.npz", samples=np.zeros((4, 16, 16, 1), np.uint8))
    proc = cli(*args, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_user_error(proc, *fragments)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*/results.json"))


def test_bad_suite_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[[datasets]]\nname = 'digits'\nmodels = ['dcgan', 'nosuchgan']\n")
    assert_user_error(cli("run", "--suite", str(bad), "--out", str(tmp_path / "o")),
                      "unknown model 'nosuchgan'", "valid models:", "dcgan")
    bad.write_text("this is [ not toml")
    assert_user_error(cli("run", "--suite", str(bad)), str(bad), "not a valid TOML suite")


def test_score_nan_samples_and_wrong_shape(tmp_path):
    np.savez(tmp_path / "nan.npz", samples=np.full((4, 16, 16, 1), np.nan, np.float32))
    assert_user_error(cli("score", "--generated", str(tmp_path / "nan.npz"), "--reference", "digits",
                          "--out", str(tmp_path / "o")), "nan.npz")
    np.savez(tmp_path / "big.npz", samples=np.zeros((4, 32, 32, 3), np.uint8))
    assert_user_error(cli("score", "--generated", str(tmp_path / "big.npz"), "--reference", "digits",
                          "--out", str(tmp_path / "o")), "big.npz", "3x32x32", "1x16x16")
    assert not list((tmp_path / "o").glob("*/results.json")) if (tmp_path / "o").exists() else True


def test_score_images_and_text_write_the_same_report(tmp_path):
    import json

    from aigc_eval.data import load_dataset

    digits = load_dataset("digits")
    np.savez(tmp_path / "copies.npz", samples=digits.train_x[:200].transpose(0, 2, 3, 1))
    proc = cli("score", "--generated", str(tmp_path / "copies.npz"), "--reference", "digits",
               "--out", str(tmp_path / "img"))
    assert proc.returncode == 0, proc.stderr
    cell = json.loads((tmp_path / "img" / "latest" / "results.json").read_text())["cells"][0]
    assert cell["model"] == "copies.npz" and cell["metrics"]["memorization"]["value"] == 1.0
    assert "n_gen:200" in cell["metrics"]["fd_digits-cnn"]["signature"]
    assert (tmp_path / "img" / "latest" / "leaderboard.html").is_file()

    (tmp_path / "gen.txt").write_text("alice likes bob .\n你好 世界\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("alice likes bob .\n你好 世界\n", encoding="utf-8")
    proc = cli("score", "--generated", str(tmp_path / "gen.txt"), "--reference", str(tmp_path / "ref.txt"),
               "--out", str(tmp_path / "txt"))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "txt" / "latest" / "results.json").read_text())["cells"][0]["metrics"]
    assert metrics["rouge1"]["value"] == 1.0 and metrics["chrf"]["value"] == 100.0
