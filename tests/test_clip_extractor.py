"""The `clip` extractor, end to end, on an archive of the real format with random weights.

OpenAI's CLIP files (ViT-B-32.pt, ...) are TorchScript archives; torch-fidelity rebuilds the image
encoder from the archive's state dict, inferring the architecture (ViT or ResNet, width, layers,
patch, resolution) from its keys and shapes. Nothing can be downloaded here, so the test writes a
tiny ViT archive with the same keys (1 layer, width 64, patch 16, 32x32 input, 16-d embedding),
which exercises the same loading and forward code in a fraction of a second.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch_fidelity.feature_extractor_clip import CLIPVisual, FeatureExtractorCLIP

import aigc_eval
from aigc_eval.errors import UserError
from aigc_eval.features.fidelity import clip_extractor, default_clip_weights_path
from aigc_eval.runtime import file_hash
from test_cli import assert_user_error, cli

EMBED = 16


class _TinyCLIP(nn.Module):
    """The keys build_model reads: visual.* (a ViT) and text_projection (its width is the embedding)."""

    def __init__(self):
        super().__init__()
        self.visual = CLIPVisual(EMBED, image_resolution=32, vision_layers=1, vision_width=64,
                                 vision_patch_size=16).visual
        self.text_projection = nn.Parameter(torch.randn(64, EMBED))

    def forward(self, x):
        return self.visual(x)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "ViT-tiny.pt"
    torch.manual_seed(0)
    torch.jit.trace(_TinyCLIP().eval(), torch.randn(2, 3, 32, 32)).save(str(path))
    return path


def test_clip_reads_the_archive_and_matches_torch_fidelity(clip_file, digits):
    extractor = clip_extractor(weights_path=clip_file)
    assert (extractor.name, extractor.metric_name, extractor.tag) == ("clip", "fd_clip", f"clip@{file_hash(clip_file)}")
    assert extractor.info["architecture"] == "VisionTransformer" and extractor.info["input_resolution"] == 32
    grey = digits.test_x[:70]  # more than one chunk of 64
    out = extractor.extract(grey, batch_size=100)
    assert out["features"].shape == (70, EMBED) and out["logits"].shape == (70, 0)
    assert np.abs(out["features"][0] - out["features"][1]).max() > 1e-3  # not collapsed
    direct = FeatureExtractorCLIP("clip-vit-b-32", ["clip"], feature_extractor_weights_path=str(clip_file))
    with torch.no_grad():
        expected = direct(torch.from_numpy(np.repeat(grey, 3, axis=1)))[0].numpy()
    np.testing.assert_allclose(out["features"], expected, rtol=1e-5, atol=1e-6)


def check_evaluate_signs_fd_and_ranks_noise_last(digits, extractor: str, weights) -> dict:
    """evaluate() with `extractor`, a network without classes loaded from `weights`, on real digits and on
    noise; returns FD's score of the real digits."""
    real = digits.train_x[:200]
    noise = np.random.default_rng(0).integers(0, 256, real.shape, dtype=np.uint8)
    scored = {what: aigc_eval.evaluate(images, "digits", metrics=["fd", "kid", "mode_coverage"], extractor=extractor,
                                       extractor_weights=weights, log=lambda m: None)
              for what, images in (("real", real), ("noise", noise))}
    fd = {what: r.scores[f"fd_{extractor}"] for what, r in scored.items()}
    assert f"ext:{extractor}@{file_hash(weights)}" in fd["real"]["signature"]
    assert fd["noise"]["value"] > 3 * fd["real"]["value"] > 0
    kid = {what: r["kid"] for what, r in scored.items()}
    assert abs(kid["real"]) < 0.01 < kid["noise"]  # feat:rms scaling: readable on any extractor
    assert "mode_coverage" not in scored["real"].scores  # the network has no classes of digits
    return fd["real"]


def test_evaluate_with_clip_signs_fd_clip_and_ranks_noise_last(clip_file, digits):
    check_evaluate_signs_fd_and_ranks_noise_last(digits, "clip", clip_file)


def test_missing_or_bad_clip_files_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_EVAL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError) as err:
        clip_extractor()
    assert str(default_clip_weights_path()) in str(err.value) and "ViT-B-32.pt" in str(err.value)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not an archive")
    with pytest.raises(UserError, match="could not be loaded"):
        clip_extractor(weights_path=bad)


def test_extractor_weights_option_is_checked_before_any_data(tmp_path, clip_file):
    gen = tmp_path / "gen.npz"
    np.savez(gen, x=np.zeros((8, 28, 28, 1), np.uint8))
    base = ["score", "--generated", str(gen), "--reference", "digits", "--out", str(tmp_path / "o")]
    assert_user_error(cli(*base, "--extractor", "clip", "--extractor-weights", str(tmp_path / "none.pt")),
                      "--extractor-weights", "none.pt", "no such file")
    assert_user_error(cli(*base, "--extractor-weights", str(clip_file)),
                      "domain-cnn loads no weights file", "clip")
