"""Samples -> scores: draw a model's samples reproducibly and run metrics on them, for any track.

`run` (every cell and checkpoint) and `score` (samples from files) both score through
`evaluate_samples`; what differs between images and text is the dataset's track (tracks.py).
"""
from __future__ import annotations

import numpy as np
import torch

from ..metrics import build_metric
from ..signature import Score


def requested_labels(model, ctx, n: int, seed: int):
    """Balanced labels for conditional models (every class equally often, seeded order), else None.

    With fewer samples than classes the classes are evenly spaced over the label range: the shapes
    world's 180 default requests are every other of its 360 combinations, which asks for every
    factor value and for 13 of the 27 held-out combinations (the first 180 would ask for none).
    """
    if not model.conditional or not ctx.dataset.num_classes:
        return None
    classes = ctx.dataset.num_classes
    labels = np.arange(n) % classes if n >= classes else np.arange(n) * classes // n
    return np.random.default_rng([seed, 1]).permutation(labels).astype(np.int64)


def sample_model(model, ctx, n: int, seed: int, temperature: float | None = None):
    """n samples (uint8 N x C x H x W, or a list of str) and the labels they were asked for."""
    labels = requested_labels(model, ctx, n, seed)
    kwargs = {"labels": labels, "generator": torch.Generator().manual_seed(seed)}
    if temperature is not None:
        kwargs["temperature"] = temperature
    return ctx.track.check_samples(model.sample(n, **kwargs), n, ctx.dataset), labels


def evaluate_samples(names, ctx, samples, labels, seed: int, model=None, reconstructions=None,
                     options: dict | None = None, not_applicable: dict | None = None,
                     pairing: str | None = None, per_sample: dict | None = None) -> list[Score]:
    """Run metrics `names` on `samples`, each built with its `options` ({metric: {parameter: value}},
    a suite's [eval.options]). With a `model`, reconstruction and NLL metrics use it too;
    `reconstructions` given directly (score: paired files, `pairing` says how) take the place of the model's.
    not_applicable: a dict that collects {metric: reason} for metrics that cannot apply to these
    samples, while the others still run; without it such a metric raises (errors.NotApplicable).
    per_sample: a dict that collects per-sample columns of image metrics ({column: values}), for
    score --per-sample."""
    options = options or {}
    metrics = [build_metric(n, **options.get(n, {})) for n in names]
    return ctx.track.evaluate(metrics, ctx, samples, labels, seed, model=model, reconstructions=reconstructions,
                              not_applicable=not_applicable, pairing=pairing, per_sample=per_sample)
