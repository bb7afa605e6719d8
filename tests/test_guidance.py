"""guidance_curve on the shapes world with a stand-in model whose label-following is known exactly."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from aigc_eval.guidance import guidance_curve
from aigc_eval.worlds.shapes import NUM_COMBINATIONS, get_world


@dataclass
class Config:
    guidance: float = 0.0


class FollowsWithGuidance:
    """Renders the requested combination for a share min(1, w / 4) of the samples and a random
    trained combination otherwise: every sample is a valid world object, so only controllability
    may move with the scale."""

    def __init__(self, world):
        self.world, self.config = world, Config()
        self.trained = np.setdiff1d(np.arange(NUM_COMBINATIONS), world.heldout_labels())

    def sample(self, n, labels, generator):
        rng = np.random.default_rng(generator.initial_seed())
        follow = rng.random(n) < min(1.0, self.config.guidance / 4)
        chosen = np.where(follow, labels, rng.choice(self.trained, n))
        return torch.from_numpy(self.world.sample(chosen, rng))


class PixelFeatures:
    def extract(self, images):
        return {"features": images.reshape(len(images), -1).astype(np.float32) / 255}


def test_controllability_follows_the_scale_and_the_model_config_is_restored():
    world = get_world(16, 6.0)
    model = FollowsWithGuidance(world)
    rng = np.random.default_rng(0)
    requests = rng.choice(model.trained, 200)
    reference = PixelFeatures().extract(world.sample(rng.choice(model.trained, 300), rng))["features"]
    rows = guidance_curve(model, requests, world.meta(), PixelFeatures(), reference, scales=(0, 2, 4, 8))
    assert [r["scale"] for r in rows] == [0.0, 2.0, 4.0, 8.0]
    control = [r["controllability"] for r in rows]
    assert control[0] < 0.05 and 0.35 < control[1] < 0.65 and control[2] == control[3] == 1.0, control
    assert all(r["hallucination_rate"] == 0.0 for r in rows)  # real renderings every time
    assert all(r["vendi"] > 1 and r["feature_diversity"] > 0 and r["fd"] > 0 for r in rows)
    assert model.config.guidance == 0.0


def test_a_model_without_a_guidance_scale_is_refused():
    class NoKnob:
        config = None

    with pytest.raises(ValueError, match="NoKnob has no guidance scale"):
        guidance_curve(NoKnob(), [1, 2], {}, PixelFeatures(), np.zeros((2, 3)))
