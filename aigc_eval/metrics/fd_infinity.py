"""FD-infinity (Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where to find
them", CVPR 2020): the Fréchet distance extrapolated to an infinite number of generated samples.

FD computed from N samples is biased, E[FD_N] = FD_inf + k/N + O(1/N^2), and the constant k
depends on the generator, so two models can swap ranks at a fixed N. The paper's estimator:

1. compute FD_N for `num_points` = 15 sample sizes N evenly spaced in [N_min, N_max]
   (np.linspace(N_min, N_max, 15).astype(int)), each on a fresh random subset of the generated
   features, drawn without replacement, against fixed reference statistics (mean and covariance of
   all the real features: the reference side is not subsampled);
2. fit FD_N = FD_inf + slope / N by ordinary least squares;
3. report the intercept FD_inf.

Reference code (mchong6/FID_IS_infinity, score_infinity.py `calculate_FID_infinity`): N_min = 5000,
N_max = 50,000, 15 points, np.random.shuffle of the activations for every N, sklearn
LinearRegression on 1/N. Here: N_max defaults to all generated samples and N_min to N_max // 10
(the paper's 5,000 of 50,000); the subsets come from np.random.default_rng(seed), so the result is
deterministic per seed; the FD of every subset is aigc_eval.metrics.fd's exact float64
`frechet_distance` of `covariance(subset)` against the reference statistics.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NotApplicable
from .base import Metric, as_float64
from .fd import covariance, frechet_distance

NUM_POINTS = 15  # the paper's code


@dataclass(frozen=True)
class FDInfinity:
    """FD_inf and the fit it came from: FD_N ~= fd_infinity + slope / N over `sizes`."""

    fd_infinity: float
    slope: float
    sizes: tuple[int, ...]
    fds: tuple[float, ...]
    seed: int

    @property
    def fd_at_max(self) -> float:
        """The plain FD of the largest subset (all generated samples when n_max is the default)."""
        return self.fds[-1]

    def predict(self, n) -> float:
        return self.fd_infinity + self.slope / n


def fit_inverse_n(sizes, values) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line values ~ intercept + slope / sizes."""
    sizes, values = as_float64(sizes), as_float64(values)
    if sizes.ndim != 1 or sizes.shape != values.shape or len(np.unique(sizes)) < 2:
        raise ValueError(f"fit_inverse_n: needs >= 2 distinct sizes and one value each, got {sizes.shape}, {values.shape}")
    if (sizes <= 0).any() or not np.isfinite(values).all():
        raise ValueError("fit_inverse_n: sizes must be positive and values finite")
    design = np.stack([np.ones_like(sizes), 1.0 / sizes], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(intercept), float(slope)


def _reference_statistics(reference):
    if isinstance(reference, tuple):
        if len(reference) != 2:
            raise ValueError("fd_infinity: reference statistics must be a (mu, sigma) pair")
        mu, sigma = map(as_float64, reference)
        if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
            raise ValueError(f"fd_infinity: reference mu must be (d,) and sigma (d, d), got {mu.shape}, {sigma.shape}")
        return mu, sigma
    features = as_float64(reference)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"fd_infinity: reference features must be an n x d matrix with n >= 2, got {features.shape}")
    return covariance(features)


def fd_infinity(generated, reference, n_min: int | None = None, n_max: int | None = None,
                num_points: int = NUM_POINTS, seed: int = 0) -> FDInfinity:
    """FD_inf of generated features (n x d) against reference features (m x d) or (mu, sigma).

    n_max: the largest subset (default: all n generated samples); n_min: the smallest (default
    n_max // 10, at least 2); num_points: how many sizes, evenly spaced (default 15).
    """
    x = as_float64(generated)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"fd_infinity: generated features must be an n x d matrix with n >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("fd_infinity: generated features have NaN or infinite entries")
    mu_ref, sigma_ref = _reference_statistics(reference)
    if mu_ref.shape != (x.shape[1],):
        raise ValueError(f"fd_infinity: generated features are {x.shape[1]}-d, reference statistics {mu_ref.shape[0]}-d")
    n_max = len(x) if n_max is None else int(n_max)
    n_min = max(n_max // 10, 2) if n_min is None else int(n_min)
    if not 2 <= n_min < n_max <= len(x):
        raise ValueError(f"fd_infinity: need 2 <= n_min < n_max <= {len(x)} generated samples, got n_min={n_min}, n_max={n_max}")
    if isinstance(num_points, bool) or int(num_points) != num_points or num_points < 2:
        raise ValueError(f"fd_infinity: num_points must be an integer >= 2, got {num_points!r}")
    sizes = np.unique(np.linspace(n_min, n_max, int(num_points)).astype(np.int64))
    rng = np.random.default_rng(seed)
    fds = []
    for size in sizes:
        subset = x[rng.permutation(len(x))[:size]]
        fds.append(frechet_distance(*covariance(subset), mu_ref, sigma_ref))
    intercept, slope = fit_inverse_n(sizes, fds)
    return FDInfinity(intercept, slope, tuple(int(s) for s in sizes), tuple(fds), seed)


class FrechetDistanceInfinity(Metric):
    """FD-infinity of the extractor's features: FD at `num_points` subset sizes from n_gen // 10 to
    n_gen, extrapolated linearly in 1/N to N = infinity. Named "<fd name>_inf" (fid_inf, fd_digits-cnn_inf).
    Works from reference features or a statistics file."""

    name = "fd_infinity"
    reads_reference_stats = True
    MIN_GENERATED = 20  # n_min = n // 10 must be >= 2

    def __init__(self, num_points: int = NUM_POINTS):
        self.num_points = num_points

    def compute(self, eval_set):
        gen, stats = eval_set.gen["features"], eval_set.reference_stats
        if len(gen) < self.MIN_GENERATED:
            raise NotApplicable(f"fd_infinity: needs at least {self.MIN_GENERATED} generated images (FD at sizes "
                                f"from n/10 to n), got {len(gen)}")
        reference = eval_set.ref["features"] if stats is None else (stats.mean, stats.cov)
        fit = fd_infinity(gen, reference, num_points=self.num_points, seed=eval_set.seed)
        sig = eval_set.signature("fd_infinity", points=len(fit.sizes), n_min=fit.sizes[0], n_max=fit.sizes[-1],
                                 fit="lstsq-1/n")
        return [self.score(f"{eval_set.extractor.metric_name}_inf", fit.fd_infinity, sig, False,
                           f"FD-infinity (Chong & Forsyth 2020): FD of {eval_set.extractor.name} features at "
                           f"{len(fit.sizes)} generated subset sizes, extrapolated linearly in 1/N to N = infinity, "
                           "free of FD's sample-size bias (lower is better)")]
