"""The `disentanglement` metric as the suite runs it: latents found by the image track for encoder
and code models on shapes, scored against the world's factors, and skipped everywhere else."""
from __future__ import annotations

import numpy as np
import pytest

from aigc_eval.data import load_dataset
from aigc_eval.errors import UserError
from aigc_eval.harness.tracks import latent_factors
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.metrics.base import LatentFactors
from aigc_eval.models import MODELS, default_config
from aigc_eval.worlds.shapes import ShapesWorld


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


def eval_set(shapes, latents, seed=0):
    return ImageEvalSet(generated=shapes.test_x[:8], reference=shapes.test_x[:8], train=shapes.train_x[:8],
                        extractor=None, seed=seed, latents=latents, dataset_meta=shapes.meta)


def model(name, shapes, steps=0):
    cls = MODELS.get(name)
    m = cls(default_config(cls, shapes.image_shape), shapes.image_shape, shapes.num_classes,
            **({"factor_sizes": shapes.factor_sizes} if cls.conditional else {}))
    if steps:
        m.fit(shapes.train_x, shapes.train_y, steps=steps, batch_size=32, seed=0)
    return m


def test_factors_as_latents_score_one_and_noise_scores_near_zero(shapes):
    factors = ShapesWorld.factors_of(shapes.test_y)
    rng = np.random.default_rng(0)
    perfect = build_metric("disentanglement").compute(
        eval_set(shapes, LatentFactors(factors + rng.normal(0, 0.05, factors.shape), factors, "encoder")))
    noise = build_metric("disentanglement").compute(
        eval_set(shapes, LatentFactors(rng.normal(size=(len(factors), 6)), factors, "encoder")))
    got, chance = {s.name: s.value for s in perfect}, {s.name: s.value for s in noise}
    assert set(got) == {"mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap"}
    assert min(got.values()) > 0.9
    assert chance["mig"] < 0.05 and chance["dci_disentanglement"] < 0.2 and chance["sap"] < 0.05
    sig = str(perfect[0].signature)
    assert "src:encoder" in sig and "factors:shape+colour+size+position" in sig and f"n_real:{len(factors)}" in sig and "ext:encoder" in sig


def test_constant_factors_are_left_out_and_named_in_the_signature(shapes):
    factors = ShapesWorld.factors_of(shapes.test_y)
    factors[:, 2] = 0  # every sample read as small
    scores = build_metric("disentanglement").compute(eval_set(shapes, LatentFactors(factors * 1.0, factors, "codes")))
    assert "factors:shape+colour+position" in str(scores[0].signature)
    assert {s.name: s.value for s in scores}["mig"] > 0.9


def test_not_applicable_without_latents(shapes):
    assert build_metric("disentanglement").compute(eval_set(shapes, None)) == []


@pytest.mark.parametrize("options, message", [({"num_bins": 1}, "num_bins"), ({"train_fraction": 1.0}, "train_fraction")])
def test_bad_options_are_user_errors(options, message):
    with pytest.raises(UserError, match=message):
        build_metric("disentanglement", **options)


def test_encoder_models_encode_every_test_image_against_its_factors(shapes):
    for name in ("vae", "cvae"):
        found = latent_factors(model(name, shapes), shapes, seed=0)
        assert found.source == "encoder" and found.codes.shape[0] == len(shapes.test_x)
        np.testing.assert_array_equal(found.factors, ShapesWorld.factors_of(shapes.test_y))


def test_code_models_are_read_by_the_oracle_and_other_models_have_no_latents(shapes):
    infogan = model("infogan", shapes)
    found = latent_factors(infogan, shapes, seed=3)
    sizes = infogan.config.categorical
    assert found.source == "codes" and found.codes.shape == (len(shapes.test_x), len(sizes) + infogan.config.continuous)
    again = latent_factors(infogan, shapes, seed=3)
    np.testing.assert_array_equal(found.codes, again.codes)  # seeded
    assert latent_factors(model("dcgan", shapes), shapes, seed=0) is None
    assert latent_factors(model("vae", shapes), load_dataset("digits"), seed=0) is None  # digits: one factor

