"""Is an extractor any good on this data? The calibration ordering, for every extractor.

The reference images are split in two halves, A and B (seeded). FD against B is computed for A
itself (real held-out images), A blurred by a Gaussian of sigma 1 and 2 pixels, and uniform noise
of A's shape. A useful extractor orders them

    FD(real) < FD(blur sigma 1) < FD(blur sigma 2) < FD(noise)

and separates them by large ratios to FD(real). Labelled extractors also report their held-out
accuracy (info["test_accuracy"]); this ordering is what judges an extractor without labels.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..metrics.fd import frechet_distance_from_features

DEGRADATIONS = ("real", "blur1", "blur2", "noise")


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 N x C x H x W blurred by a Gaussian of `sigma` pixels (kernel 2 ceil(3 sigma) + 1,
    reflected edges), rounded back to uint8."""
    from torchvision.transforms.functional import gaussian_blur as blur

    size = 2 * math.ceil(3 * sigma) + 1
    x = blur(torch.from_numpy(images).float(), [size, size], [sigma, sigma])
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def calibration_ordering(extractor, images: np.ndarray, seed: int = 0) -> dict:
    """{'fd': {degradation: FD}, 'ratios': {degradation: FD / FD(real)}, 'monotone', 'n', 'summary'}."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    half = len(images) // 2
    a, b = images[np.sort(order[:half])], images[np.sort(order[half:])]
    reference = extractor.extract(b)["features"]
    variants = {"real": a, "blur1": gaussian_blur(a, 1.0), "blur2": gaussian_blur(a, 2.0),
                "noise": rng.integers(0, 256, a.shape, dtype=np.uint8)}
    fd = {k: frechet_distance_from_features(extractor.extract(v)["features"], reference) for k, v in variants.items()}
    values = [fd[k] for k in DEGRADATIONS]
    monotone = all(x < y for x, y in zip(values, values[1:]))
    ratios = {k: fd[k] / fd["real"] if fd["real"] > 0 else None for k in DEGRADATIONS}  # None: JSON has no inf
    times = {k: "×n/a" if r is None else f"×{r:.3g}" for k, r in ratios.items()}  # n/a: FD(real) is 0
    summary = (f"FD real {fd['real']:.4g} < blur σ1 {times['blur1']} < σ2 {times['blur2']} < noise "
               f"{times['noise']} ({len(a)} vs {len(b)}): {'monotone' if monotone else 'NOT monotone'}")
    return {"fd": fd, "ratios": ratios, "monotone": monotone, "n": len(a), "summary": summary}
