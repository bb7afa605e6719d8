"""Conditional accuracy: does a conditional model draw the class it was asked for?

The share of samples whose domain-classifier argmax equals the requested label. Read it against
the classifier's own held-out accuracy (the ceiling: real test images score exactly that);
1/num_classes is chance. Unconditional models (no labels) and extractors that do not classify the
dataset's classes (Inception) get no score.

When the label is a tuple of factors (dataset meta `factor_sizes`, as in the shapes world),
`cond_factor_accuracy` also reads each factor from the classifier's marginal: the softmax summed
over every combination that shares the factor value. It is the classifier-side estimate of the
oracle's `factor_match`, and it credits a sample that shows the right colour in the wrong place,
which the all-or-nothing combination argmax does not (a 360-way argmax is near 0 for every
CPU-budget model on shapes).
"""
from __future__ import annotations

import numpy as np
from scipy.special import softmax

from .base import Metric
from .diversity import classifies_dataset, predicted_classes


class ConditionalAccuracy(Metric):
    name = "cond_accuracy"

    def compute(self, eval_set):
        if eval_set.labels is None or not classifies_dataset(eval_set):
            return []
        labels = np.asarray(eval_set.labels)
        if len(labels) != eval_set.n_generated:
            raise ValueError(f"cond_accuracy: {len(labels)} labels for {eval_set.n_generated} samples")
        accuracy = float((predicted_classes(eval_set.gen) == labels).mean())
        scores = [self.score("cond_accuracy", accuracy, eval_set.signature("cond_accuracy"), True,
                             "Share of samples the domain classifier assigns to the class they were conditioned on "
                             "(higher is better; the classifier's test accuracy is the ceiling)")]
        sizes = tuple(eval_set.dataset_meta.get("factor_sizes") or ())
        if len(sizes) > 1 and eval_set.gen["logits"].shape[1] == int(np.prod(sizes)):
            scores.append(self.score("cond_factor_accuracy", factor_accuracy(eval_set.gen["logits"], labels, sizes),
                                     eval_set.signature("cond_factor_accuracy"), True,
                                     "Share of requested factor values that the domain classifier's marginal over "
                                     "combinations recovers, averaged over factors (classifier estimate of "
                                     "factor_match)"))
        return scores


def factor_accuracy(logits: np.ndarray, labels: np.ndarray, factor_sizes: tuple[int, ...]) -> float:
    """Mean over samples and factors of: the factor value with the largest marginal probability
    (softmax summed over the other factors) is the requested one."""
    probs = softmax(logits.astype(np.float64), axis=1).reshape(len(logits), *factor_sizes)
    requested = np.unravel_index(labels.astype(np.int64), factor_sizes)
    hits = []
    for i in range(len(factor_sizes)):
        others = tuple(1 + j for j in range(len(factor_sizes)) if j != i)
        hits.append(probs.sum(axis=others).argmax(axis=1) == requested[i])
    return float(np.mean(hits))
