"""Conditional accuracy: does a conditional model draw the class it was asked for?

The share of samples whose domain-classifier argmax equals the requested label. Read it against
the classifier's own held-out accuracy (the ceiling: real test images score exactly that);
1/num_classes is chance. Unconditional models (no labels) and extractors that do not classify the
dataset's classes (Inception) get no score.
"""
from __future__ import annotations

import numpy as np

from .base import Metric
from .diversity import classifies_dataset, predicted_classes


class ConditionalAccuracy(Metric):
    name = "cond_accuracy"

    def compute(self, eval_set):
        if eval_set.labels is None or not classifies_dataset(eval_set):
            return []
        labels = np.asarray(eval_set.labels)
        if len(labels) != len(eval_set.generated):
            raise ValueError(f"cond_accuracy: {len(labels)} labels for {len(eval_set.generated)} samples")
        accuracy = float((predicted_classes(eval_set.gen) == labels).mean())
        return [self.score("cond_accuracy", accuracy, eval_set.signature("cond_accuracy"), True,
                           "Share of samples the domain classifier assigns to the class they were conditioned on "
                           "(higher is better; the classifier's test accuracy is the ceiling)")]
