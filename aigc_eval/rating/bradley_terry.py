"""Bradley–Terry strengths from pairwise votes: a documented MAP fit, bootstrap intervals, and the
standard error of an order, which the pair chooser reads.

The model: item i beats item j with probability sigma(theta_i - theta_j), sigma the logistic
function, so theta_i - theta_j is the log-odds that people prefer i to j. A comparison is
(i, j, w) with w the share of the win that went to i: 1 (i won), 0 (j won) or 1/2 (a tie: "can't
tell" and "both bad", as Chatbot Arena counts them). The fit maximises

    sum_k  c_k * [ w_k log sigma(d_k) + (1 - w_k) log sigma(-d_k) ]  -  alpha/2 * |theta|^2,
    d_k = theta_i_k - theta_j_k,  c_k the comparison's weight (1; a bootstrap resample count),

a concave function (strictly, for alpha > 0), by scipy's Newton-CG with the exact gradient and
Hessian. The Gaussian prior alpha keeps the strength of an item that won every vote finite (the
plain MLE is then infinite); at alpha = 0 the result is the MLE, centred to mean 0. With alpha > 0
the optimum has sum(theta) = 0 by itself (every comparison adds +g to one item and -g to the
other). `choix` (PyPI) fits the same likelihood without ties or weights; the tests check that the
two agree where both apply. Hand-written because the votes carry ties and the bootstrap wants
weights, which choix's pairwise fits do not take.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

DEFAULT_ALPHA = 0.1  # prior variance 10 logits^2: a 95% prior range of odds of about 1:500 either way
DEFAULT_BOOT = 1000


@dataclass(frozen=True)
class Comparisons:
    """Pairwise outcomes among n_items: arrays i, j (item indices) and w (i's share of the win)."""

    n_items: int
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray

    @classmethod
    def from_list(cls, n_items: int, outcomes) -> "Comparisons":
        """outcomes: (i, j, w) triples."""
        arr = np.asarray(list(outcomes), dtype=np.float64).reshape(-1, 3)
        i, j = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
        if len(arr) and (i.min() < 0 or j.min() < 0 or max(i.max(), j.max()) >= n_items or (i == j).any()):
            raise ValueError(f"comparisons must pair two different items among {n_items}")
        if ((arr[:, 2] < 0) | (arr[:, 2] > 1)).any():
            raise ValueError("a comparison's win share must lie in [0, 1]")
        return cls(n_items, i, j, arr[:, 2])

    def __len__(self) -> int:
        return len(self.i)


def fit(comparisons: Comparisons, alpha: float = DEFAULT_ALPHA, weights: np.ndarray | None = None,
        start: np.ndarray | None = None) -> np.ndarray:
    """The MAP log-strengths theta (mean 0). alpha = 0 needs a connected comparison graph in which
    every item both won and lost something (else the MLE does not exist). start: where Newton
    starts (default 0); the optimum does not depend on it."""
    n, i, j, w = comparisons.n_items, comparisons.i, comparisons.j, comparisons.w
    c = np.ones(len(i)) if weights is None else np.asarray(weights, np.float64)
    ridge = alpha if alpha > 0 else 1e-12  # alpha 0: a vanishing ridge fixes the free shift only

    def objective(theta):
        d = theta[i] - theta[j]
        loss = -np.sum(c * (w * log_expit(d) + (1 - w) * log_expit(-d))) + ridge / 2 * theta @ theta
        g = c * (expit(d) - w)  # d loss / d d_k
        grad = np.bincount(i, g, n) - np.bincount(j, g, n) + ridge * theta
        return loss, grad

    def hessp(theta, v):
        d = theta[i] - theta[j]
        h = c * expit(d) * expit(-d) * (v[i] - v[j])
        return np.bincount(i, h, n) - np.bincount(j, h, n) + ridge * v

    result = minimize(objective, np.zeros(n) if start is None else start, jac=True, hessp=hessp, method="Newton-CG",
                      options={"xtol": 1e-10, "maxiter": 1000})
    theta = result.x
    return theta - theta.mean()


def fisher_covariance(comparisons: Comparisons, theta: np.ndarray, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """The inverse of the observed information (with the prior) at theta: the Laplace approximation
    of theta's posterior covariance. Cheap, for choosing pairs; the reported intervals bootstrap."""
    n, i, j = comparisons.n_items, comparisons.i, comparisons.j
    d = theta[i] - theta[j]
    h = expit(d) * expit(-d)
    info = np.zeros((n, n))
    np.add.at(info, (i, i), h)
    np.add.at(info, (j, j), h)
    np.add.at(info, (i, j), -h)
    np.add.at(info, (j, i), -h)
    info += max(alpha, 1e-6) * np.eye(n)
    return np.linalg.inv(info)


def bootstrap(comparisons: Comparisons, summarize, n_boot: int = DEFAULT_BOOT, alpha: float = DEFAULT_ALPHA,
              seed: int = 0, parametric: bool = False) -> np.ndarray:
    """summarize(theta) -> vector, for n_boot resamples: an n_boot x len(summary) array.
    Deterministic for a seed. Nonparametric: the comparisons resampled with replacement (as
    multinomial counts used as weights), which keeps whatever the raters did beyond the model but
    cannot vary a pair whose votes all went one way. Parametric: every decisive vote redrawn from
    the fit (i wins with probability sigma(theta_i - theta_j)), ties kept, which can."""
    rng = np.random.default_rng(seed)
    m = len(comparisons)
    start = fit(comparisons, alpha)  # resamples land near the full fit: fewer Newton steps
    if parametric:
        p = expit(start[comparisons.i] - start[comparisons.j])
        decisive = comparisons.w != 0.5
        redrawn = (dataclasses.replace(comparisons, w=np.where(decisive, rng.random(m) < p, comparisons.w))
                   for _ in range(n_boot))
        return np.array([summarize(fit(c, alpha, start=start)) for c in redrawn])
    draws = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot)
    return np.array([summarize(fit(comparisons, alpha, weights=counts, start=start)) for counts in draws])


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Columnwise percentile interval of bootstrap samples: a 2 x k array (low, high)."""
    return np.quantile(samples, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
