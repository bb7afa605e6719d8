"""Paired image metrics (issue 14 §6): generated images scored one to one against reference images
with PSNR and SSIM, paired by file name or, with --paired, by order."""
from __future__ import annotations

import numpy as np
import pytest

import aigc_eval
from aigc_eval.errors import UserError
from aigc_eval.metrics.recon import psnr_per_image, ssim_per_image
from formats import write_image_files
from test_cli import assert_user_error, cli

FAST = dict(extractor="random-cnn", metrics=["recon"], log=lambda m: None)


@pytest.fixture(scope="module")
def pairs():
    """Ground truth and a noisy restoration of it: 12 RGB 16 x 16 images (SSIM needs >= 11 x 11)."""
    rng = np.random.default_rng(0)
    truth = rng.integers(40, 216, size=(12, 3, 16, 16)).astype(np.uint8)
    restored = np.clip(truth + rng.normal(0, 8, truth.shape), 0, 255).astype(np.uint8)
    return truth, restored


def recon_scores(result) -> dict:
    return {k: v for k, v in result.scores.items() if k.startswith(("psnr", "ssim"))}


def test_folders_of_the_same_names_pair_by_name_without_being_asked(tmp_path, pairs):
    truth, restored = pairs
    names = [f"img_{c}.png" for c in "lkjihgfedcba"]  # sorted order is not the order written
    write_image_files(tmp_path / "truth", truth, names=names)
    write_image_files(tmp_path / "restored", restored, names=names)
    result = aigc_eval.evaluate(tmp_path / "restored", tmp_path / "truth", **FAST)
    order = np.argsort(names)  # both folders are read in sorted name order
    want_psnr = psnr_per_image(truth[order], restored[order]).mean()
    want_ssim = ssim_per_image(truth[order], restored[order]).mean()
    scores = recon_scores(result)
    assert scores["psnr"]["value"] == pytest.approx(want_psnr, abs=1e-9)
    assert scores["ssim"]["value"] == pytest.approx(want_ssim, abs=1e-9)
    assert 25 < want_psnr < 40 and 0.5 < want_ssim < 1  # noise of sigma 8: clearly imperfect, clearly related
    assert "pairing:names" in scores["psnr"]["signature"] and "n_pairs:12" in scores["psnr"]["signature"]
    assert result.cell.config["pairing"] == "names"


def test_paired_by_order_gives_the_same_numbers_as_by_name_and_order_matters(tmp_path, pairs):
    truth, restored = pairs
    write_image_files(tmp_path / "truth", truth)
    write_image_files(tmp_path / "restored", restored)
    by_name = recon_scores(aigc_eval.evaluate(tmp_path / "restored", tmp_path / "truth", **FAST))
    by_order = recon_scores(aigc_eval.evaluate(restored, truth, paired=True, **FAST))
    assert {k: v["value"] for k, v in by_order.items()} == {k: v["value"] for k, v in by_name.items()}
    assert "pairing:order" in by_order["psnr"]["signature"]
    shuffled = recon_scores(aigc_eval.evaluate(restored[::-1].copy(), truth, paired=True, **FAST))
    assert shuffled["psnr"]["value"] < by_order["psnr"]["value"] - 10
    assert shuffled["ssim"]["value"] < by_order["ssim"]["value"] - 0.3
    # identical images: PSNR at its cap, SSIM exactly 1
    same = recon_scores(aigc_eval.evaluate(truth, truth, paired=True, **FAST))
    assert same["psnr"]["value"] == 100.0 and same["ssim"]["value"] == pytest.approx(1.0, abs=1e-12)


def test_unpaired_inputs_get_no_paired_scores(tmp_path, pairs):
    truth, restored = pairs
    write_image_files(tmp_path / "truth", truth)
    write_image_files(tmp_path / "restored", restored, names=[f"other_{i}.png" for i in range(12)])
    result = aigc_eval.evaluate(tmp_path / "restored", tmp_path / "truth", extractor="random-cnn", metrics=["fd"],
                                log=lambda m: None)
    assert not recon_scores(result) and "pairing" not in result.cell.config
    unpaired = aigc_eval.evaluate(restored, truth, paired=False, extractor="random-cnn", log=lambda m: None)
    assert not recon_scores(unpaired)


def test_pairs_that_cannot_be_made_are_one_line_errors(tmp_path, pairs):
    truth, restored = pairs
    for call, fragments in [
        (lambda: aigc_eval.evaluate(restored[:10], truth, paired=True, **FAST),
         ("--paired", "10 generated images but 12 reference images")),
        (lambda: aigc_eval.evaluate(restored, "digits", paired=True, **FAST), ("--paired", "digits", "dataset")),
        (lambda: aigc_eval.evaluate(restored, truth, paired="yes", **FAST), ("paired", "True, False or None")),
    ]:
        with pytest.raises(UserError) as info:
            call()
        assert "\n" not in str(info.value)
        assert all(f in str(info.value) for f in fragments), str(info.value)


def test_cli_score_paired(tmp_path, pairs):
    truth, restored = pairs
    np.savez(tmp_path / "truth.npz", samples=truth.transpose(0, 2, 3, 1))
    np.savez(tmp_path / "restored.npz", samples=restored.transpose(0, 2, 3, 1))
    np.savez(tmp_path / "fewer.npz", samples=restored[:5].transpose(0, 2, 3, 1))
    proc = cli("score", "--generated", str(tmp_path / "restored.npz"), "--reference", str(tmp_path / "truth.npz"),
               "--paired", "--extractor", "random-cnn", "--metrics", "recon", "--out", str(tmp_path / "out"),
               "--no-progress")
    assert proc.returncode == 0, proc.stderr
    want = psnr_per_image(truth, restored).mean()
    assert f"{want:.2f}" in proc.stdout or f"{want:.3g}" in proc.stdout, proc.stdout
    bad = cli("score", "--generated", str(tmp_path / "fewer.npz"), "--reference", str(tmp_path / "truth.npz"),
              "--paired", "--out", str(tmp_path / "out2"))
    assert_user_error(bad, "--paired", "5 generated images but 12 reference images")
