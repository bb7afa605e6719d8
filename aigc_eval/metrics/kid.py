"""Kernel Inception Distance (Bińkowski et al. 2018), computed by torch-fidelity on our features.

KID is the unbiased MMD^2 between generated and real features under the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over `subsets` random subsets of `subset_size` points from
each side (torch-fidelity's `kid_features_to_metric`, so the numbers are its numbers). The subsets
are drawn with numpy's RandomState(eval seed), as torch-fidelity does with `rng_seed`.

The subset size is min(subset_size, n_gen, n_ref) (torch-fidelity raises instead), and the size
actually used is in the signature. Two scores: `kid` (the mean; small negative values are
legitimate and mean "indistinguishable") and `kid_std` (the standard deviation over subsets, a
measure of the estimate's own noise, not of quality).
"""
from __future__ import annotations

import torch
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from ..errors import UserError
from .base import Metric


def kernel_inception_distance(x, y, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """{'mean', 'std', 'subset_size'} of polynomial-kernel MMD^2 between feature sets x and y."""
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise UserError(f"kid: needs at least 2 generated and 2 reference images, got {len(x)} and {len(y)}")
    out = kid_features_to_metric(torch.as_tensor(x), torch.as_tensor(y), kid_subsets=subsets,
                                 kid_subset_size=size, rng_seed=seed, verbose=False)
    return {"mean": out[KEY_METRIC_KID_MEAN], "std": out[KEY_METRIC_KID_STD], "subset_size": size}


class KernelInceptionDistance(Metric):
    name = "kid"

    def __init__(self, subsets: int = 100, subset_size: int = 1000):
        if subsets < 1 or subset_size < 2:
            raise UserError(f"kid: expected subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
        self.subsets = subsets
        self.subset_size = subset_size

    def compute(self, eval_set):
        kid = kernel_inception_distance(eval_set.gen["features"], eval_set.ref["features"], self.subsets,
                                        self.subset_size, eval_set.seed)
        sig = eval_set.signature("kid", subsets=self.subsets, subset_size=kid["subset_size"])
        return [
            self.score("kid", kid["mean"], sig, False,
                       f"Kernel distance (polynomial-kernel MMD^2) between {eval_set.extractor.name} features "
                       "of generated and real test images (lower is better; ~0 means indistinguishable)"),
            self.score("kid_std", kid["std"], sig, False,
                       "Standard deviation of KID over its random subsets: the noise of the KID estimate "
                       "(lower is a more stable estimate)"),
        ]
