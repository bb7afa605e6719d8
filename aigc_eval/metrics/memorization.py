"""Memorization: the share of samples that are closer to a training image than real data ever is.

Definition. Let d(x) be the Euclidean distance from image x to its nearest training image, in
pixel space (pixels scaled to [0, 1], all channels flattened). Let tau be the `quantile` (default
0.05) of d(r) over real held-out test images r. A sample g is *memorized* when d(g) < tau, and the
score is the share of memorized samples:

    memorization = mean over g of 1[d(g) < tau]

Calibration: held-out real images score ~`quantile` (that is what tau means), a model that copies
its training set scores 1, and a model that only makes things far from the training set scores 0.
So it is read against `quantile`: above it means samples sit closer to training images than
independent real images do.

Why pixel space by default: memorization means reproducing a training image, and a near-copy is
close in pixels whatever the feature extractor. The domain classifier was itself trained on the
training images, so its features pull training images together and would bias d toward copies of
them; pixel distances carry no such bias. `space="features"` uses the extractor's features instead
(better for large natural images, where small shifts move pixel distances a lot).

Cost is n x n_train distances for generated and test images alike, so both are capped at
`max_samples` images drawn with the eval seed.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .base import Metric
from .neighbours import as_tensor, nearest_distances, nearest_neighbours

SPACES = ("pixels", "features")


def pixel_vectors(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


@torch.no_grad()
def nearest_training(samples, real, train, quantile: float = 0.05, device: str = "cpu"):
    """(tau, d, index): the threshold tau, and each sample's distance d to its nearest training
    vector and that vector's index, for vectors of samples, real test images and train images."""
    train_t = as_tensor(train, device)
    tau = torch.quantile(nearest_distances(as_tensor(real, device), train_t).double(), quantile).item()
    d_samples, index = nearest_neighbours(as_tensor(samples, device), train_t)
    return tau, d_samples.double().cpu().numpy(), index.cpu().numpy()


def memorized_fraction(samples, real, train, quantile: float = 0.05, device: str = "cpu") -> float:
    """Share of samples with d < tau."""
    tau, d, _ = nearest_training(samples, real, train, quantile, device)
    return float(np.mean(d < tau))


class Memorization(Metric):
    name = "memorization"

    def __init__(self, quantile: float = 0.05, space: str = "pixels", max_samples: int = 2000, device: str = "cpu"):
        if not 0.0 < quantile < 1.0:
            raise UserError(f"memorization: expected 0 < quantile < 1, got {quantile}")
        if space not in SPACES:
            raise UserError(f"memorization: expected space in {SPACES}, got {space!r}")
        if max_samples < 1:
            raise UserError(f"memorization: expected max_samples >= 1, got {max_samples}")
        self.quantile = quantile
        self.space = space
        self.max_samples = max_samples
        self.device = device

    def needs_pixels(self, dataset_meta: dict) -> bool:
        return self.space == "pixels"

    def compute(self, eval_set):
        rng = np.random.default_rng(eval_set.seed)

        def subset(n):
            return np.sort(rng.choice(n, min(n, self.max_samples), replace=False))

        gen_idx, ref_idx = subset(eval_set.n_generated), subset(len(eval_set.reference))
        if self.space == "pixels":
            samples, real, train = (pixel_vectors(x) for x in (eval_set.generated[gen_idx],
                                                               eval_set.reference[ref_idx], eval_set.train))
        else:
            samples, real = eval_set.gen["features"][gen_idx], eval_set.ref["features"][ref_idx]
            train = eval_set.train_feats["features"]
        tau, d, nearest = nearest_training(samples, real, train, self.quantile, self.device)
        value = float(np.mean(d < tau))
        if eval_set.per_sample is not None:  # the samples outside the capped subset stay blank
            eval_set.add_per_sample(gen_idx, nearest_train_distance=d, nearest_train_index=nearest,
                                    memorized=d < tau)
        sig = eval_set.signature("memorization", q=self.quantile, space=self.space,
                                 n_mem=len(gen_idx), n_train=len(eval_set.train))
        return [self.score("memorization", value, sig, False,
                           f"Share of samples nearer (in {self.space}) to a training image than the "
                           f"{self.quantile:g}-quantile of real test images' nearest-training distance "
                           f"(~{self.quantile:g} for real data, 1 for copies; lower is better)")]
