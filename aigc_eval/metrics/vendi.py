"""Vendi score (Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine
Learning", TMLR 2023): the effective number of distinct samples.

For n samples and a positive semi-definite similarity kernel K with K_ii = 1,

    VS(K) = exp( -sum_i lambda_i log lambda_i ),   lambda_i the eigenvalues of K / n, 0 log 0 = 0

(the exponential of the von Neumann entropy of K/n; the lambda_i are >= 0 and sum to tr(K)/n = 1).
n identical samples give 1, n mutually orthogonal ones (K = I) give n. The reference
implementation is vertaix/Vendi-Score (PyPI `vendi-score` 0.0.3), whose README gives two
published values that tests/test_vendi.py checks: samples [0, 0, 10, 10, 20, 20] with
k(a, b) = exp(-|a - b|) give 2.9999, and K = [[1, .9, 0], [.9, 1, 0], [0, 0, 1]] gives 2.1573.

Three entry points, features -> kernel -> score:

* `vendi_from_kernel(K)`: any n x n PSD similarity matrix with unit diagonal.
* `vendi_of_features(x, kernel="cosine")`: the default kernel is the cosine similarity of the
  rows (L2-normalised dot product), the library's `score_X`/`score_dual` default for embeddings.
  For a linear kernel K = X X^T the non-zero eigenvalues of X X^T / n are those of X^T X / n, so
  the d x d "dual" matrix is used when d < n (n=5000, d=128: a 128 x 128 eigenproblem instead of
  5000 x 5000). `kernel="rbf"` uses exp(-|a - b|^2 / (2 sigma^2)) with sigma given, or
  sigma="median" (the median pairwise distance, Gretton et al. 2012's heuristic); it needs the
  n x n matrix (O(n^3): ~30 s at n=5000 on one core).
* `vendi_of_ngrams(sentences, n)`: the kernel is the cosine similarity of the sentences' n-gram
  count vectors, as the paper's text experiments (the library's `ngram_vendi_score`, which
  averages the kernels over n = 1..4; pass a tuple of orders for that). Tokens come from
  aigc_eval.tokenize ("space" or "char"). A sentence with no n-gram of that order (shorter than
  n tokens) has a zero count vector; it is counted as a distinct item (similarity 1 with itself,
  0 with everything else). The library leaves its diagonal at 0, which is not a valid Vendi kernel.
  With one order and a vocabulary smaller than the number of sentences, the V x V dual matrix is
  used, as for features; otherwise the n x n kernel (O(n^3): ~30 s at n=5000 on one core).
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import scipy.sparse

from ..errors import UserError
from ..tokenize import tokenize
from .base import Metric, as_float64

_KERNELS = ("cosine", "linear", "rbf")


def _entropy_exp(eigenvalues: np.ndarray) -> float:
    """exp(-sum p log p) of eigenvalues that should sum to 1 (rounding negatives clipped to 0)."""
    p = np.clip(eigenvalues, 0.0, None)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def vendi_from_kernel(K) -> float:
    """Vendi score of an n x n symmetric PSD similarity matrix with unit diagonal."""
    K = as_float64(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"vendi_from_kernel: K must be a non-empty square matrix, got shape {K.shape}")
    if not np.isfinite(K).all():
        raise ValueError("vendi_from_kernel: K has NaN or infinite entries")
    if not np.allclose(K, K.T, rtol=0, atol=1e-8):
        raise ValueError("vendi_from_kernel: K is not symmetric (max |K - K^T| "
                         f"{np.abs(K - K.T).max():.3g})")
    if not np.allclose(np.diagonal(K), 1.0, rtol=0, atol=1e-6):
        raise ValueError("vendi_from_kernel: K must have a unit diagonal (k(x, x) = 1); "
                         f"diagonal ranges {np.diagonal(K).min():.6g}..{np.diagonal(K).max():.6g}")
    return _entropy_exp(np.linalg.eigvalsh(K / len(K)))


def _linear_vendi(x: np.ndarray) -> float:
    """Vendi of K = x x^T (rows of unit norm), through whichever of x x^T, x^T x is smaller."""
    n, d = x.shape
    gram = x.T @ x if d < n else x @ x.T
    return _entropy_exp(np.linalg.eigvalsh(gram / n))


def squared_distances(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """|x_i - y_j|^2 for all pairs (y = x when None) by |x|^2 + |y|^2 - 2 x.y, clipped at 0; the
    diagonal of the x-vs-x matrix is set to exactly 0."""
    same = y is None
    y = x if same else y
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    np.clip(d2, 0.0, None, out=d2)
    if same:
        np.fill_diagonal(d2, 0.0)
    return d2


def _median_distance(x: np.ndarray) -> float:
    return float(np.sqrt(np.median(squared_distances(x)[np.triu_indices(len(x), 1)])))


def vendi_of_features(x, kernel: str = "cosine", sigma: float | str | None = None) -> float:
    """Vendi score of the rows of an n x d feature matrix.

    kernel: "cosine" (default; rows L2-normalised, then dot products), "linear" (x x^T as given;
    the rows must already have unit norm) or "rbf" (exp(-|a-b|^2 / (2 sigma^2)); sigma a positive
    number or "median" for the median pairwise distance).
    """
    x = as_float64(x)
    if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
        raise ValueError(f"vendi_of_features: x must be a non-empty n x d matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("vendi_of_features: x has NaN or infinite entries")
    if kernel not in _KERNELS:
        raise ValueError(f"vendi_of_features: unknown kernel {kernel!r}; valid: {', '.join(_KERNELS)}")
    if kernel != "rbf" and sigma is not None:
        raise ValueError(f"vendi_of_features: sigma applies to kernel='rbf' only, not {kernel!r}")
    norms = np.linalg.norm(x, axis=1)
    if kernel == "cosine":
        if (norms == 0).any():
            raise ValueError(f"vendi_of_features: {int((norms == 0).sum())} rows are all zero; "
                             "the cosine kernel is undefined for them")
        return _linear_vendi(x / norms[:, None])
    if kernel == "linear":
        if not np.allclose(norms, 1.0, rtol=0, atol=1e-6):
            raise ValueError("vendi_of_features: kernel='linear' needs rows of unit norm "
                             f"(norms range {norms.min():.6g}..{norms.max():.6g}); use kernel='cosine'")
        return _linear_vendi(x)
    if sigma is None:
        raise ValueError("vendi_of_features: kernel='rbf' needs sigma (a positive number or 'median')")
    if isinstance(sigma, str):
        if sigma != "median":
            raise ValueError(f"vendi_of_features: sigma must be a positive number or 'median', got {sigma!r}")
        sigma = _median_distance(x) if len(x) > 1 else 1.0
        if sigma == 0:
            return 1.0  # more than half the pairs coincide: the median heuristic gives no scale
    if not (isinstance(sigma, (int, float, np.floating)) and np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"vendi_of_features: sigma must be a positive number or 'median', got {sigma!r}")
    K = np.exp(-squared_distances(x) / (2.0 * float(sigma) ** 2))
    return _entropy_exp(np.linalg.eigvalsh(K / len(K)))


def ngram_counts(sentences, n: int, mode: str = "space") -> scipy.sparse.csr_matrix:
    """Sparse len(sentences) x V matrix of n-gram counts (columns in first-seen order)."""
    index: dict[tuple, int] = {}
    rows, cols, vals = [], [], []
    for i, sentence in enumerate(sentences):
        tokens = tokenize(sentence, mode)
        counts = Counter(tuple(tokens[j:j + n]) for j in range(len(tokens) - n + 1))
        for gram, count in counts.items():
            rows.append(i)
            cols.append(index.setdefault(gram, len(index)))
            vals.append(count)
    return scipy.sparse.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)),
                                   shape=(len(sentences), max(len(index), 1)))


def _unit_ngram_rows(sentences, n: int, mode: str) -> tuple[scipy.sparse.csr_matrix, int]:
    """(n-gram count rows scaled to unit norm, how many sentences have no n-gram: zero rows)."""
    counts = ngram_counts(sentences, n, mode)
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    scaled = scipy.sparse.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)) @ counts
    return scipy.sparse.csr_matrix(scaled), int((norms == 0).sum())


def ngram_cosine_kernel(sentences, n: int, mode: str = "space") -> np.ndarray:
    """n x n cosine similarity of n-gram count vectors; a sentence without n-grams is similar to itself only."""
    scaled, _ = _unit_ngram_rows(sentences, n, mode)
    K = (scaled @ scaled.T).toarray()
    K[np.diag_indices_from(K)] = 1.0  # exactly 1, and 1 for sentences without n-grams
    return K


def vendi_of_ngrams(sentences, n: int | tuple[int, ...] = 1, mode: str = "space") -> float:
    """Vendi score of sentences under the cosine similarity of their n-gram count vectors.

    n: one order, or a tuple of orders whose kernels are averaged (the library's
    ngram_vendi_score uses (1, 2, 3, 4)). mode: aigc_eval.tokenize mode, "space" or "char".
    """
    if isinstance(sentences, str):
        raise ValueError("vendi_of_ngrams: sentences must be a list of strings, not one string")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("vendi_of_ngrams: needs at least one sentence")
    if not all(isinstance(s, str) for s in sentences):
        raise ValueError("vendi_of_ngrams: every sentence must be a string")
    orders = (n,) if isinstance(n, (int, np.integer)) else tuple(n)
    if not orders or not all(isinstance(o, (int, np.integer)) and not isinstance(o, bool) and o >= 1 for o in orders):
        raise ValueError(f"vendi_of_ngrams: n must be a positive integer or a tuple of them, got {n!r}")
    if len(orders) == 1:
        scaled, empty = _unit_ngram_rows(sentences, int(orders[0]), mode)
        if scaled.shape[1] + empty < len(sentences):
            # dual route: the non-zero eigenvalues of X X^T / n are those of X^T X / n (V x V, V the
            # n-gram vocabulary), and each sentence without n-grams adds an eigenvalue 1/n of its own
            gram = (scaled.T @ scaled).toarray() / len(sentences)
            return _entropy_exp(np.concatenate([np.linalg.eigvalsh(gram), np.full(empty, 1.0 / len(sentences))]))
    K = sum(ngram_cosine_kernel(sentences, int(o), mode) for o in orders) / len(orders)
    return vendi_from_kernel(K)


class VendiScore(Metric):
    """Vendi score of the generated images' features (cosine kernel): their effective number of
    distinct samples, 1..n_gen (higher is more diverse)."""

    name = "vendi"

    def compute(self, eval_set):
        value = vendi_of_features(eval_set.gen["features"], kernel="cosine")
        return [self.score("vendi", value, eval_set.signature("vendi", kernel="cosine"), True,
                           f"Vendi score (Friedman & Dieng 2023) of {eval_set.extractor.name} features of the generated "
                           "images, cosine kernel: the effective number of distinct samples, 1..n_gen (higher is "
                           "more diverse; grows with n_gen)")]


class NgramVendiScore(Metric):
    """Vendi score of the generated sentences under the cosine similarity of their n-gram counts."""

    name = "vendi_ngram"
    kind = "text"

    def __init__(self, order: int = 2):
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise UserError(f"vendi_ngram: expected a positive integer order, got {order!r}")
        self.order = order

    def compute(self, eval_set):
        value = vendi_of_ngrams(eval_set.generated, self.order, eval_set.tokenize)
        return [self.score(f"vendi_ngram{self.order}", value,
                           eval_set.signature(self.name, libs=(), order=self.order, kernel="cosine"), True,
                           f"Vendi score of the generated sentences under the cosine similarity of their "
                           f"{self.order}-gram counts: the effective number of distinct sentences (higher is more "
                           "diverse; grows with n_gen)")]
