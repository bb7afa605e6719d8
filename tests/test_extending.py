"""Extending aigc-eval from outside the package: a metric and a feature extractor, each one definition
plus one register line (README "Extending"), run through `aigc-eval score`; every registry checks
what it is given."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from aigc_eval.cli import main
from aigc_eval.data import DATASETS, load_dataset
from aigc_eval.errors import UserError
from aigc_eval.features import EXTRACTORS, FeatureExtractor, build_extractor, register_extractor
from aigc_eval.harness.evaluate import evaluate_samples
from aigc_eval.harness.suite import parse_suite
from aigc_eval.harness.tracks import get_context
from aigc_eval.metrics import METRICS, Metric
from aigc_eval.models import MODELS


# -- the README's two examples --------------------------------------------------------------------

class MeanFeatureGap(Metric):
    """Distance between the mean features of generated and reference images (lower is better)."""

    name = "mean_feature_gap"

    def compute(self, eval_set):
        gap = np.linalg.norm(eval_set.gen["features"].mean(0) - eval_set.ref["features"].mean(0))
        return [self.score(self.name, gap, eval_set.signature(self.name), False, self.__doc__)]


class Pixels(nn.Module):
    """Features: the image's 4 x 4 average-pooled pixels in [0, 1]; no logits."""

    def forward(self, x):
        feats = nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1)
        return feats, torch.zeros(len(x), 0)


def pixel_extractor(dataset, device="cpu", log=print):
    return FeatureExtractor("pixels4", "v1", Pixels(), metric_name="fd_pixels4", device=device)


@pytest.fixture
def registered():
    METRICS.register("mean_feature_gap", MeanFeatureGap)
    register_extractor("pixels4", pixel_extractor)
    yield
    del METRICS._entries["mean_feature_gap"], EXTRACTORS._entries["pixels4"]


def _score(tmp_path, capsys, name, images) -> dict:
    path = tmp_path / f"{name}.npz"
    np.savez(path, samples=images.transpose(0, 2, 3, 1))  # N x H x W x C, as `score` reads an .npz
    out = tmp_path / f"out-{name}"
    code = main(["score", "--generated", str(path), "--reference", "digits", "--metrics", "mean_feature_gap,fd",
                 "--extractor", "pixels4", "--threads", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    (cell,) = json.loads((out / "latest" / "results.json").read_text())["cells"]
    return cell["metrics"]


def test_a_metric_and_an_extractor_registered_outside_the_package_run_through_score(registered, tmp_path, capsys):
    digits = load_dataset("digits")
    real = _score(tmp_path, capsys, "real", digits.train_x[:200])
    noise = _score(tmp_path, capsys, "noise", np.random.default_rng(0).integers(0, 256, (200, 1, 16, 16), np.uint8))
    assert set(real) == {"mean_feature_gap", "fd_pixels4"}  # FD names itself after the extractor
    assert "|ext:pixels4@v1|" in real["mean_feature_gap"]["signature"]
    assert real["fd_pixels4"]["signature"].startswith("fd|ext:pixels4@v1|n_gen:200|")
    for metric in ("mean_feature_gap", "fd_pixels4"):
        assert 0 <= real[metric]["value"] < noise[metric]["value"] / 10, metric


def test_every_registry_checks_what_it_is_given():
    with pytest.raises(TypeError, match="metric 'not-a-metric': expected a subclass of aigc_eval.metrics.base.Metric"):
        METRICS.register("not-a-metric", dict)
    with pytest.raises(TypeError, match=r"feature extractor 'no-log': .* must take dataset, device, log \(it lacks log\)"):
        register_extractor("no-log", lambda dataset, device="cpu": None)
    with pytest.raises(TypeError, match="dataset 'three': expected a callable"):
        DATASETS.register("three", 3)
    with pytest.raises(TypeError, match=r"model 'half': Half does not implement aigc_eval.models.TrainableModel: "
                                        r"no DEFAULTS, setup, train_step, fit"):
        MODELS.register("half", type("Half", (), {"kind": "image", "conditional": False, "calibration": False,
                                                   "sample": lambda self, n: None}))
    for registry in (METRICS, EXTRACTORS, DATASETS, MODELS):
        assert not {"not-a-metric", "no-log", "three", "half"} & set(registry.names())


def test_an_extractor_factory_must_return_an_extractor(monkeypatch):
    monkeypatch.setitem(EXTRACTORS._entries, "wrong", lambda dataset, device="cpu", log=print: "features")
    with pytest.raises(TypeError, match="feature extractor 'wrong' returned str, not a FeatureExtractor"):
        build_extractor("wrong", None)


def test_a_suite_gives_a_metric_its_options():
    raw = {"name": "opts", "eval": {"options": {"kid": {"subsets": 7, "subset_size": 20}}},
           "datasets": [{"name": "digits", "calibration": ["real-test"]}]}
    suite = parse_suite(raw, "opts.toml")
    assert suite.cells[0].eval["options"] == {"kid": {"subsets": 7, "subset_size": 20}}
    ctx = get_context("digits", {}, None, "cpu", log=lambda m: None)
    images = ctx.real_test[0][:60]
    (kid, kid_std) = evaluate_samples(["kid"], ctx, images, None, 0, options=suite.cells[0].eval["options"])
    assert "subsets:7|subset_size:20" in str(kid.signature)
    for bad, message in (({"kid": {"subsetz": 5}}, r"\[eval.options.kid\]: unknown option\(s\) subsetz; valid: subsets, "
                                                     "subset_size"),
                         ({"kid": {"subsets": 0}}, r"\[eval.options.kid\]: kid: expected subsets >= 1"),
                         ({"kidd": {}}, r"\[eval.options.kidd\]: unknown metric 'kidd'")):
        with pytest.raises(UserError, match=message):
            parse_suite({**raw, "eval": {"options": bad}}, "opts.toml")
