"""`random-cnn`: the domain CNN's architecture with seeded random weights and no training.

An explicitly named baseline: what any feature extractor must beat. Its features are random
projections after ReLUs, so FD on them mostly sees pixel statistics (brightness, contrast,
blur), not content. It needs no labels and no training, so it works for any images at once.
The weights follow from (seed, image shape) and their hash is in every signature. Its single logit
carries no classes, so class metrics (mode_coverage) say nothing on it.
"""
from __future__ import annotations

import torch

from ..runtime import array_hash
from .classifier import DomainCNN
from .extractor import FeatureExtractor


def random_cnn_extractor(dataset, device: str = "cpu", log=print, seed: int = 0) -> FeatureExtractor:
    with torch.random.fork_rng(devices=[]):  # torch's default init draws from the global generator
        torch.manual_seed(seed)
        model = DomainCNN(dataset.image_shape, 1)  # one logit: the weights depend on the image shape only
    weights_hash = array_hash(*[v.numpy() for _, v in sorted(model.state_dict().items())])
    return FeatureExtractor("random-cnn", weights_hash, model, metric_name="fd_random-cnn", device=device,
                            info={"seed": seed, "init": "torch default (Kaiming-uniform), untrained"})
