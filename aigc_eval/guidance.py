"""Guidance curves: what a conditional model's guidance scale trades, measured against the world's truth.

Classifier-free guidance (reference_models/ddpm.py, ConditionalDDPM) is the knob users tune by
hand: a larger scale w follows the request harder and gives less varied samples. On an oracle
world both sides are exact. For every scale the same requests are sampled with the same noise
(one seeded generator per scale), and the samples are scored four ways:

- controllability: the share of samples the oracle reads as valid and as exactly the requested
  combination (trained combinations only, as `controllability_trained`);
- hallucination rate: the share the oracle does not call valid;
- diversity: the Vendi score of the extractor's features (cosine kernel; the effective number of
  distinct samples, Friedman & Dieng 2023) and their mean pairwise distance;
- FD against the reference images' features on the same extractor.

This is the image counterpart of the text quality-diversity curve (BLEU against Self-BLEU over
sampling temperatures).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .metrics.diversity import mean_pairwise_distance
from .metrics.fd import frechet_distance_from_features
from .metrics.shapes_oracle import judge
from .metrics.vendi import vendi_of_features

DEFAULT_SCALES = (0.0, 1.0, 2.0, 4.0, 8.0)


def guidance_curve(model, requests: np.ndarray, world_meta: dict, extractor, reference_features: np.ndarray,
                   scales=DEFAULT_SCALES, seed: int = 0) -> list[dict]:
    """One row per guidance scale: scale, controllability, hallucination_rate, vendi,
    feature_diversity and fd. `model` has a dataclass `config` with a `guidance` field and
    sample(n, labels, generator); `requests` are labels of trained combinations."""
    if not dataclasses.is_dataclass(getattr(model, "config", None)) or \
            "guidance" not in {f.name for f in dataclasses.fields(model.config)}:
        raise ValueError(f"{type(model).__name__} has no guidance scale in its config")
    requests = np.asarray(requests, dtype=np.int64)
    if len(requests) < 2:
        raise ValueError("guidance_curve needs at least 2 requests")
    original = model.config
    rows = []
    try:
        for w in scales:
            model.config = dataclasses.replace(original, guidance=float(w))
            images = model.sample(len(requests), labels=requests,
                                  generator=torch.Generator().manual_seed(seed)).numpy()
            verdict = judge(images, world_meta)
            features = extractor.extract(images)["features"]
            rows.append({
                "scale": float(w),
                "controllability": float(np.mean(verdict.valid & (verdict.labels == requests))),
                "hallucination_rate": float(1 - verdict.valid.mean()),
                "vendi": vendi_of_features(features),
                "feature_diversity": mean_pairwise_distance(features, len(features), np.random.default_rng(seed)),
                "fd": frechet_distance_from_features(features, reference_features),
            })
    finally:
        model.config = original
    return rows
