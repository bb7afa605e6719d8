"""Diversity of the samples: classes the domain classifier finds, and the spread of their features.

ModeCoverage (the classifier's argmax is each image's class):

* mode_coverage = share of the test set's classes that the samples reach. A class counts as
  reached when its share among the samples is at least MIN_RELATIVE_SHARE (0.1) times its share
  among the test images, so a few stray misclassifications do not count as a mode, while a model
  that covers a class at a tenth of its real frequency does.
* class_kl = KL(p_samples || p_test) in nats between the two predicted-class histograms, each
  smoothed by adding 1 to every class count (Laplace), so missing classes give a finite value.
  0 for the test set scored against itself.

FeatureDiversity: mean pairwise Euclidean distance between the samples' features, divided by the
same for the real test images, each over at most `max_samples` images drawn with the eval seed
(O(n^2) pairs; 1,000 images = 0.5 M pairs). 1 matches real diversity; below 1 is mode collapse;
above 1 means more spread than real data (noise scores high here, and badly on FD/precision).

ModeCoverage needs a classifier of the dataset's own classes; with an extractor that is not one
(Inception: `info["classifies_dataset"] = False`) it returns no scores.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .base import Metric

MIN_RELATIVE_SHARE = 0.1
LAPLACE_SMOOTHING = 1.0


def classifies_dataset(eval_set) -> bool:
    return eval_set.extractor.info.get("classifies_dataset", True)


def predicted_classes(features: dict) -> np.ndarray:
    return features["logits"].argmax(axis=1)


def class_histogram(classes: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(classes, minlength=num_classes).astype(np.float64)


def mode_coverage(sample_classes, test_classes, num_classes: int) -> tuple[float, float]:
    """(share of test classes reached, smoothed KL(samples || test)) of predicted class labels."""
    sample_counts = class_histogram(sample_classes, num_classes)
    test_counts = class_histogram(test_classes, num_classes)
    sample_share, test_share = sample_counts / sample_counts.sum(), test_counts / test_counts.sum()
    present = test_counts > 0
    reached = sample_share[present] >= MIN_RELATIVE_SHARE * test_share[present]
    p = (sample_counts + LAPLACE_SMOOTHING) / (sample_counts.sum() + LAPLACE_SMOOTHING * num_classes)
    q = (test_counts + LAPLACE_SMOOTHING) / (test_counts.sum() + LAPLACE_SMOOTHING * num_classes)
    return float(reached.mean()), float(np.sum(p * np.log(p / q)))


def mean_pairwise_distance(features: np.ndarray, max_samples: int, rng: np.random.Generator) -> float:
    if len(features) > max_samples:
        features = features[rng.choice(len(features), max_samples, replace=False)]
    return float(torch.pdist(torch.as_tensor(features, dtype=torch.float64)).mean())


class ModeCoverage(Metric):
    name = "mode_coverage"

    def compute(self, eval_set):
        if not classifies_dataset(eval_set):
            return []
        num_classes = eval_set.gen["logits"].shape[1]
        coverage, kl = mode_coverage(predicted_classes(eval_set.gen), predicted_classes(eval_set.ref), num_classes)
        sig = eval_set.signature("mode_coverage", min_rel_share=MIN_RELATIVE_SHARE, smooth=LAPLACE_SMOOTHING)
        return [
            self.score("mode_coverage", coverage, sig, True,
                       f"Share of the test set's classes the classifier finds among the samples (each at >= "
                       f"{MIN_RELATIVE_SHARE:g} x its real frequency; higher is better)"),
            self.score("class_kl", kl, sig, False,
                       "KL divergence (nats) of the samples' predicted-class histogram from the test set's, "
                       "add-one smoothed (lower is better)"),
        ]


class FeatureDiversity(Metric):
    name = "feature_diversity"

    def __init__(self, max_samples: int = 1000):
        if max_samples < 2:
            raise UserError(f"feature_diversity: expected max_samples >= 2, got {max_samples}")
        self.max_samples = max_samples

    def compute(self, eval_set):
        rng = np.random.default_rng(eval_set.seed)
        ratio = (mean_pairwise_distance(eval_set.gen["features"], self.max_samples, rng)
                 / mean_pairwise_distance(eval_set.ref["features"], self.max_samples, rng))
        sig = eval_set.signature("feature_diversity", max_samples=self.max_samples)
        return [self.score("feature_diversity", ratio, sig, True,
                           f"Mean pairwise {eval_set.extractor.name} feature distance of samples / that of real test "
                           "images (1 = real diversity, below 1 = mode collapse; higher is better up to ~1)")]
