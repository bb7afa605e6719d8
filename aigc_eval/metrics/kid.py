"""Kernel Inception Distance (Bińkowski et al. 2018), computed by torch-fidelity on our features.

KID is the unbiased MMD^2 between generated and real features under the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over `subsets` random subsets of `subset_size` points from
each side (torch-fidelity's `kid_features_to_metric`, so the numbers are its numbers). The subsets
are drawn with numpy's RandomState(eval seed), as torch-fidelity does with `rng_seed`.

The subset size is min(subset_size, n_gen, n_ref) (torch-fidelity raises instead), and the size
actually used is in the signature. Two scores: `kid` (the mean; small negative values are
legitimate and mean "indistinguishable") and `kid_std` (the standard deviation over subsets, a
measure of the estimate's own noise, not of quality).

`kid_std` has its own subset scheme, in its own signature: subsets of min(subset_size, n/2) of
each side (n the smaller side). When KID's subsets are as large as a whole side, every subset of
that side is the same set and their spread reads ~0 whatever the noise (0.0016 beside a KID of 153
with 180 vs 180 images), or measures one side only; half-size subsets differ on both sides. It is
dropped when a side has fewer than 4 samples.

Feature scale (`feat:` in the signature). The kernel's 1/d and +1 assume Inception's pool features
(non-negative, mean square ~0.1-0.3 per entry), where x.y/d stays below ~1. Raw features of other
extractors are far larger (the digits CNN's: KID -187 for real test images and 47,117 for a DCGAN),
and the cube blows them up. So for every extractor but Inception, generated and reference
features are multiplied by one factor c = 1 / sqrt(mean of the squared reference feature entries),
which makes the reference's mean square entry 1 (`feat:rms`); c depends on the reference set only,
so every model scored against it gets the same factor. Inception (`fid` extractors) keeps its raw
features (`feat:raw`), so KID there equals torch-fidelity's; `feature_scale="raw"` forces that on any
extractor.
"""
from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from ..errors import NotApplicable, UserError
from ..signature import UNCERTAINTY
from .base import Metric


def kernel_inception_distance(x, y, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """{'mean', 'std', 'subset_size', 'std_subset_size'} of polynomial-kernel MMD^2 between feature sets
    x and y; `std` is over subsets of `std_subset_size` (None when a side is too small for it)."""
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise NotApplicable(f"kid: needs at least 2 generated and 2 reference images, got {len(x)} and {len(y)}")
    out = kid_features_to_metric(torch.as_tensor(x), torch.as_tensor(y), kid_subsets=subsets,
                                 kid_subset_size=size, rng_seed=seed, verbose=False)
    result = {"mean": out[KEY_METRIC_KID_MEAN], "std": out[KEY_METRIC_KID_STD], "subset_size": size,
              "std_subset_size": size}
    std_size = min(subset_size, min(len(x), len(y)) // 2)
    if std_size != size:  # KID's subsets span a whole side: their spread is not the estimate's noise
        result["std_subset_size"] = std_size
        result["std"] = None
        if std_size >= 2:
            result["std"] = kid_features_to_metric(torch.as_tensor(x), torch.as_tensor(y), kid_subsets=subsets,
                                                   kid_subset_size=std_size, rng_seed=seed,
                                                   verbose=False)[KEY_METRIC_KID_STD]
    return result


class KernelInceptionDistance(Metric):
    name = "kid"

    SCALES = ("auto", "raw", "rms")

    def __init__(self, subsets: int = 100, subset_size: int = 1000, feature_scale: str = "auto"):
        if subsets < 1 or subset_size < 2:
            raise UserError(f"kid: expected subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
        if feature_scale not in self.SCALES:
            raise UserError(f"kid: feature_scale must be one of {', '.join(self.SCALES)}, got {feature_scale!r}")
        self.subsets = subsets
        self.subset_size = subset_size
        self.feature_scale = feature_scale

    def compute(self, eval_set):
        gen, ref = eval_set.gen["features"], eval_set.ref["features"]
        rule = self.feature_scale
        if rule == "auto":  # "fid" is Inception's FD name: its features are the ones the kernel was made for
            rule = "raw" if eval_set.extractor.metric_name == "fid" else "rms"
        if rule == "rms":
            mean_square = float(np.mean(np.square(ref, dtype=np.float64)))
            c = 1.0 / np.sqrt(mean_square) if mean_square > 0 else 1.0
            gen, ref = gen.astype(np.float64) * c, ref.astype(np.float64) * c
        kid = kernel_inception_distance(gen, ref, self.subsets, self.subset_size, eval_set.seed)
        sig = eval_set.signature("kid", subsets=self.subsets, subset_size=kid["subset_size"], feat=rule)
        scores = [self.score("kid", kid["mean"], sig, False,
                             f"Kernel distance (polynomial-kernel MMD^2) between {eval_set.extractor.name} features "
                             "of generated and real test images (lower is better; ~0 means indistinguishable)")]
        if kid["std"] is not None:
            std_sig = eval_set.signature("kid", subsets=self.subsets, subset_size=kid["std_subset_size"], feat=rule)
            scores.append(self.score(
                "kid_std", kid["std"], std_sig, False,
                f"Standard deviation of KID over {self.subsets} random subsets of {kid['std_subset_size']} images "
                "per side (the scheme is in the signature; at most half of each side, so that the subsets "
                "differ): the noise of the KID estimate, not a quality (lower is a more stable estimate)", UNCERTAINTY))
        return scores
