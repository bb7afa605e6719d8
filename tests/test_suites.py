"""What the built-in suites promise: which kinds of model each covers, so that they can show both
hallucination and controllability (README, "Suites")."""
from __future__ import annotations

import pytest

from aigc_eval.harness.suite import load_suite
from aigc_eval.models import MODELS

GANS = {"dcgan", "wgan_gp", "sngan", "cgan"}
VAES = {"vae", "beta_vae", "cvae"}


def models_by_dataset(suite):
    out = {}
    for cell in suite.cells:
        cls = MODELS.get(cell.model)
        if not getattr(cls, "calibration", False):
            out.setdefault(cell.dataset, set()).add(cell.model)
    return out


def is_conditional(name):
    return bool(getattr(MODELS.get(name), "conditional", False))


@pytest.mark.parametrize("name", ["default", "converged"])
def test_cpu_suites_have_a_gan_a_vae_and_a_conditional_model_per_image_dataset(name):
    suite = load_suite(name)
    assert len(suite.raw["seeds"]) >= 2  # quality comparisons report mean ± std over seeds
    models = models_by_dataset(suite)
    for dataset in ("digits", "shapes"):
        assert models[dataset] & GANS, dataset
        assert models[dataset] & VAES, dataset
        assert any(is_conditional(m) for m in models[dataset]), dataset
    assert any(is_conditional(m) for m in models["facts"])


def test_converged_suite_trains_every_reference_model():
    models = models_by_dataset(load_suite("converged"))
    image = {n for n in MODELS.names() if getattr(MODELS.get(n), "kind", "image") == "image"
             and not getattr(MODELS.get(n), "calibration", False)}
    text = {n for n in MODELS.names() if getattr(MODELS.get(n), "kind", "image") == "text"
            and not getattr(MODELS.get(n), "calibration", False)}
    # The DDPMs (~91 ms a step, 2 x 4,000 steps per dataset) fit the hour on `shapes` only, where
    # the oracle shows what they learn (header of suites/converged.toml).
    diffusion = {n for n in image if n.endswith("ddpm")}
    assert diffusion == {"ddpm", "cddpm"}
    assert models["shapes"] == image
    assert models["digits"] == image - diffusion
    assert models["facts"] == text


def test_smoke_suite_covers_controllability_on_both_oracle_worlds():
    models = models_by_dataset(load_suite("smoke"))
    assert any(is_conditional(m) for m in models["shapes"])
    assert any(is_conditional(m) for m in models["facts"])
